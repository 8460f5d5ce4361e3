"""losses-sae through losses-core, for every loss: registration under the
package's own entry point (names, aliases, provider, one loss per module),
declared inputs and no ``*_key`` parameter, YAML config, registry calls,
gradients, torch.compile, pickling, error messages and conformance."""

from __future__ import annotations

import importlib
import inspect
import pickle
from importlib.metadata import entry_points

import pytest
import torch
import yaml

import losses_sae
from losses_core import (
    LOSSES,
    ConfigError,
    LossInputError,
    LossParameterError,
    MissingInputError,
    list_losses,
    loss_from_config,
    resolve_loss,
)
from losses_core.testing import assert_conforms, check_manifest, loss_names

# registered name -> (module, function name, aliases)
REGISTERED = {
    "SAELoss": ("sae_loss", "sae_loss", ("sae_loss", "sae_l1")),
    "sae_l1_decoder_norm": ("sae_l1_decoder_norm", "sae_l1_decoder_norm", ("sae_april_update",)),
    "topk_auxk": ("topk_auxk", "topk_auxk", ("topk_sae", "auxk")),
    "multi_topk": ("multi_topk", "multi_topk", ("multi_topk_sae",)),
    "batch_topk": ("batch_topk", "batch_topk", ("batch_topk_sae",)),
    "jumprelu": ("jumprelu", "jumprelu", ("jumprelu_sae",)),
    "jumprelu_target_l0": ("jumprelu_target_l0", "jumprelu_target_l0", ("jumprelu_sae_target_l0",)),
    "gated_sae": ("gated_sae", "gated_sae", ("gated_sae_loss",)),
    "matryoshka": ("matryoshka", "matryoshka", ("matryoshka_sae",)),
    "ghost_grads": ("ghost_grads", "ghost_grads", ("ghost_grads_sae",)),
}
NAMES = list(REGISTERED)

BAD_PARAMETERS = {
    "SAELoss": ("sparsity_weight", -1.0),
    "sae_l1_decoder_norm": ("reconstruction", "l2"),
    "topk_auxk": ("normalize", "variance"),
    "multi_topk": ("k", 0),
    "batch_topk": ("k_aux", 0),
    "jumprelu": ("mode", "sigmoid"),
    "jumprelu_target_l0": ("target_l0", 0.0),
    "gated_sae": ("aux_weight", -0.5),
    "matryoshka": ("group_sizes", [1]),
    "ghost_grads": ("ghost_weight", -1.0),
}


def _function(name):
    module, function, _ = REGISTERED[name]
    return getattr(importlib.import_module(f"losses_sae.{module}"), function)


def _example(name, batch_size=2, dtype=torch.float32):
    torch.manual_seed(0)
    return LOSSES[name].entry.example_inputs(batch_size, dtype)


def _grad_leaves(model_output):
    return {k: v for k, v in model_output.items() if isinstance(v, torch.Tensor) and v.requires_grad}


def test_the_entry_point_names_the_packages_manifest():
    (point,) = [ep for ep in entry_points(group="losses.plugins") if ep.name == "losses-sae"]
    assert point.value == "losses_sae:losses.json"
    assert point.module == "losses_sae"


def test_the_manifest_matches_the_code():
    assert check_manifest("losses-sae") == []


def test_every_loss_is_registered_under_its_name_aliases_and_provider():
    provided = {info.name for info in list_losses() if info.provider == "losses-sae"}
    assert provided == set(REGISTERED)
    assert sorted(loss_names(distribution="losses-sae")) == sorted(f"{n}@losses-sae" for n in NAMES)
    for name, (module, function_name, aliases) in REGISTERED.items():
        function = _function(name)
        handle = LOSSES[name]
        assert handle.function is function
        assert handle.provider == "losses-sae"
        assert set(handle.entry.aliases) == set(aliases)
        # one loss per module: module, function and registered name agree (SAELoss is the contract name)
        assert function.__module__ == f"losses_sae.{module}"
        assert function.__name__ == function_name == module
        assert getattr(losses_sae, function_name) is function
        assert ".. math::" in (function.__doc__ or "")
        assert callable(getattr(importlib.import_module(f"losses_sae.{module}"), f"{function_name}_example"))
        for alias in aliases:
            assert LOSSES[alias].function is function


@pytest.mark.parametrize("name", NAMES)
def test_no_parameter_ends_with_key_and_inputs_are_declared(name):
    function = _function(name)
    parameters = inspect.signature(function).parameters
    assert not [p for p in parameters if p.endswith("_key")]
    assert not [p for p in inspect.signature(function.compute).parameters if p.endswith("_key")]
    assert "keys" in parameters  # callers map their own key names with keys=
    compute = inspect.signature(function.compute).parameters.values()
    declared = [p.name for p in compute if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert {"activations", "latents"} <= set(declared)


@pytest.mark.parametrize("name", NAMES)
def test_loss_from_yaml_config_in_both_shapes(name, tmp_path):
    model_output, targets, params = _example(name)
    direct = _function(name)(model_output, targets, **params)["loss"]
    class_style = tmp_path / "class.yaml"
    class_style.write_text(yaml.safe_dump({"loss": {"class": name, "params": params}}))
    sections_style = tmp_path / "sections.yaml"
    sections = {"train": {"loss": {"type": name, "kwargs": params}}, "val": {"loss": {"type": name}}}
    sections_style.write_text(yaml.safe_dump(sections))
    for loss_fn in (loss_from_config(class_style), loss_from_config(sections_style, section="train")):
        result = loss_fn(model_output, targets)
        torch.testing.assert_close(result["loss"], direct)
        assert set(result) == {"loss", "metrics", "auxiliary"}
    assert torch.isfinite(loss_from_config(sections_style, section="val")(model_output, targets)["loss"])
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"loss": {"class": name, "params": {"sparsity_wieght": 0.1}}}))
    with pytest.raises(ConfigError, match="sparsity_wieght"):
        loss_from_config(typo)


@pytest.mark.parametrize("name", NAMES)
def test_registry_calls_return_the_0dim_loss(name):
    model_output, targets, params = _example(name)
    direct = _function(name)(model_output, targets, **params)["loss"]
    value = LOSSES[name](model_output, targets, **params)
    assert isinstance(value, torch.Tensor) and value.ndim == 0
    torch.testing.assert_close(value, direct)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("batch_size", "dtype"), [(1, torch.float64), (3, torch.bfloat16)])
def test_backpropagates_finite_gradients(name, batch_size, dtype):
    model_output, targets, params = _example(name, batch_size, dtype)
    result = resolve_loss(name, **params)(model_output, targets)
    assert result["loss"].ndim == 0 and result["loss"].dtype == dtype
    result["loss"].backward()
    leaves = _grad_leaves(model_output)
    assert leaves
    for key, leaf in leaves.items():
        assert leaf.grad is not None, key
        assert torch.isfinite(leaf.grad).all(), key
    for key, value in result["metrics"].items():
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and not value.requires_grad, key
        assert torch.isfinite(value), key


@pytest.mark.parametrize("name", NAMES)
def test_compiles_fullgraph_and_matches_eager(name):
    model_output, targets, params = _example(name)
    function = _function(name)
    # every declared loss is the same closure code object of losses-core, so compiling the
    # protocol functions of more than 8 losses in one process exceeds dynamo's recompile limit
    torch.compiler.reset()
    compiled = torch.compile(function, fullgraph=True, backend="aot_eager")
    got = compiled(model_output, targets, **params)
    got["loss"].backward()
    got_grads = {k: v.grad.clone() for k, v in _grad_leaves(model_output).items()}
    for leaf in _grad_leaves(model_output).values():
        leaf.grad = None
    want = function(model_output, targets, **params)
    want["loss"].backward()
    torch.testing.assert_close(got["loss"], want["loss"])
    for key in want["metrics"]:
        torch.testing.assert_close(got["metrics"][key], want["metrics"][key])
    for key, leaf in _grad_leaves(model_output).items():
        torch.testing.assert_close(got_grads[key], leaf.grad)


@pytest.mark.parametrize("name", NAMES)
def test_missing_key_and_bad_parameter_errors_name_the_loss(name):
    model_output, targets, params = _example(name)
    without = {k: v for k, v in targets.items() if k != "activations"}
    with pytest.raises(MissingInputError, match=rf"{name}: input 'activations'.*targets\['activations'\]"):
        LOSSES[name](model_output, without, **params)
    # under another key, mapped with keys=
    moved = {**without, "x": targets["activations"]}
    value = LOSSES[name](model_output, moved, **params, keys={"activations": "x"})
    torch.testing.assert_close(value, LOSSES[name](model_output, targets, **params))
    param, bad = BAD_PARAMETERS[name]
    with pytest.raises(LossParameterError, match=rf"{name}.*{param}"):
        LOSSES[name](model_output, targets, **{**params, param: bad})
    with pytest.raises(LossParameterError, match="sparsity_wieght"):
        LOSSES[name](model_output, targets, sparsity_wieght=0.1)
    with pytest.raises(LossParameterError, match="activations_key"):
        LOSSES[name](model_output, targets, activations_key="activations")


@pytest.mark.parametrize("name", NAMES)
def test_resolved_losses_pickle(name):
    model_output, targets, params = _example(name)
    loss_fn = pickle.loads(pickle.dumps(resolve_loss(name, **params)))
    torch.testing.assert_close(
        loss_fn(model_output, targets)["loss"], _function(name)(model_output, targets, **params)["loss"]
    )


def test_leading_dimension_errors_name_the_input():
    model_output, targets, _ = _example("SAELoss")
    with pytest.raises(LossInputError, match=r"SAELoss: .*input 'latents'"):
        losses_sae.sae_loss({**model_output, "latents": model_output["latents"][:1]}, targets)
    shorter = {**model_output, "latents": model_output["latents"][:, :2]}  # [2, 2, n] vs [2, 3, d]
    with pytest.raises(LossInputError, match=r"SAELoss: input 'latents'.*leading dimensions"):
        losses_sae.sae_loss(shorter, targets)
    with pytest.raises(LossInputError, match=r"must match"):
        losses_sae.sae_loss(
            {**model_output, "reconstruction": model_output["reconstruction"][..., :2]}, targets
        )
    with pytest.raises(LossInputError, match=r"SAELoss: input 'activations'"):
        losses_sae.sae_loss(model_output, {"activations": torch.zeros(6)})


@pytest.mark.parametrize("name", NAMES)
def test_conformance_checker(name):
    report = assert_conforms(f"{name}@losses-sae")
    passed = {r.check for r in report.results if r.status == "passed"}
    assert passed >= {"call", "gradients", "missing_key", "batch_size_1", "float64", "pickle", "compile"}
