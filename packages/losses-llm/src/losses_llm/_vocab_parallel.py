"""Vocabulary parallelism: each rank of a process group holds a contiguous,
equal slice of the vocabulary.

The layout is Megatron-LM's ``VocabParallelEmbedding`` / column-parallel LM
head (and torchtitan's loss-parallel one): with ``W`` ranks and ``V_local``
vocabulary entries per rank, rank ``r`` holds ids ``[r * V_local, (r + 1) *
V_local)``, its logits ``[..., V_local]`` or its head shard ``[V_local, H]``;
the full vocabulary is ``W * V_local``. Every rank holds the same tokens (the
same labels, the same hidden states): the group is the tensor-parallel group,
not the data-parallel one.

This module finds the shard (checking that every rank has the same
``V_local``), all-reduces the per-row statistics of the loss, and gives the
hidden states of the chunked path the backward all-reduce of a column-parallel
linear layer's input (Megatron's ``copy_to_tensor_model_parallel_region``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from losses_core import LossInputError

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["VocabShard", "all_reduce_max_", "all_reduce_sum_", "copy_to_vocab_shards", "vocab_shard"]


@dataclass(frozen=True)
class VocabShard:
    """This rank's slice of the vocabulary.

    :param group: the process group over which the vocabulary is split
        (``None``: the default group).
    :param rank: this rank's index in the group.
    :param world_size: the group's size.
    :param local_size: ``V_local``, the vocabulary entries of every rank.
    """

    group: ProcessGroup | None
    rank: int
    world_size: int
    local_size: int

    @property
    def offset(self) -> int:
        """The first vocabulary id of this rank: ``rank * local_size``."""
        return self.rank * self.local_size

    @property
    def vocab_size(self) -> int:
        """The whole vocabulary: ``world_size * local_size``."""
        return self.world_size * self.local_size


def vocab_shard(
    loss: str, what: str, local_size: int, device: torch.device, process_group: ProcessGroup | None
) -> VocabShard | None:
    """This rank's shard of a vocabulary split over ``process_group`` (the
    default group when ``None``); ``None`` when torch.distributed is not
    initialised or the group has one rank (the whole vocabulary is local).

    Every rank must call it (one all-reduce checks that the shards have equal
    sizes); ranks whose sizes differ all raise :class:`LossInputError`.

    :param what: the input whose last dimension is ``local_size``, for the error.
    """
    if not dist.is_available() or not dist.is_initialized():
        return None
    world = dist.get_world_size(process_group)
    if world == 1:
        return None
    rank = dist.get_rank(process_group)
    sizes = torch.tensor([local_size, -local_size], dtype=torch.int64, device=device)
    dist.all_reduce(sizes, op=dist.ReduceOp.MAX, group=process_group)
    largest, smallest = int(sizes[0]), -int(sizes[1])
    if largest != smallest:
        raise LossInputError(
            f"{loss}: vocab_parallel=True needs equal vocabulary shards on the {world} ranks (rank r holds "
            f"the contiguous ids [r * V_local, (r + 1) * V_local)); the vocabulary size of input {what!r} "
            f"is {local_size} on rank {rank} and ranges from {smallest} to {largest} over the ranks"
        )
    return VocabShard(process_group, rank, world, local_size)


def all_reduce_max_(tensor: torch.Tensor, shard: VocabShard) -> None:
    """In-place elementwise maximum of ``tensor`` over the shard's group."""
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=shard.group)


def all_reduce_sum_(tensor: torch.Tensor, shard: VocabShard) -> None:
    """In-place elementwise sum of ``tensor`` over the shard's group."""
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=shard.group)


def copy_to_vocab_shards(hidden: torch.Tensor, shard: VocabShard) -> torch.Tensor:
    """``hidden`` itself in the forward pass; in the backward pass the sum of
    its gradient over the group, so that every rank receives the gradient of
    the whole vocabulary's loss (each rank's head shard contributes its part)."""
    out: torch.Tensor = _CopyToShards.apply(hidden, shard)  # type: ignore[no-untyped-call]
    return out


class _CopyToShards(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, shard: VocabShard) -> torch.Tensor:
        ctx.shard = shard
        return hidden.view_as(hidden)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        total = grad.contiguous().clone()
        all_reduce_sum_(total, ctx.shard)
        return total, None
