"""dft: Dynamic Fine-Tuning, -sg(p_y) log p_y per target token.

Oracle: TRL's DFT loss, transcribed below because TRL's losses live in its
trainers (importing them pulls in accelerate, datasets and the rest), and the
closed-form gradient of the paper's objective."""

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

from losses_core import LOSSES, LossInputError, LossParameterError, loss_from_config, resolve_loss
from losses_core.testing import assert_conforms


def trl_dft_loss(logits, labels, num_items_in_batch=None):
    """TRL 1.13.0, ``trl/trainer/sft_trainer.py``, module function ``dft_loss``
    (what ``SFTTrainer`` uses for ``loss_type="dft"``), line for line, with
    ``selective_log_softmax`` (``trl/trainer/utils.py``) written as a log-softmax
    gathered at the labels: labels padded with -100 and shifted, ignored labels
    set to 0, per-token ``-exp(logp).detach() * logp``, the masked sum divided
    by ``num_items_in_batch``, else by the number of target tokens."""
    labels = F.pad(labels, (0, 1), value=-100)
    shift_labels = labels[..., 1:]
    loss_mask = shift_labels != -100
    shift_labels[~loss_mask] = 0
    logprobs = torch.gather(logits.log_softmax(-1), dim=-1, index=shift_labels.unsqueeze(-1)).squeeze(-1)
    per_token_loss = -logprobs.exp().detach() * logprobs
    if num_items_in_batch is None:
        num_items_in_batch = loss_mask.sum()
    return (per_token_loss * loss_mask).sum() / num_items_in_batch


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_items", [None, 31, "tensor"])
def test_equals_trl_dft_loss(dtype, num_items):
    batch = lm_batch(dtype)
    labels = batch["labels"]
    items = torch.tensor(19) if num_items == "tensor" else num_items
    tol = {"rtol": 0, "atol": 1e-7 if dtype == torch.float64 else 1e-5}
    expected = trl_dft_loss(logits_of(batch), labels.clone(), items)
    got = LOSSES["dft"]({"logits": logits_of(batch)}, {"labels": labels}, num_items_in_batch=items)
    torch.testing.assert_close(got, expected, **tol)
    for g, e in zip(
        torch.autograd.grad(got, leaves(batch)), torch.autograd.grad(expected, leaves(batch)), strict=True
    ):
        torch.testing.assert_close(g, e, **tol)


def test_gradient_is_the_cross_entropy_gradient_scaled_by_the_token_probability():
    """d loss / d z_t = p_t (softmax(z_t) - onehot(y_t)) / n at a target token t,
    0 elsewhere (the paper's rectified gradient, token mean)."""
    batch = lm_batch()
    logits = logits_of(batch).detach().requires_grad_(True)
    labels = batch["labels"]
    (grad,) = torch.autograd.grad(LOSSES["dft"]({"logits": logits}, {"labels": labels}), logits)
    targets = F.pad(labels[:, 1:], (0, 1), value=-100)
    mask = targets != -100
    probs = torch.softmax(logits.detach(), dim=-1)
    onehot = F.one_hot(targets.clamp_min(0), logits.shape[-1]).to(probs.dtype)
    p_y = (probs * onehot).sum(-1, keepdim=True)
    expected = torch.where(mask.unsqueeze(-1), p_y * (probs - onehot), 0.0) / mask.sum()
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-12)


def test_value_and_metrics_against_the_per_token_formula():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    labels = batch["labels"]
    result = resolve_loss("dft")({"logits": logits}, {"labels": labels})
    summed = resolve_loss("dft", reduction="sum")({"logits": logits}, {"labels": labels})
    mask = labels[:, 1:] != -100
    log_p = torch.log_softmax(logits[:, :-1], -1).gather(-1, labels[:, 1:].clamp_min(0).unsqueeze(-1))[
        ..., 0
    ][mask]
    torch.testing.assert_close(result["loss"], (-log_p.exp() * log_p).mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(summed["loss"], (-log_p.exp() * log_p).sum(), rtol=0, atol=1e-12)
    torch.testing.assert_close(result["metrics"]["ce_loss"], -log_p.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(result["metrics"]["token_prob"], log_p.exp().mean(), rtol=0, atol=1e-12)
    assert int(result["metrics"]["num_tokens"]) == int(mask.sum())


@pytest.mark.parametrize("chunk_size", [1, 3, N])
@pytest.mark.parametrize("bias", [True, False])
def test_chunked_path_equals_logits_path(chunk_size, bias):
    assert_chunked_equals_logits("dft", chunk_size, bias=bias, num_items_in_batch=torch.tensor(12))


def test_chunked_path_under_torch_compile():
    assert_compiled_chunked_value("dft")


def test_no_target_token_gives_a_connected_zero_where_trl_gives_nan():
    assert_all_ignored_is_connected_zero("dft")
    batch = lm_batch()
    assert bool(torch.isnan(trl_dft_loss(logits_of(batch), torch.full_like(batch["labels"], -100))))


def test_bfloat16_is_computed_in_float32():
    batch = lm_batch(torch.float32)
    low = logits_of(batch).detach().bfloat16().requires_grad_(True)
    tg = {"labels": batch["labels"]}
    got = LOSSES["dft"]({"logits": low}, tg)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, LOSSES["dft"]({"logits": low.detach().float()}, tg), rtol=0, atol=1e-6)


def test_conforms():
    assert_conforms("dft")


def test_from_yaml_config(tmp_path):
    batch = lm_batch()
    out, tg = {"logits": logits_of(batch).detach()}, {"labels": batch["labels"]}
    path = tmp_path / "loss.yaml"
    path.write_text("loss:\n  type: dft\n  kwargs: {num_items_in_batch: 40}\n", encoding="utf-8")
    expected = trl_dft_loss(out["logits"], batch["labels"].clone(), 40)
    torch.testing.assert_close(loss_from_config(path)(out, tg)["loss"], expected, rtol=0, atol=1e-12)


def test_bad_inputs_and_parameters_raise_clear_errors():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    tg = {"labels": batch["labels"]}
    with pytest.raises(LossInputError, match=r"dft: model_output has none of 'logits'"):
        LOSSES["dft"]({"log_probs": logits[..., 0]}, tg)
    with pytest.raises(LossInputError, match=r"dft: input 'logits'.*floating"):
        LOSSES["dft"]({"logits": batch["labels"].unsqueeze(-1)}, tg)
    with pytest.raises(LossParameterError, match=r"'dft'.*'num_items_in_batch'"):
        resolve_loss("dft", num_items_in_batch=0)
    with pytest.raises(LossParameterError, match=r"'dft'.*'num_items_in_batch' only applies"):
        LOSSES["dft"]({"logits": logits}, tg, reduction="sum", num_items_in_batch=3)
    with pytest.raises(LossParameterError, match=r"'dft'.*'chunk_size' only applies"):
        LOSSES["dft"]({"logits": logits}, tg, chunk_size=3)
