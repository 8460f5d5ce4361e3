"""Every losses-ranking loss through the registry: reachable via ``LOSSES``
(entry point), usable from YAML configs, finite gradients, ``torch.compile``
with ``fullgraph=True``, clear errors for a missing key or a bad parameter,
and example factories that work for batch size 1, float64 and bfloat16."""

from __future__ import annotations

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
)

NAMES = [
    "ranknet",
    "listnet",
    "listmle",
    "lambda_loss",
    "approx_ndcg",
    "neural_ndcg",
    "triplet",
    "multi_similarity",
    "supcon",
    "ntxent",
    "clip",
    "siglip",
]

# one model_output key each loss needs, and a parameter value it must reject
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
    "siglip": ("model_output", "logit_bias"),
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
    return LOSSES[name].entry.example_inputs(batch_size, dtype)


def test_every_loss_is_registered_by_the_entry_point():
    infos = {info.name: info for info in list_losses()}
    for name in NAMES:
        assert LOSSES[name].provider == "losses-ranking"
        assert LOSSES[name].function is getattr(losses_ranking, name)
        assert name in infos
    assert LOSSES["infonce"].function is losses_ranking.ntxent
    assert "NDCG-Loss2++" in LOSSES["lambda_loss"].__doc__


@pytest.mark.parametrize("name", NAMES)
def test_example_inputs_backpropagate_finite_gradients(name):
    for batch_size, dtype in ((1, torch.float64), (3, torch.float32), (2, torch.bfloat16)):
        model_output, targets, params = example(name, batch_size, dtype)
        out = LOSSES[name](model_output, targets, **params)
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
    per_item = LOSSES[name].function(model_output, targets, **params, reduction="none")
    assert isinstance(per_item, torch.Tensor) and per_item.ndim == 1
    total = LOSSES[name].function(model_output, targets, **params, reduction="sum")
    torch.testing.assert_close(per_item.sum(), total["loss"])


@pytest.mark.parametrize("style", ["class_params", "type_kwargs"])
def test_from_yaml_config(tmp_path, style):
    configs = {
        "ranknet": {"sigma": 2.0, "weight_by": "diff"},
        "lambda_loss": {"weighing_scheme": "lambda_rank", "k": 3, "mu": 5},
        "triplet": {"margin": 0.1, "mining": "semi_hard"},
        "clip": {"logit_scale_is_log": True, "max_logit_scale": 50.0},
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
        out = loss(model_output, targets, **example_params)
        expected = getattr(losses_ranking, name)(model_output, targets, **params, **example_params)
        torch.testing.assert_close(out["loss"], expected["loss"])


def test_config_rejects_a_typo_and_a_wrong_type(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("loss: {class: ranknet, params: {sigmaa: 1.0}}\n")
    with pytest.raises(ConfigError, match="sigma"):
        loss_from_config(path)
    path.write_text("loss: {class: triplet, params: {margin: 'big'}}\n")
    with pytest.raises(ConfigError, match="margin"):
        loss_from_config(path)


@pytest.mark.parametrize("name", NAMES)
def test_missing_key_is_named(name):
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
    with pytest.raises(LossParameterError, match=param):
        LOSSES[name](model_output, targets, **{**params, param: value})
    with pytest.raises(LossParameterError, match="unknown_option"):
        LOSSES[name](model_output, targets, **params, unknown_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_compiles_with_fullgraph(name):
    # (tests/conformance runs losses_core.testing's full checker on these losses too)
    model_output, targets, params = example(name, 2, torch.float32)
    fn = LOSSES[name]

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


def test_handles_pickle():
    for name in ("ranknet", "clip"):
        assert pickle.loads(pickle.dumps(LOSSES[name])).function is LOSSES[name].function
