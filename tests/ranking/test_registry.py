"""Every losses-ranking loss through the registry: the names, aliases and
provider the entry point registers, declared inputs remapped with ``keys=``
(no ``*_key`` parameter anywhere), YAML configs, finite gradients,
``torch.compile`` with ``fullgraph=True``, clear errors for a missing input or
a bad parameter, and example factories that work for batch size 1, float64
and bfloat16. (tests/conformance runs losses_core.testing's full checker on
every one of them.)"""

from __future__ import annotations

import inspect
import pickle

import pytest
import torch

import losses_ranking
from losses_core import (
    LOSSES,
    ConfigError,
    LossParameterError,
    MissingInputError,
    list_losses,
    loss_from_config,
    resolve_loss,
)

ALIASES = {
    "ranknet": (),
    "listnet": (),
    "listmle": (),
    "lambda_loss": (),
    "approx_ndcg": (),
    "neural_ndcg": (),
    "triplet": (),
    "multi_similarity": (),
    "supcon": (),
    "ntxent": ("infonce",),
    "clip": (),
    "siglip": (),
}
NAMES = list(ALIASES)

# one input each loss needs, and a parameter value it must reject
MISSING_KEY = {
    "ranknet": ("targets", "relevance"),
    "listnet": ("model_output", "scores"),
    "listmle": ("targets", "relevance"),
    "lambda_loss": ("model_output", "scores"),
    "approx_ndcg": ("targets", "relevance"),
    "neural_ndcg": ("model_output", "scores"),
    "triplet": ("model_output", "embeddings"),
    "multi_similarity": ("targets", "labels"),
    "supcon": ("model_output", "embeddings"),
    "ntxent": ("model_output", "embeddings_b"),
    "clip": ("model_output", "logit_scale"),
    "siglip": ("model_output", "logit_scale"),
}
BAD_PARAM = {
    "ranknet": ("weight_by", "abs"),
    "listnet": ("eps", -1.0),
    "listmle": ("generator", 3),
    "lambda_loss": ("weighing_scheme", "ndcgLoss2PP_scheme"),
    "approx_ndcg": ("alpha", 0.0),
    "neural_ndcg": ("temperature", 0.0),
    "triplet": ("mining", "hardest"),
    "multi_similarity": ("beta", -2.0),
    "supcon": ("temperature", 0.0),
    "ntxent": ("negatives", "none"),
    "clip": ("max_logit_scale", -1.0),
    "siglip": ("reduction", "batchmean"),
}


def example(name, batch_size=3, dtype=torch.float64):
    torch.manual_seed(0)
    return LOSSES[name].entry.example_inputs(batch_size=batch_size, dtype=dtype)


def test_the_entry_point_registers_exactly_these_names_and_aliases():
    infos = {info.name: info for info in list_losses() if info.provider == "losses-ranking"}
    assert set(infos) == set(NAMES)  # margin_ranking and contrastive are losses-core's
    for name, aliases in ALIASES.items():
        handle = LOSSES[name]
        assert handle.provider == "losses-ranking"
        assert handle.entry.name == name and tuple(handle.entry.aliases) == aliases
        assert handle.function is getattr(losses_ranking, name)
        assert handle.function.__module__ == f"losses_ranking.{name}"  # one loss per module
        assert handle.entry.declared and handle.entry.example_inputs is not None
    assert LOSSES["infonce"].function is losses_ranking.ntxent
    assert "NDCG-Loss2++" in (LOSSES["lambda_loss"].__doc__ or "")
    for moved in ("margin_ranking", "contrastive"):
        assert LOSSES[moved].provider == "losses-core"
        assert not hasattr(losses_ranking, moved)


@pytest.mark.parametrize("name", NAMES)
def test_no_parameter_ends_with_key_and_keys_is_accepted(name):
    parameters = inspect.signature(LOSSES[name].function).parameters
    assert not [p for p in parameters if p.endswith("_key")]
    assert "keys" in parameters
    assert not [p for p in LOSSES[name].entry.signature.parameters if p.endswith("_key")]


@pytest.mark.parametrize("name", NAMES)
def test_keys_remaps_every_input(name):
    model_output, targets, params = example(name)
    expected = resolve_loss(name, **params)(model_output, targets)["loss"]
    keys = {key: f"my_{key}" for key in (*model_output, *targets)}
    renamed_output = {keys[k]: v for k, v in model_output.items()}
    renamed_targets = {keys[k]: v for k, v in targets.items()}
    direct = getattr(losses_ranking, name)(renamed_output, renamed_targets, keys=keys, **params)
    torch.testing.assert_close(direct["loss"], expected)
    resolved = resolve_loss(name, keys=keys, **params)(renamed_output, renamed_targets)
    torch.testing.assert_close(resolved["loss"], expected)
    # without the mapping the renamed input is missing, and the error says how to map it
    with pytest.raises(MissingInputError, match="keys="):
        getattr(losses_ranking, name)(renamed_output, renamed_targets, **params)


@pytest.mark.parametrize("name", NAMES)
def test_registry_call_returns_the_loss_of_the_resolved_loss(name):
    model_output, targets, params = example(name)
    value = LOSSES[name](model_output, targets, **params)
    assert isinstance(value, torch.Tensor) and value.ndim == 0
    resolved = resolve_loss(name, **params)(model_output, targets)
    assert set(resolved) == {"loss", "metrics", "auxiliary"} and resolved["metrics"]
    torch.testing.assert_close(value, resolved["loss"])


@pytest.mark.parametrize("name", NAMES)
def test_example_inputs_backpropagate_finite_gradients(name):
    for batch_size, dtype in ((1, torch.float64), (3, torch.float32), (2, torch.bfloat16)):
        model_output, targets, params = example(name, batch_size, dtype)
        out = resolve_loss(name, **params)(model_output, targets)
        assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
        for value in out["metrics"].values():
            assert value.ndim == 0 and not value.requires_grad
        out["loss"].backward()
        leaves = [v for v in model_output.values() if isinstance(v, torch.Tensor) and v.requires_grad]
        assert leaves
        for leaf in leaves:
            assert leaf.grad is not None and torch.isfinite(leaf.grad.float()).all()


@pytest.mark.parametrize("name", NAMES)
def test_reduction_none_is_per_item(name):
    model_output, targets, params = example(name, 3)
    fn = getattr(losses_ranking, name)
    per_item = fn(model_output, targets, **params, reduction="none")
    assert isinstance(per_item, torch.Tensor) and per_item.ndim == 1
    total = fn(model_output, targets, **params, reduction="sum")
    torch.testing.assert_close(per_item.sum(), total["loss"])


@pytest.mark.parametrize("style", ["class_params", "type_kwargs"])
def test_from_yaml_config(tmp_path, style):
    configs = {
        "ranknet": {"sigma": 2.0, "weight_by": "diff"},
        "lambda_loss": {"weighing_scheme": "lambda_rank", "k": 3, "mu": 5},
        "triplet": {"margin": 0.1, "mining": "semi_hard"},
        "clip": {"logit_scale_is_log": True, "max_logit_scale": 50.0},
        "listnet": {"keys": {"scores": "logits"}},
    }
    for name in NAMES:
        params = configs.get(name, {})
        if style == "class_params":
            node = {"class": name, "params": params}
            text = f"loss: {node}\n"
            section = None
        else:
            node = {"type": name, "kwargs": params}
            text = f"train:\n  loss: {node}\nval:\n  loss: {{type: mse}}\n"
            section = "train"
        path = tmp_path / f"{name}_{style}.yaml"
        path.write_text(text.replace("'", '"'))
        loss = loss_from_config(path, section=section)
        model_output, targets, example_params = example(name, 2)
        for key in params:
            example_params.pop(key, None)
        keys = params.get("keys", {})
        plain = {k: v for k, v in params.items() if k != "keys"}
        expected = getattr(losses_ranking, name)(model_output, targets, **plain, **example_params)
        model_output = {keys.get(k, k): v for k, v in model_output.items()}
        out = loss(model_output, targets, **example_params)
        torch.testing.assert_close(out["loss"], expected["loss"])


def test_config_rejects_a_typo_and_a_wrong_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("loss: {class: ranknet, params: {sigmaa: 1.0}}\n")
    with pytest.raises(ConfigError, match="sigma"):
        loss_from_config(path)
    path.write_text("loss: {class: triplet, params: {margin: 'big'}}\n")
    with pytest.raises(ConfigError, match="margin"):
        loss_from_config(path)
    path.write_text("loss: {class: listmle, params: {scores_key: logits}}\n")
    with pytest.raises(ConfigError, match="scores_key"):
        loss_from_config(path)


@pytest.mark.parametrize("name", NAMES)
def test_missing_input_is_named(name):
    model_output, targets, params = example(name)
    source, key = MISSING_KEY[name]
    broken = dict(model_output if source == "model_output" else targets)
    del broken[key]
    args = (broken, targets) if source == "model_output" else (model_output, broken)
    with pytest.raises(MissingInputError, match=f"{name}.*{key}"):
        LOSSES[name](*args, **params)


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_is_named(name):
    model_output, targets, params = example(name)
    param, value = BAD_PARAM[name]
    with pytest.raises(LossParameterError, match=f"{name}.*{param}"):
        LOSSES[name](model_output, targets, **{**params, param: value})
    with pytest.raises(LossParameterError, match=f"{name}.*{param}"):
        resolve_loss(name, **{**params, param: value})
    with pytest.raises(LossParameterError, match="unknown_option"):
        LOSSES[name](model_output, targets, **params, unknown_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_compiles_with_fullgraph(name):
    model_output, targets, params = example(name, 2, torch.float32)
    fn = getattr(losses_ranking, name)

    def step(model_output, targets):
        return fn(model_output, targets, **params)

    torch._dynamo.reset()  # every parametrisation compiles the same `step` code object
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    eager = step(model_output, targets)
    out = compiled(model_output, targets)
    torch.testing.assert_close(out["loss"], eager["loss"], rtol=1e-5, atol=1e-6)
    for key, value in eager["metrics"].items():
        torch.testing.assert_close(out["metrics"][key], value, rtol=1e-5, atol=1e-6)
    out["loss"].backward()


def test_handles_and_resolved_losses_pickle():
    for name in ("ranknet", "clip"):
        assert pickle.loads(pickle.dumps(LOSSES[name])).function is LOSSES[name].function
        model_output, targets, params = example(name)
        resolved = resolve_loss(name, keys={}, **params)
        restored = pickle.loads(pickle.dumps(resolved))
        expected = resolved(model_output, targets)["loss"]
        torch.testing.assert_close(restored(model_output, targets)["loss"], expected)
