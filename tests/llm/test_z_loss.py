"""z_loss: the PaLM output z-loss, w * logsumexp(z)^2 per target token.

Oracles: losses-core's ``token_ce`` with ``z_loss=w`` (its ``z_loss`` metric
is the same term) and a loop over the tokens written from the paper's
formula for each normalisation."""

from __future__ import annotations

import pytest
import torch
from _token_terms_cases import (
    N,
    assert_all_ignored_is_connected_zero,
    assert_chunked_equals_logits,
    assert_compiled_chunked_value,
    hidden_output,
    leaves,
    lm_batch,
    logits_of,
)

from losses_core import LOSSES, LossInputError, LossParameterError, loss_from_config, resolve_loss
from losses_core.testing import assert_conforms


def _paper_loop(logits, labels, weight, divisor):
    """sum over target tokens t of w * (log sum_v exp z_{t,v})^2, then / divisor
    (None: the sum); labels are input ids, position t scored against t + 1."""
    total = logits.new_zeros(())
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            if labels[b, t + 1] != -100:
                total = total + weight * torch.log(torch.exp(logits[b, t]).sum()) ** 2
    return total if divisor is None else total / divisor


@pytest.mark.parametrize(
    ("reduction", "num_items"),
    [("mean", None), ("mean", 17), ("sum", None)],
    ids=["mean", "num_items", "sum"],
)
def test_equals_the_paper_loop_values_and_gradients(reduction, num_items):
    batch = lm_batch()
    labels = batch["labels"]
    count = int((labels[:, 1:] != -100).sum())
    divisor = None if reduction == "sum" else (num_items or count)
    expected = _paper_loop(logits_of(batch), labels, 0.3, divisor)
    got = resolve_loss("z_loss", weight=0.3, reduction=reduction, num_items_in_batch=num_items)(
        {"logits": logits_of(batch)}, {"labels": labels}
    )
    torch.testing.assert_close(got["loss"], expected, rtol=0, atol=1e-12)
    for g, e in zip(
        torch.autograd.grad(got["loss"], leaves(batch)),
        torch.autograd.grad(expected, leaves(batch)),
        strict=True,
    ):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)
    assert int(got["metrics"]["num_tokens"]) == count


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_the_z_term_of_core_token_ce(dtype):
    """z_loss added to the plain cross-entropy is token_ce with z_loss=w, and
    its value is token_ce's z_loss metric: values and logits gradients."""
    torch.manual_seed(1)
    logits = (3 * torch.randn(3, 6, 17, dtype=dtype)).requires_grad_(True)
    labels = torch.randint(0, 17, (3, 6))
    labels[0, :4] = -100
    tol = {"rtol": 0, "atol": 1e-7 if dtype == torch.float64 else 1e-5}
    out, tg = {"logits": logits}, {"labels": labels}
    ours = resolve_loss("z_loss", weight=1e-2)(out, tg)["loss"]
    combined = resolve_loss("token_ce", shift=True, z_loss=1e-2)(out, tg)
    plain = LOSSES["token_ce"](out, tg, shift=True)
    torch.testing.assert_close(ours, combined["metrics"]["z_loss"], **tol)
    torch.testing.assert_close(ours + plain, combined["loss"], **tol)
    (g_ours,) = torch.autograd.grad(ours + plain, logits)
    (g_ref,) = torch.autograd.grad(combined["loss"], logits)
    torch.testing.assert_close(g_ours, g_ref, **tol)


def test_default_weight_is_palm_1e_4_and_the_metric_is_the_mean_log_z():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    labels = batch["labels"]
    result = resolve_loss("z_loss")({"logits": logits}, {"labels": labels})
    mask = labels[:, 1:] != -100
    lse = torch.logsumexp(logits[:, :-1], dim=-1)[mask]
    torch.testing.assert_close(result["loss"], 1e-4 * lse.square().mean(), rtol=0, atol=1e-15)
    torch.testing.assert_close(result["metrics"]["log_z"], lse.mean(), rtol=0, atol=1e-12)


def test_shift_false_scores_each_position_against_its_own_label():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    labels = batch["labels"]
    got = LOSSES["z_loss"]({"logits": logits}, {"labels": labels}, shift=False, weight=1.0)
    lse = torch.logsumexp(logits, dim=-1)[labels != -100]
    torch.testing.assert_close(got, lse.square().mean(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 3, N])
@pytest.mark.parametrize("bias", [True, False])
def test_chunked_path_equals_logits_path(chunk_size, bias):
    assert_chunked_equals_logits("z_loss", chunk_size, bias=bias, weight=0.5, num_items_in_batch=9)


def test_chunked_path_under_torch_compile():
    assert_compiled_chunked_value("z_loss", weight=0.5)


def test_no_target_token_gives_a_connected_zero():
    assert_all_ignored_is_connected_zero("z_loss")


def test_bfloat16_is_computed_in_float32():
    batch = lm_batch(torch.float32)
    logits = logits_of(batch).detach()
    low = logits.bfloat16().requires_grad_(True)
    got = LOSSES["z_loss"]({"logits": low}, {"labels": batch["labels"]}, weight=1.0)
    assert got.dtype == torch.float32
    expected = LOSSES["z_loss"]({"logits": low.detach().float()}, {"labels": batch["labels"]}, weight=1.0)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    got.backward()
    assert low.grad is not None and low.grad.dtype == torch.bfloat16


def test_conforms():
    assert_conforms("z_loss")


def test_from_yaml_config_alone_and_as_a_composite_term(tmp_path):
    batch = lm_batch()
    out, tg = {"logits": logits_of(batch).detach()}, {"labels": batch["labels"]}
    path = tmp_path / "loss.yaml"
    path.write_text("loss:\n  type: z_loss\n  kwargs: {weight: 0.001}\n", encoding="utf-8")
    torch.testing.assert_close(
        loss_from_config(path)(out, tg)["loss"], LOSSES["z_loss"](out, tg, weight=0.001), rtol=0, atol=0
    )
    path.write_text(
        "loss:\n  terms:\n    - {type: token_ce, kwargs: {shift: true}}\n    - {type: z_loss}\n",
        encoding="utf-8",
    )
    expected = LOSSES["token_ce"](out, tg, shift=True, z_loss=1e-4)
    torch.testing.assert_close(loss_from_config(path)(out, tg)["loss"], expected, rtol=0, atol=1e-12)


def test_bad_inputs_and_parameters_raise_clear_errors():
    batch = lm_batch()
    logits = logits_of(batch).detach()
    tg = {"labels": batch["labels"]}
    with pytest.raises(LossInputError, match=r"z_loss: model_output has none of 'logits'"):
        LOSSES["z_loss"]({}, tg)
    with pytest.raises(LossInputError, match=r"z_loss: model_output has 'logits' and 'hidden_states'"):
        LOSSES["z_loss"]({"logits": logits, **hidden_output(batch)}, tg)
    with pytest.raises(LossInputError, match=r"z_loss: input 'hidden_states' needs input 'lm_head_weight'"):
        LOSSES["z_loss"]({"hidden_states": batch["hidden"]}, tg)
    with pytest.raises(LossInputError, match=r"z_loss.*'labels'"):
        LOSSES["z_loss"]({"logits": logits}, {"labels": batch["labels"][:, :-1]})
    with pytest.raises(LossInputError, match=r"z_loss.*'labels'.*integer"):
        LOSSES["z_loss"]({"logits": logits}, {"labels": batch["labels"].float()})
    with pytest.raises(LossParameterError, match=r"'z_loss'.*'chunk_size' only applies to .*hidden_states"):
        LOSSES["z_loss"]({"logits": logits}, tg, chunk_size=4)
    with pytest.raises(
        LossParameterError, match=r"'z_loss'.*'num_items_in_batch' only applies to reduction='mean'"
    ):
        LOSSES["z_loss"]({"logits": logits}, tg, reduction="sum", num_items_in_batch=4)
    with pytest.raises(LossParameterError, match=r"'z_loss'.*'weight'.*>= 0"):
        resolve_loss("z_loss", weight=-1.0)
    with pytest.raises(LossParameterError, match=r"'z_loss'.*'reduction'"):
        resolve_loss("z_loss", reduction="none")
    with pytest.raises(LossParameterError, match=r"'z_loss'.*'chunk_size'.*>= 1"):
        resolve_loss("z_loss", chunk_size=0)
