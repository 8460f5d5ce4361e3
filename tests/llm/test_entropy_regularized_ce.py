"""entropy_regularized_ce: token cross-entropy minus w times the predictive entropy.

Oracles: ``torch.nn.functional.cross_entropy`` (with ``label_smoothing``) and
``torch.distributions.Categorical(...).entropy()`` on the shifted tokens, and
a loop over the tokens written from the formula for each normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _token_terms_cases import (
    N,
    assert_all_ignored_is_connected_zero,
    assert_chunked_equals_logits,
    assert_compiled_chunked_value,
    leaves,
    lm_batch,
    logits_of,
)

from losses_core import (
    LOSSES,
    LossInputError,
    LossParameterError,
    list_losses,
    loss_from_config,
    resolve_loss,
)
from losses_core.testing import assert_conforms


def _torch_reference(logits, labels, weight, smoothing):
    """F.cross_entropy and Categorical entropy over the target tokens of the
    shifted labels, each a token mean: (CE - w H, CE, H)."""
    z, y = logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1)
    keep = y != -100
    ce = F.cross_entropy(z, y, ignore_index=-100, label_smoothing=smoothing)
    entropy = torch.distributions.Categorical(logits=z[keep]).entropy().mean()
    return ce - weight * entropy, ce, entropy


def _formula_loop(logits, labels, weight, smoothing, divisor):
    """sum over target tokens t of CE_t - w H_t, CE_t = (1-eps)(lse - z_y) +
    eps (lse - mean_v z_v), H_t = -sum_v p_v log p_v; then / divisor (None: the sum)."""
    total = logits.new_zeros(())
    vocab = logits.shape[-1]
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            y = int(labels[b, t + 1])
            if y == -100:
                continue
            z = logits[b, t]
            lse = torch.log(torch.exp(z).sum())
            ce = (1 - smoothing) * (lse - z[y]) + smoothing * (lse - z.sum() / vocab)
            p = torch.exp(z - lse)
            entropy = -(p * torch.log(p)).sum()
            total = total + ce - weight * entropy
    return total if divisor is None else total / divisor


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_equals_torch_cross_entropy_minus_categorical_entropy(dtype, smoothing):
    batch = lm_batch(dtype)
    labels = batch["labels"]
    tol = {"rtol": 0, "atol": 1e-7 if dtype == torch.float64 else 1e-5}
    expected, ce, entropy = _torch_reference(logits_of(batch), labels, 0.3, smoothing)
    got = resolve_loss("entropy_regularized_ce", entropy_weight=0.3, label_smoothing=smoothing)(
        {"logits": logits_of(batch)}, {"labels": labels}
    )
    torch.testing.assert_close(got["loss"], expected, **tol)
    torch.testing.assert_close(got["metrics"]["ce_loss"], ce.detach(), **tol)
    torch.testing.assert_close(got["metrics"]["entropy"], entropy.detach(), **tol)
    for g, e in zip(
        torch.autograd.grad(got["loss"], leaves(batch)),
        torch.autograd.grad(expected, leaves(batch)),
        strict=True,
    ):
        torch.testing.assert_close(g, e, **tol)


@pytest.mark.parametrize(
    ("reduction", "num_items"),
    [("mean", None), ("mean", 23), ("sum", None)],
    ids=["mean", "num_items", "sum"],
)
def test_equals_the_formula_loop_for_each_normalisation(reduction, num_items):
    batch = lm_batch()
    labels = batch["labels"]
    count = int((labels[:, 1:] != -100).sum())
    divisor = None if reduction == "sum" else (num_items or count)
    expected = _formula_loop(logits_of(batch), labels, 0.7, 0.1, divisor)
    got = LOSSES["entropy_regularized_ce"](
        {"logits": logits_of(batch)},
        {"labels": labels},
        entropy_weight=0.7,
        label_smoothing=0.1,
        reduction=reduction,
        num_items_in_batch=num_items,
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for g, e in zip(
        torch.autograd.grad(got, leaves(batch)), torch.autograd.grad(expected, leaves(batch)), strict=True
    ):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)


def test_metrics_are_token_means_whatever_the_reduction():
    batch = lm_batch()
    out, tg = {"logits": logits_of(batch).detach()}, {"labels": batch["labels"]}
    mean = resolve_loss("entropy_regularized_ce")(out, tg)
    summed = resolve_loss("entropy_regularized_ce", reduction="sum")(out, tg)
    count = int((batch["labels"][:, 1:] != -100).sum())
    assert int(mean["metrics"]["num_tokens"]) == count
    for key in ("ce_loss", "entropy"):
        torch.testing.assert_close(summed["metrics"][key], mean["metrics"][key], rtol=0, atol=0)
    torch.testing.assert_close(
        mean["loss"], mean["metrics"]["ce_loss"] - 0.1 * mean["metrics"]["entropy"], rtol=0, atol=1e-12
    )
    torch.testing.assert_close(summed["loss"], count * mean["loss"], rtol=0, atol=1e-12)


def test_the_entropy_term_pushes_towards_uniform_predictions():
    """With the cross-entropy weighted out (only the entropy term acts), a
    gradient step raises the entropy of confident predictions."""
    batch = lm_batch()
    logits = (3 * logits_of(batch).detach()).requires_grad_(True)
    tg = {"labels": batch["labels"]}
    fn = resolve_loss("entropy_regularized_ce", entropy_weight=1.0)
    plain = resolve_loss("entropy_regularized_ce", entropy_weight=0.0)
    before = fn({"logits": logits}, tg)
    (grad,) = torch.autograd.grad(before["loss"] - plain({"logits": logits}, tg)["loss"], logits)
    after = fn({"logits": logits.detach() - 0.5 * grad}, tg)
    assert float(after["metrics"]["entropy"]) > float(before["metrics"]["entropy"])


@pytest.mark.parametrize("chunk_size", [1, 3, N])
@pytest.mark.parametrize("bias", [True, False])
def test_chunked_path_equals_logits_path(chunk_size, bias):
    assert_chunked_equals_logits(
        "entropy_regularized_ce", chunk_size, bias=bias, entropy_weight=0.4, label_smoothing=0.1
    )


def test_chunked_path_under_torch_compile():
    assert_compiled_chunked_value("entropy_regularized_ce", label_smoothing=0.1)


def test_no_target_token_gives_a_connected_zero():
    assert_all_ignored_is_connected_zero("entropy_regularized_ce", label_smoothing=0.1)


def test_bfloat16_is_computed_in_float32():
    batch = lm_batch(torch.float32)
    low = logits_of(batch).detach().bfloat16().requires_grad_(True)
    tg = {"labels": batch["labels"]}
    got = LOSSES["entropy_regularized_ce"]({"logits": low}, tg)
    assert got.dtype == torch.float32
    expected = LOSSES["entropy_regularized_ce"]({"logits": low.detach().float()}, tg)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_conforms():
    assert_conforms("entropy_regularized_ce")


def test_the_name_leaves_entropy_regularized_to_user_code():
    names = {
        name for info in list_losses() if info.provider == "losses-llm" for name in (info.name, *info.aliases)
    }
    assert "entropy_regularized_ce" in names
    assert "entropy_regularized" not in names


def test_from_yaml_config(tmp_path):
    batch = lm_batch()
    out, tg = {"logits": logits_of(batch).detach()}, {"labels": batch["labels"]}
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n  type: entropy_regularized_ce\n  kwargs: {entropy_weight: 0.2, label_smoothing: 0.1}\n",
        encoding="utf-8",
    )
    expected, _, _ = _torch_reference(out["logits"], tg["labels"], 0.2, 0.1)
    torch.testing.assert_close(loss_from_config(path)(out, tg)["loss"], expected, rtol=0, atol=1e-12)


def test_bad_inputs_and_parameters_raise_clear_errors():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    tg = {"labels": batch["labels"]}
    name = "entropy_regularized_ce"
    with pytest.raises(LossInputError, match=rf"{name}: model_output has none of 'logits'"):
        LOSSES[name]({}, tg)
    with pytest.raises(LossInputError, match=rf"{name}: input 'lm_head_weight'/'lm_head_bias' given with"):
        LOSSES[name]({"logits": logits, "lm_head_weight": batch["weight"]}, tg)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'label_smoothing'.*<= 1"):
        resolve_loss(name, label_smoothing=1.5)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'chunk_size' only applies"):
        LOSSES[name]({"logits": logits}, tg, chunk_size=2)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'num_items_in_batch' only applies"):
        LOSSES[name]({"logits": logits}, tg, reduction="sum", num_items_in_batch=3)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'entropy_weight'"):
        resolve_loss(name, entropy_weight="0.1")
