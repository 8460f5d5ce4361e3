"""YAML config: both styles (class/params, type/kwargs), keys, sections, composites, validation errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import pytest
import torch
import torch.nn.functional as F

from losses_core import ConfigError, Input, Range, load_config, loss_from_config, register_loss

LOGITS = torch.randn(6, 4)
LABELS = torch.tensor([0, 1, 2, 3, 0, -100])
PRED = {"predictions": torch.randn(3, 2)}
TARGET = {"target": torch.randn(3, 2)}


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def vae_like():
    def vae_loss(model_output, targets, beta=1.0, reconstruction_weight=1.0, **kwargs):
        return model_output["predictions"].sum() * beta + reconstruction_weight

    register_loss("VAELike", vae_loss)
    return vae_loss


def test_seed_002_style(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          type: token_ce
          kwargs:
            ignore_index: -100
            label_smoothing: 0.1
            reduction: mean
        """,
    )
    fn = loss_from_config(path)
    torch.testing.assert_close(
        fn({"logits": LOGITS}, {"labels": LABELS})["loss"],
        F.cross_entropy(LOGITS, LABELS, label_smoothing=0.1),
    )


def test_seed_000_train_val_sections_with_different_params(tmp_path, vae_like):
    path = write(
        tmp_path,
        """
        train:
          loss:
            class: "VAELike"
            params:
              beta: 1.0
        val:
          loss:
            class: "VAELike"
            params:
              beta: 0.5
        """,
    )
    train = loss_from_config(path, section="train")
    val = loss_from_config(path, section="val")
    assert train.defaults == {"beta": 1.0} and val.defaults == {"beta": 0.5}
    total = PRED["predictions"].sum()
    torch.testing.assert_close(train(PRED, {})["loss"], total + 1.0)
    torch.testing.assert_close(val(PRED, {})["loss"], total * 0.5 + 1.0)


def test_bare_name_and_mapping_source():
    fn = loss_from_config({"loss": "mse"})
    torch.testing.assert_close(fn(PRED, TARGET)["loss"], F.mse_loss(PRED["predictions"], TARGET["target"]))


def test_composite_weighted_sum_reports_each_term(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          terms:
            - {type: mse, weight: 2.0}
            - {class: mse, params: {reduction: sum}, weight: 0.5, name: mse_sum}
        """,
    )
    config = load_config(path)
    assert config.composite and len(config.terms) == 2
    out = config.build()(PRED, TARGET)
    mean = F.mse_loss(PRED["predictions"], TARGET["target"])
    total = F.mse_loss(PRED["predictions"], TARGET["target"], reduction="sum")
    torch.testing.assert_close(out["loss"], 2.0 * mean + 0.5 * total)
    torch.testing.assert_close(out["metrics"]["mse/loss"], mean)
    torch.testing.assert_close(out["metrics"]["mse_sum/loss"], total)


def test_composite_passes_call_kwargs_to_terms_that_accept_them():
    fn = loss_from_config({"loss": {"terms": [{"type": "mse"}, {"type": "token_ce", "weight": 0.0}]}})
    out = fn({**PRED, "logits": LOGITS}, {**TARGET, "labels": LABELS}, reduction="sum")
    torch.testing.assert_close(
        out["metrics"]["mse/loss"], F.mse_loss(PRED["predictions"], TARGET["target"], reduction="sum")
    )
    with pytest.raises(TypeError, match="nonsense") as info:
        fn({**PRED, "logits": LOGITS}, {**TARGET, "labels": LABELS}, nonsense=1)
    # every term's parameters are listed, not only the first term's
    assert "ignore_index" in str(info.value) and "reduction" in str(info.value)


@pytest.mark.parametrize(
    ("text", "section", "match"),
    [
        (
            "loss: {class: VAELik}\n",
            None,
            r"config.yaml: loss.class: unknown loss 'VAELik'.*Did you mean: 'VAELike'",
        ),
        (
            "loss: {class: VAELike, params: {betta: 1.0}}\n",
            None,
            r"config.yaml: loss.params: .*'betta' \(did you mean 'beta'\?\)",
        ),
        ("loss: {class: VAELike, params: {beta: fast}}\n", None, r"loss.params: .*'beta' expects a number"),
        ("train: {loss: mse}\n", "val", r"config.yaml: missing section 'val'; sections with a loss: train"),
        ("train: {loss: mse}\n", None, r"no top-level 'loss'; choose a section \(train\)"),
        ("loss: {class: mse, type: mse}\n", None, "exactly one of 'class' or 'type'"),
        ("loss: {class: mse, params: [1]}\n", None, r"loss.params: expected a mapping"),
        ("loss: {class: mse, weigth: 2}\n", None, r"unexpected key\(s\) \['weigth'\]"),
        ("loss: {terms: []}\n", None, "non-empty list"),
        ("loss: {terms: [{type: mse, weight: heavy}]}\n", None, r"loss.terms\[0\].weight: expected a number"),
        ("loss: [\n", None, "invalid YAML"),
        ("- 1\n", None, "expected a mapping at the top level"),
    ],
)
def test_validation_errors_name_file_and_key_path(tmp_path, vae_like, text, section, match):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match):
        load_config(path, section=section)


def test_non_strict_allows_unknown_parameters(tmp_path, vae_like):
    path = write(tmp_path, "loss: {class: VAELike, params: {extra: 1}}\n")
    with pytest.raises(ConfigError):
        load_config(path)
    assert load_config(path, strict=False).terms[0].params == {"extra": 1}


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read loss config"):
        load_config("/nonexistent/losses.yaml")


def test_dotted_path_can_be_disabled(tmp_path, monkeypatch):
    path = write(tmp_path, "loss: {type: 'torch.nn.functional:mse_loss'}\n")
    with pytest.raises(ConfigError, match="imports are disabled"):
        load_config(path, allow_import=False)
    monkeypatch.setenv("LOSSES_CONFIG_ALLOW_IMPORT", "0")
    with pytest.raises(ConfigError, match="LOSSES_CONFIG_ALLOW_IMPORT"):
        load_config(path)
    monkeypatch.setenv("LOSSES_CONFIG_ALLOW_IMPORT", "1")
    assert load_config(path).terms[0].loss == "torch.nn.functional:mse_loss"


def test_yaml_not_imported_until_a_file_is_loaded():
    code = "import sys, losses_core; losses_core.LOSSES['mse']; print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def structured():
    def check_schedule(value: Any) -> None:
        unknown = set(value) - {"warmup_steps"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)}; expected warmup_steps")

    @register_loss(
        inputs=[Input("predictions", "model_output"), Input("target", "targets")],
        validators={"schedule": check_schedule},
    )
    def structured_loss(
        predictions: torch.Tensor,
        target: torch.Tensor,
        *,
        dataset_size: Annotated[int, Range(ge=1)],
        weights: Sequence[float] = (1.0,),
        schedule: Mapping[str, int] | None = None,
    ) -> torch.Tensor:
        return (predictions - target).square().mean() * sum(weights) / dataset_size

    return structured_loss


def test_check_finds_what_only_the_first_step_would_have(tmp_path, structured):
    from losses_core.config import validate_config

    path = write(
        tmp_path,
        """
        loss:
          class: structured_loss
          params:
            weights: 0.5
            schedule: {warmup_step: 10}
          keys: {prediction: recon}
        """,
    )
    problems = "\n".join(validate_config(path))
    assert "missing required parameter(s) 'dataset_size'" in problems
    assert "parameter 'weights' expects Sequence[float], got float 0.5" in problems
    assert "parameter 'schedule' is invalid: unknown key(s) ['warmup_step']" in problems
    assert "names no declared input: 'prediction'" in problems
    lines = problems.splitlines()
    assert sum(line.startswith(f"{path}: loss.params: ") for line in lines) == 3
    keys_problem = next(line for line in lines if "names no declared input" in line)
    assert keys_problem.startswith(f"{path}: loss.keys: ")


def test_keys_section_maps_inputs(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          type: mse
          kwargs: {reduction: sum}
          keys: {predictions: recon, target: x}
        """,
    )
    recon, x = torch.randn(3, 2), torch.randn(3, 2)
    out = loss_from_config(path)({"recon": recon}, {"x": x})
    torch.testing.assert_close(out["loss"], F.mse_loss(recon, x, reduction="sum"))


def test_non_strict_config_builds_and_passes_undeclared_names_to_kwargs():
    seen = {}

    def open_loss(model_output, targets, *, beta: float = 1.0, **kwargs):
        seen.update(kwargs)
        return model_output["predictions"].sum() * beta

    register_loss("open_loss", open_loss)
    node = {"loss": {"class": "open_loss", "params": {"beta": 2.0, "extra": 1}}}
    with pytest.raises(ConfigError, match="'extra'"):
        load_config(node)
    loss = loss_from_config(node, strict=False)
    assert loss(PRED, {})["loss"].item() == pytest.approx(2 * PRED["predictions"].sum().item())
    assert seen == {"extra": 1}


def test_composite_labels_never_collide():
    node = {"loss": {"terms": [{"type": "mse", "name": "mse_1"}, {"type": "mse"}, {"type": "mse"}]}}
    labels = [label for label, _, _ in loss_from_config(node).terms]
    assert labels == ["mse_1", "mse", "mse_2"]


def test_keys_given_twice_is_a_problem():
    from losses_core.config import validate_config

    node = {"loss": {"type": "mse", "kwargs": {"keys": {"target": "y"}}, "keys": {"target": "x"}}}
    assert any("given both beside and inside 'kwargs'" in p for p in validate_config(node))
