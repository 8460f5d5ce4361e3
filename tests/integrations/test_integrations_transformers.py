"""TrainerLoss in a real Hugging Face Trainer (transformers 5, accelerate):
training with ``compute_loss_func=TrainerLoss(...)`` is training with the
model's own causal-LM loss, step for step, under gradient accumulation."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from _tiny_lm import tiny_llama, token_rows
from transformers import Trainer, TrainingArguments

from losses_core import LossModule, resolve_loss
from losses_core.integrations.transformers import TrainerLoss

STEPS = 3
BATCH = 4
ACCUMULATION = 2


def token_mean_ce(model_output: dict[str, Any], targets: dict[str, Any]) -> torch.Tensor:
    """A user's loss without ``num_items_in_batch``: the mean over target tokens."""
    logits = model_output["logits"]
    return F.cross_entropy(logits.flatten(0, 1).float(), targets["labels"].flatten(), ignore_index=-100)


class Recorder:
    """A ``compute_loss_func`` that records each call's ``num_items_in_batch``
    and labels, then calls ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[int, torch.Tensor]] = []

    def __call__(self, outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        self.calls.append((int(num_items_in_batch), labels.clone()))
        return self.inner(outputs, labels, num_items_in_batch=num_items_in_batch)


class LogitsOnly(torch.nn.Module):
    """A module around a causal LM that returns a dict of logits: not a
    transformers causal LM, so the Trainer counts every label that is not
    -100, the first of each row included."""

    def __init__(self) -> None:
        super().__init__()
        self.lm = tiny_llama()

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        logits = self.lm(input_ids=input_ids).logits
        if labels is None:
            return {"logits": logits}
        count = kwargs.get("num_items_in_batch")  # the Trainer passes it to a forward with **kwargs
        loss = self.lm.loss_function(logits, labels, self.lm.config.vocab_size, num_items_in_batch=count)
        return {"logits": logits, "loss": loss}


def train(
    model: torch.nn.Module, rows: list[dict[str, torch.Tensor]], compute_loss_func: Any = None
) -> Trainer:
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir,
            max_steps=STEPS,
            per_device_train_batch_size=BATCH,
            gradient_accumulation_steps=ACCUMULATION,
            optim="sgd",  # Adam turns the rounding differences of near-zero gradients into whole steps
            learning_rate=0.5,
            lr_scheduler_type="constant",
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            remove_unused_columns=False,
        )
        trainer = Trainer(model=model, args=args, train_dataset=rows, compute_loss_func=compute_loss_func)
        trainer.train()
    return trainer


def logged_losses(trainer: Trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, torch.Tensor]]:
    return token_rows(STEPS * BATCH * ACCUMULATION)


@pytest.fixture(scope="module")
def own_loss_run(rows):
    """The model trained with its own loss (ForCausalLMLoss): labels reach
    the model, with the Trainer's num_items_in_batch."""
    model = tiny_llama()
    trainer = train(model, rows)
    return logged_losses(trainer), {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "loss",
    ["token_ce", "causal_lm", token_mean_ce],
    ids=["token_ce", "causal_lm", "a loss without num_items_in_batch"],
)
def test_training_with_trainer_loss_is_training_with_the_models_own_loss(loss, rows, own_loss_run):
    if loss == "causal_lm":
        pytest.importorskip("losses_llm")
    own_losses, own_weights = own_loss_run
    model = tiny_llama()
    recorder = Recorder(TrainerLoss(loss))
    trainer = train(model, rows, recorder)

    assert len(own_losses) == STEPS
    assert logged_losses(trainer) == pytest.approx(own_losses, rel=1e-5)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, own_weights[name], rtol=1e-4, atol=1e-5, msg=name)
    # the micro-batches of a step hold different numbers of target tokens, so
    # a mean per micro-batch would not be the step's mean; the Trainer's count
    # is the step's shifted target tokens (a causal LM's loss_type)
    counts = [int((labels[:, 1:] != -100).sum()) for _, labels in recorder.calls]
    assert len(recorder.calls) == STEPS * ACCUMULATION
    for step in range(STEPS):
        first, second = counts[2 * step], counts[2 * step + 1]
        assert first != second
        assert recorder.calls[2 * step][0] == recorder.calls[2 * step + 1][0] == first + second


def test_a_mean_per_micro_batch_would_not_match(rows, own_loss_run):
    """What the comparison above tells apart: the same loss given no count
    (a plain mean per micro-batch, which the Trainer does not divide by the
    accumulation steps) logs about twice the model's loss."""
    own_losses, _ = own_loss_run

    def per_micro_batch(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        return resolve_loss("token_ce", shift=True)(dict(outputs), {"labels": labels})["loss"]

    trainer = train(tiny_llama(), rows, per_micro_batch)
    assert logged_losses(trainer)[0] == pytest.approx(ACCUMULATION * own_losses[0], rel=0.05)
    assert logged_losses(trainer)[0] != pytest.approx(own_losses[0], rel=0.05)


def test_a_wrapper_module_is_counted_with_each_rows_first_label():
    """The Trainer counts ``labels != -100`` for a module that is not a
    transformers causal LM; with -100 as each row's first label, the count
    is right and TrainerLoss trains as the model's own loss does."""
    scored_first = token_rows(STEPS * BATCH * ACCUMULATION)
    recorder = Recorder(TrainerLoss("token_ce"))
    train(LogitsOnly(), scored_first[: BATCH * ACCUMULATION], recorder)
    _, labels = recorder.calls[0]
    count = int((labels != -100).sum()) + int((recorder.calls[1][1] != -100).sum())
    assert recorder.calls[0][0] == count  # the first labels counted, though nothing predicts them

    rows = token_rows(STEPS * BATCH * ACCUMULATION, first_label_scored=False)
    own = LogitsOnly()
    own_losses = logged_losses(train(own, rows))
    model = LogitsOnly()
    losses = logged_losses(train(model, rows, TrainerLoss("token_ce")))
    assert losses == pytest.approx(own_losses, rel=1e-5)
    for (name, value), expected in zip(model.state_dict().items(), own.state_dict().values(), strict=True):
        torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-5, msg=name)


def test_a_loss_module_with_class_weights_is_used_as_it_is(rows):
    """Each call's loss is the class-weighted token sum over the step's count."""
    weights = torch.linspace(0.5, 2.0, 64)
    module = LossModule("token_ce", class_weights=weights)
    adapter = TrainerLoss(module)
    assert adapter.module is module
    seen: list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]] = []

    def recording(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        loss = adapter(outputs, labels, num_items_in_batch)
        seen.append((outputs["logits"].detach(), labels, int(num_items_in_batch), loss.detach()))
        return loss

    train(tiny_llama(), rows, recording)
    assert len(seen) == STEPS * ACCUMULATION
    for logits, labels, count, loss in seen:
        targets = F.pad(labels[:, 1:], (0, 1), value=-100)
        per_token = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), weight=weights, reduction="none")
        torch.testing.assert_close(loss, per_token.sum() / count)
