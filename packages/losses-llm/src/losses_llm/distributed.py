"""Token counts across micro-batches and data-parallel ranks, for
``num_items_in_batch``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from losses_core import LossInputError
from losses_llm._tokens import shift_labels

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["global_num_items"]


def global_num_items(
    labels: torch.Tensor | Sequence[torch.Tensor],
    *,
    ignore_index: int = -100,
    shift: bool = True,
    process_group: ProcessGroup | None = None,
) -> torch.Tensor:
    """The number of target tokens of an optimiser step: over the given
    micro-batches and, when torch.distributed is initialised, over the ranks
    of ``process_group`` (the default group when ``None``), by an all-reduce
    (SUM). Every rank of the group must call it.

    Pass it as ``num_items_in_batch`` to :func:`losses_llm.causal_lm` (or any
    loss of this package with that parameter): each micro-batch's summed loss
    is then divided by the step's global count, so the gradients accumulated
    over micro-batches, summed over ranks, are those of the mean over all the
    step's target tokens. Without it each micro-batch is averaged on its own
    and micro-batches with few target tokens weigh as much as full ones.

    :param labels: the ``[B, T]`` labels of one micro-batch, or a sequence of
        the labels of every micro-batch of this rank's step (their shapes may
        differ).
    :param ignore_index: the label of tokens that are not scored.
    :param shift: count as ``causal_lm(shift=True)`` scores: ``labels[:, 1:]``
        (the last position of each row predicts nothing). Use the loss's value.
    :param process_group: the data-parallel group. With tensor or
        vocabulary parallelism, pass the data-parallel group only: the ranks of
        a tensor-parallel group hold the same tokens and must not be counted
        twice.
    :returns: a 0-dim ``int64`` tensor on the (first) labels' device, where
        the all-reduce runs (NCCL needs the labels on the GPU).

    DDP averages gradients over its ``W`` ranks, so the loss divided by the
    global count must be multiplied by ``W`` for the averaged gradient to be
    the gradient of the global mean. Hugging Face's ``Trainer`` (transformers
    5) does exactly this: it counts ``labels[..., 1:] != -100`` over the
    micro-batches of the accumulation step and, with
    ``average_tokens_across_devices=True`` (the default), gathers and sums the
    count over the processes and multiplies each micro-batch's loss by the
    number of processes (divided by the tensor-parallel size) in
    ``compute_loss``.
    Gradient accumulation over two micro-batches on each data-parallel rank::

        import contextlib

        import torch.distributed as dist
        from losses_llm import causal_lm, global_num_items

        micro_batches = [next(loader), next(loader)]  # this rank's part of the step
        num_items = global_num_items([mb["labels"] for mb in micro_batches])
        world = dist.get_world_size() if dist.is_initialized() else 1
        for mb in micro_batches:
            with model.no_sync() if mb is not micro_batches[-1] else contextlib.nullcontext():
                out = model(input_ids=mb["input_ids"])
                loss = causal_lm(
                    {"logits": out.logits}, {"labels": mb["labels"]}, num_items_in_batch=num_items
                )["loss"]
                (loss * world).backward()  # DDP averages over the ranks: undo it
        optimizer.step()
        optimizer.zero_grad()

    The loss values logged per micro-batch are then shares of the step's
    mean: their sum over micro-batches and ranks is the step's mean loss.
    """
    parts = [labels] if isinstance(labels, torch.Tensor) else list(labels)
    if not parts:
        raise LossInputError("global_num_items: 'labels' is an empty sequence; give at least one micro-batch")
    count = torch.zeros((), dtype=torch.int64, device=parts[0].device)
    for part in parts:
        targets = shift_labels(part, ignore_index) if shift else part
        count = count + (targets != ignore_index).sum().to(count.device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(count, op=dist.ReduceOp.SUM, group=process_group)
    return count
