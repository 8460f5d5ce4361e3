r"""Gathering embeddings from every process, with gradient.

Contract used by ``clip``, ``siglip``, ``ntxent`` and ``supcon`` with
``distributed=True``:

- When ``torch.distributed`` is unavailable or not initialised (or the world
  has one process) nothing happens: the loss is the single-process loss.
- Otherwise every process contributes a batch of the *same size* ``n``; the
  embeddings are concatenated in rank order (global batch ``W * n``) by an
  all-gather whose backward sums, over all processes, the gradients that
  reached each process's slot and hands each process the part for its own
  inputs (an all-reduce followed by a slice, i.e. a reduce-scatter).

Consequence (the scaling rule, identical for ``local_loss`` False and True):
if :math:`L` is the single-process loss on the concatenated batch, the
gradient that reaches a process's local embeddings is
:math:`W \cdot \partial L / \partial x_{\text{local}}`. DistributedDataParallel
averages parameter gradients over the :math:`W` processes, which divides by
:math:`W` again, so training with DDP follows exactly the gradient of
:math:`L`. Without DDP, divide by :math:`W` yourself. Scalars that are not
gathered (CLIP/SigLIP's logit scale and bias) get per-process gradients whose
mean over the processes is :math:`\partial L / \partial t`, again what DDP's
averaging produces.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

__all__ = ["all_gather_no_grad", "all_gather_with_grad", "all_reduce_sum", "local_rows", "world"]


def world(enabled: bool) -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, or ``(0, 1)`` when
    ``enabled`` is false or ``torch.distributed`` is not initialised."""
    if not enabled or not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        size = dist.get_world_size()
        ctx.rank = dist.get_rank()
        ctx.rows = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> torch.Tensor:
        total = grad_outputs[0].contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return total[start : start + ctx.rows]


def all_gather_with_grad(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate ``tensor`` from every process along dim 0 (rank order),
    differentiably; the identity when ``world_size == 1``."""
    if world_size == 1:
        return tensor
    out: torch.Tensor = _GatherWithGrad.apply(tensor)  # type: ignore[no-untyped-call]
    return out


def all_gather_no_grad(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate ``tensor`` (labels, counts) from every process along dim 0."""
    if world_size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_sum(tensor: torch.Tensor, world_size: int) -> torch.Tensor:
    """The sum of ``tensor`` over processes (no gradient), a new tensor."""
    if world_size == 1:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def local_rows(tensor: torch.Tensor, offset: int, count: int) -> torch.Tensor:
    """``tensor[offset : offset + count]``, or ``tensor`` itself when that is
    every row: a full slice would still add a backward node that allocates a
    zero tensor and copies the gradient into it."""
    if offset == 0 and count == tensor.shape[0]:
        return tensor
    return tensor[offset : offset + count]
