"""TrainerLoss, the Hugging Face Trainer's compute_loss_func, called as the
Trainer calls it: the label shift, num_items_in_batch, a loss without it,
the outputs it reads and its errors. (tests/integrations trains with a real
Trainer.)"""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from losses_core import LossInputError, LossModule, LossParameterError, resolve_loss
from losses_core.integrations.transformers import TrainerLoss

VOCAB = 11


def lm_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """``[3, 7, V]`` logits and unshifted labels: ignored tokens, and a first
    label that is scored (nothing predicts it)."""
    generator = torch.Generator()
    logits = torch.randn(3, 7, VOCAB, generator=generator, requires_grad=True)
    labels = torch.randint(0, VOCAB, (3, 7), generator=generator)
    labels[0, 4:] = -100
    labels[1, 1] = -100
    return logits, labels


def causal_reference(logits: torch.Tensor, labels: torch.Tensor, count: float | None = None) -> torch.Tensor:
    """Position t predicts labels[:, t + 1]: the summed cross-entropy over
    the count (the number of shifted target tokens by default)."""
    targets = labels[:, 1:].flatten()
    total = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets, ignore_index=-100, reduction="sum")
    return total / ((targets != -100).sum() if count is None else count)


def token_mean(model_output, targets):
    """A loss that takes no num_items_in_batch: the mean over target tokens."""
    return F.cross_entropy(
        model_output["logits"].flatten(0, 1), targets["labels"].flatten(), ignore_index=-100
    )


def test_token_ce_gets_the_shift_right():
    logits, labels = lm_batch()
    adapter = TrainerLoss("token_ce")
    torch.testing.assert_close(adapter({"logits": logits}, labels), causal_reference(logits, labels))
    # a loss bound with its own shift=True is not shifted twice
    bound = TrainerLoss(resolve_loss("token_ce", shift=True))
    torch.testing.assert_close(bound({"logits": logits}, labels), causal_reference(logits, labels))


def test_causal_lm_gets_the_shift_right():
    pytest.importorskip("losses_llm")
    logits, labels = lm_batch()
    for adapter in (TrainerLoss("causal_lm"), TrainerLoss("causal_lm", shift=True)):
        torch.testing.assert_close(adapter({"logits": logits}, labels), causal_reference(logits, labels))


def test_transformers_for_causal_lm_loss_is_the_same():
    loss_utils = pytest.importorskip("transformers.loss.loss_utils")
    logits, labels = lm_batch()
    for count in (None, torch.tensor(9), 13):
        expected = loss_utils.ForCausalLMLoss(logits, labels, VOCAB, num_items_in_batch=count)
        for loss in ("token_ce", token_mean):
            actual = TrainerLoss(loss)({"logits": logits}, labels, num_items_in_batch=count)
            torch.testing.assert_close(actual, expected)


def test_num_items_in_batch_divides_the_summed_loss():
    logits, labels = lm_batch()
    for count in (9, torch.tensor(9), torch.tensor([9])):
        for loss in ("token_ce", token_mean):
            actual = TrainerLoss(loss)({"logits": logits}, labels, num_items_in_batch=count)
            torch.testing.assert_close(actual, causal_reference(logits, labels, 9))


def test_micro_batches_add_up_to_the_whole_batchs_mean():
    """Two micro-batches, each divided by the step's count, sum to the
    mean over the step's tokens (what the Trainer back-propagates)."""
    logits, labels = lm_batch()
    whole = causal_reference(logits, labels)
    count = int((labels[:, 1:] != -100).sum())
    for loss in ("token_ce", token_mean):
        adapter = TrainerLoss(loss)
        parts = [
            adapter({"logits": logits[rows]}, labels[rows], count) for rows in (slice(0, 1), slice(1, 3))
        ]
        torch.testing.assert_close(parts[0] + parts[1], whole)
        mean_of_means = sum(adapter({"logits": logits[r]}, labels[r]) for r in (slice(0, 1), slice(1, 3))) / 2
        assert not torch.allclose(mean_of_means, whole)  # the micro-batches hold different token counts


def safe_token_mean(model_output, targets):
    """The mean over target tokens, 0 without any (F.cross_entropy gives NaN)."""
    labels = targets["labels"].flatten()
    total = F.cross_entropy(model_output["logits"].flatten(0, 1), labels, ignore_index=-100, reduction="sum")
    return total / (labels != -100).sum().clamp(min=1)


def test_a_step_without_target_tokens_gives_zero():
    logits, labels = lm_batch()
    labels[:] = -100
    for loss in ("token_ce", safe_token_mean):
        result = TrainerLoss(loss)({"logits": logits}, labels, num_items_in_batch=torch.tensor(0))
        assert result.item() == 0.0
        result.backward()
        assert torch.equal(logits.grad, torch.zeros_like(logits))
        logits.grad = None


def test_shift_false_uses_the_labels_as_they_are():
    generator = torch.Generator()
    logits, labels = torch.randn(8, 4, generator=generator), torch.randint(0, 4, (8,), generator=generator)
    adapter = TrainerLoss("token_ce", shift=False)
    torch.testing.assert_close(adapter({"logits": logits}, labels, 8), F.cross_entropy(logits, labels))
    with pytest.raises(LossInputError, match=r"labels of shape \(8,\) are not token ids .*pass shift=False"):
        TrainerLoss("token_ce")({"logits": logits}, labels)


def test_a_composite_passes_shift_and_count_to_the_terms_that_take_them():
    logits, labels = lm_batch()
    config = {
        "terms": [{"type": "token_ce"}, {"type": "token_ce", "name": "smooth", "kwargs": {"z_loss": 0.1}}]
    }
    result = TrainerLoss(config)({"logits": logits}, labels, 9)
    z = TrainerLoss("token_ce", z_loss=0.1)({"logits": logits}, labels, 9)
    torch.testing.assert_close(result, causal_reference(logits, labels, 9) + z)


def test_the_models_outputs_are_read_as_the_trainer_passes_them():
    logits, labels = lm_batch()
    adapter = TrainerLoss("token_ce")
    expected = causal_reference(logits, labels)
    model_output = OrderedDict(logits=logits)  # a ModelOutput is an OrderedDict
    for outputs in (model_output, logits, (logits, None), [logits]):
        torch.testing.assert_close(adapter(outputs, labels), expected)
    with pytest.raises(LossInputError, match="the model returned str; expected a mapping"):
        adapter("logits", labels)
    with pytest.raises(LossInputError, match=r"labels=None; expected a tensor.*'labels'"):
        adapter(model_output, None)


def test_the_loss_module_follows_the_labels_device():
    adapter = TrainerLoss("token_ce", class_weights=torch.ones(VOCAB))
    logits = torch.randn(2, 5, VOCAB, device="meta")
    labels = torch.zeros(2, 5, dtype=torch.long, device="meta")
    assert adapter({"logits": logits}, labels, torch.tensor(8, device="meta")).device.type == "meta"
    assert adapter.module.class_weights.device.type == "meta"


def test_a_loss_module_is_used_as_it_is_and_parameters_need_a_name():
    module = LossModule("token_ce")
    assert TrainerLoss(module).module is module
    with pytest.raises(LossParameterError, match="already built"):
        TrainerLoss(module, label_smoothing=0.1)
    assert repr(TrainerLoss("token_ce", z_loss=0.1)) == (
        "TrainerLoss(token_ce, z_loss=0.1, shift=True, ignore_index=-100)"
    )
