r"""The Hugging Face ``Trainer``'s ``compute_loss_func`` from a loss.

::

    from transformers import Trainer
    from losses_core.integrations.transformers import TrainerLoss

    trainer = Trainer(model=model, args=args, train_dataset=data,
                      compute_loss_func=TrainerLoss("token_ce"))

The result is the model's own causal-LM loss (transformers' ``ForCausalLMLoss``)
for ``token_ce`` and losses-llm's ``causal_lm``, with gradient accumulation
and several processes. What the ``Trainer`` (transformers 5) does, and what
:class:`TrainerLoss` does about it:

- ``Trainer.compute_loss`` pops ``labels`` from the batch before the
  forward pass (so the model computes no loss of its own) and calls
  ``compute_loss_func(outputs, labels, num_items_in_batch=...)``: ``outputs``
  is what the model returned (a ``ModelOutput``, a mapping with ``logits``,
  or your module's dict) and becomes the loss's ``model_output``; ``labels``
  becomes ``targets["labels"]``.
- The labels of a causal LM are the input ids, unshifted: ``logits[:, t]``
  predicts ``labels[:, t + 1]``. With ``shift=True`` (the default) the
  adapter shifts them as ``ForCausalLMLoss`` does (drop the first, pad the
  end with ``ignore_index``), so every loss sees aligned labels, and passes
  ``shift=False`` to a loss that has a ``shift`` parameter (``token_ce``,
  ``causal_lm``), so nothing is shifted twice.
- ``num_items_in_batch`` is the number of target tokens of the whole
  optimiser step: every gradient-accumulation micro-batch, summed over the
  processes when ``average_tokens_across_devices`` (the default). The
  ``Trainer`` then neither divides a ``compute_loss_func``'s loss by the
  accumulation steps nor averages it over processes (it multiplies it by
  the number of processes, which DDP's gradient mean undoes), so the loss
  of a micro-batch must be its summed token loss divided by that count.
  The adapter passes ``num_items_in_batch`` to a loss that takes it (a
  composite: to the terms that take it, as transformers' own MoE models add
  their auxiliary loss); a loss that does not is taken as a mean over the
  micro-batch's target tokens and multiplied by its count of them over
  ``num_items_in_batch``.
- Which tokens the ``Trainer`` counts: ``labels[..., 1:] != -100`` for a
  model whose ``loss_type`` is transformers' causal-LM loss (every
  ``...ForCausalLM``), and ``labels != -100`` for any other module, such as
  your wrapper around a causal LM, which so counts each row's first label
  although nothing predicts it. Give such a module's batches ``-100`` as
  the first label of every row (it changes no loss) and both counts agree,
  with every transformers version.

A loss's tensor parameters (class weights) follow the labels' device: the
adapter keeps the loss in a :class:`~losses_core.LossModule` and moves it
when the labels arrive on another device. A loss with trained parameters
belongs in the model instead, where the optimiser sees them. This module
imports no part of transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError, capped_repr
from losses_core._resolve import CompositeLoss
from losses_core.module import LossLike, LossModule

__all__ = ["TrainerLoss"]


class TrainerLoss:
    """``Trainer(compute_loss_func=TrainerLoss(loss))``: the loss of the
    model's outputs and the batch's labels, reduced for the ``Trainer``'s
    gradient accumulation and processes (see the module's documentation).

    :param loss: what :class:`~losses_core.LossModule` accepts (a name, a
        dotted path, a callable, a resolved or composite loss, a config), or a
        ``LossModule``.
    :param shift: the labels are the input ids, unshifted (Hugging Face's
        causal-LM convention), and the adapter shifts them; ``False`` for
        labels already aligned with the logits (a classifier's, or a
        collator's shifted ones). Either way a loss's own ``shift``
        parameter is set to ``False``.
    :param ignore_index: the label of tokens that are not scored: the
        padding of the shift, and what the count of a loss without
        ``num_items_in_batch`` leaves out. The ``Trainer`` counts ``-100``.
    :param defaults: the loss's parameters, with a name, path or callable.

    ``trainer_loss.module`` is the :class:`~losses_core.LossModule` called.
    """

    def __init__(
        self, loss: LossLike | LossModule, *, shift: bool = True, ignore_index: int = -100, **defaults: Any
    ) -> None:
        self.module = loss if isinstance(loss, LossModule) and not defaults else LossModule(loss, **defaults)
        self.shift = shift
        self.ignore_index = ignore_index
        terms = _term_parameters(self.module)
        self._overrides: dict[str, Any] = {"shift": False} if any("shift" in names for names in terms) else {}
        self._takes_count = any("num_items_in_batch" in names for names in terms)
        self._device: torch.device | None = None

    def __call__(
        self, outputs: Any, labels: torch.Tensor | None, num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """The loss the ``Trainer`` back-propagates, a 0-dim tensor."""
        if not isinstance(labels, torch.Tensor):
            raise LossInputError(
                f"TrainerLoss: the Trainer passed labels={capped_repr(labels)}; expected a tensor. The "
                f"Trainer gives compute_loss_func the batch's 'labels': give every batch that key"
            )
        if labels.device != self._device:
            self.module.to(labels.device)
            self._device = labels.device
        if self.shift:
            labels = self._shifted(labels)
        model_output = _model_output(outputs)
        overrides: dict[str, Any] = dict(self._overrides)
        step_count = None if num_items_in_batch is None else _step_count(num_items_in_batch)
        if step_count is not None and self._takes_count:
            overrides["num_items_in_batch"] = step_count
        loss: torch.Tensor = self.module(model_output, {"labels": labels}, **overrides)["loss"]
        if step_count is None or self._takes_count:
            return loss
        # a token mean of this micro-batch, as its token sum over the step's count
        count = (labels != self.ignore_index).sum()
        scaled: torch.Tensor = loss * count / torch.as_tensor(step_count, device=loss.device)
        return scaled

    def _shifted(self, labels: torch.Tensor) -> torch.Tensor:
        if labels.ndim < 2:
            raise LossInputError(
                f"TrainerLoss(shift=True): labels of shape {tuple(labels.shape)} are not token ids "
                f"[batch, length]; pass shift=False for labels that are already each position's target"
            )
        return F.pad(labels[..., 1:], (0, 1), value=self.ignore_index)

    def __repr__(self) -> str:
        return (
            f"TrainerLoss({self.module.extra_repr()}, shift={self.shift}, ignore_index={self.ignore_index})"
        )


def _term_parameters(module: LossModule) -> list[frozenset[str]]:
    """The named parameters of the loss, or of each of a composite's terms."""
    loss = module.loss_fn
    resolved = [term for _, _, term in loss.terms] if isinstance(loss, CompositeLoss) else [loss]
    return [frozenset(term.entry.signature.parameters) for term in resolved]


def _step_count(num_items_in_batch: torch.Tensor | int) -> torch.Tensor | int:
    """The Trainer's count as a 0-dim tensor or an int, at least 1 (a step
    without a target token then has the loss 0, not 0/0). Under
    ``DataParallel`` the Trainer repeats the count once per GPU: the first is
    read."""
    if isinstance(num_items_in_batch, torch.Tensor):
        count = num_items_in_batch.reshape(-1)[0] if num_items_in_batch.ndim else num_items_in_batch
        return count.clamp(min=1)
    return max(int(num_items_in_batch), 1)


def _model_output(outputs: Any) -> Mapping[str, Any]:
    """The loss's ``model_output``: a mapping as it is (a ``ModelOutput``),
    a tensor or a tuple's first element as ``logits``."""
    if isinstance(outputs, Mapping):
        return outputs
    if isinstance(outputs, torch.Tensor):
        return {"logits": outputs}
    if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], torch.Tensor):
        return {"logits": outputs[0]}
    raise LossInputError(
        f"TrainerLoss: the model returned {type(outputs).__name__}; expected a mapping (a ModelOutput, "
        f"a dict of the loss's inputs), a logits tensor or a tuple starting with the logits"
    )
