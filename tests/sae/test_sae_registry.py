"""losses-sae through losses-core: entry-point registration, YAML config,
gradients, torch.compile, pickling and error messages, for every loss."""

from __future__ import annotations

import pickle

import pytest
import torch
import yaml

import losses_sae
from losses_core import (
    LOSSES,
    ConfigError,
    LossInputError,
    LossParameterError,
    LossResultError,
    MissingInputError,
    loss_from_config,
    resolve_loss,
)
from losses_core.testing import assert_conforms

REGISTERED = {
    "SAELoss": (losses_sae.sae_loss, ("sae_loss", "sae_l1")),
    "sae_l1_decoder_norm": (losses_sae.sae_l1_decoder_norm, ("sae_april_update",)),
    "topk_auxk": (losses_sae.topk_auxk, ("topk_sae", "auxk")),
    "multi_topk": (losses_sae.multi_topk, ("multi_topk_sae",)),
    "batch_topk": (losses_sae.batch_topk, ("batch_topk_sae",)),
    "jumprelu": (losses_sae.jumprelu_loss, ("jumprelu_sae",)),
    "jumprelu_target_l0": (losses_sae.jumprelu_target_l0, ("jumprelu_sae_target_l0",)),
    "gated_sae": (losses_sae.gated_sae, ("gated_sae_loss",)),
    "matryoshka": (losses_sae.matryoshka, ("matryoshka_sae",)),
    "ghost_grads": (losses_sae.ghost_grads, ("ghost_grads_sae",)),
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


def _example(name, batch_size=2, dtype=torch.float32):
    torch.manual_seed(0)
    return LOSSES[name].entry.example_inputs(batch_size, dtype)


def _grad_leaves(model_output):
    return {k: v for k, v in model_output.items() if isinstance(v, torch.Tensor) and v.requires_grad}


def test_every_loss_is_registered_through_the_entry_point():
    for name, (function, aliases) in REGISTERED.items():
        handle = LOSSES[name]
        assert handle.function is function
        assert handle.provider == "losses-sae"
        assert ".. math::" in (handle.function.__doc__ or "")
        for alias in aliases:
            assert LOSSES[alias].function is function


@pytest.mark.parametrize("name", NAMES)
def test_loss_from_yaml_config_in_both_shapes(name, tmp_path):
    model_output, targets, params = _example(name)
    direct = REGISTERED[name][0](model_output, targets, **params)["loss"]
    seed_style = tmp_path / "seed.yaml"
    seed_style.write_text(yaml.safe_dump({"loss": {"class": name, "params": params}}))
    tensafe_style = tmp_path / "tensafe.yaml"
    sections = {"train": {"loss": {"type": name, "kwargs": params}}, "val": {"loss": {"type": name}}}
    tensafe_style.write_text(yaml.safe_dump(sections))
    for loss_fn in (loss_from_config(seed_style), loss_from_config(tensafe_style, section="train")):
        result = loss_fn(model_output, targets)
        torch.testing.assert_close(result["loss"], direct)
        assert set(result) == {"loss", "metrics", "auxiliary"}
    assert torch.isfinite(loss_from_config(tensafe_style, section="val")(model_output, targets)["loss"])
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"loss": {"class": name, "params": {"sparsity_wieght": 0.1}}}))
    with pytest.raises(ConfigError, match="sparsity_wieght"):
        loss_from_config(typo)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("batch_size", "dtype"), [(1, torch.float64), (3, torch.bfloat16)])
def test_backpropagates_finite_gradients(name, batch_size, dtype):
    model_output, targets, params = _example(name, batch_size, dtype)
    result = LOSSES[name](model_output, targets, **params)
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
    function = REGISTERED[name][0]
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
    with pytest.raises(MissingInputError, match=rf"{name}.*'activations'"):
        LOSSES[name](model_output, {k: v for k, v in targets.items() if k != "activations"}, **params)
    param, value = BAD_PARAMETERS[name]
    with pytest.raises(LossParameterError, match=rf"{name}.*{param}"):
        LOSSES[name](model_output, targets, **{**params, param: value})
    with pytest.raises(LossParameterError, match="sparsity_wieght"):
        LOSSES[name](model_output, targets, sparsity_wieght=0.1)


@pytest.mark.parametrize("name", NAMES)
def test_resolved_losses_pickle(name):
    model_output, targets, params = _example(name)
    loss_fn = pickle.loads(pickle.dumps(resolve_loss(name, **params)))
    torch.testing.assert_close(
        loss_fn(model_output, targets)["loss"], REGISTERED[name][0](model_output, targets, **params)["loss"]
    )


def test_shape_and_dtype_errors_are_clear():
    model_output, targets, params = _example("topk_auxk")
    transposed = {**model_output, "decoder_weight": model_output["decoder_weight"].detach().T}
    with pytest.raises(LossInputError, match="looks transposed"):
        losses_sae.topk_auxk(transposed, targets, **params)
    with pytest.raises(LossInputError, match="bool"):
        losses_sae.topk_auxk(model_output, {**targets, "dead_mask": targets["dead_mask"].float()}, **params)
    with pytest.raises(LossInputError, match="leading dimensions"):
        losses_sae.sae_loss({**model_output, "latents": model_output["latents"][:1]}, targets)
    with pytest.raises(LossInputError, match=r"must match"):
        losses_sae.sae_loss(
            {**model_output, "reconstruction": model_output["reconstruction"][..., :2]}, targets
        )
    with pytest.raises(LossInputError, match="at least 2 dimensions"):
        losses_sae.sae_loss(model_output, {"activations": torch.zeros(6)})


def test_reduction_none_is_for_direct_calls_only():
    model_output, targets, _ = _example("SAELoss", batch_size=2)
    per_token = losses_sae.sae_loss(model_output, targets, reduction="none")
    assert per_token.shape == (2, 3)
    with pytest.raises(LossResultError):
        LOSSES["SAELoss"](model_output, targets, reduction="none")
    with pytest.raises(LossParameterError, match="reduction"):
        losses_sae.sae_loss(model_output, targets, reduction="avg")


@pytest.mark.parametrize("name", NAMES)
def test_conformance_checker(name):
    # compile is covered (with gradients) by test_compiles_fullgraph_and_matches_eager
    report = assert_conforms(f"{name}@losses-sae", skip=("compile",))
    assert {r.check for r in report.results if r.status == "passed"} >= {"call", "gradients", "missing_key"}
