"""Padded ranking lists ``[batch, list]``: the padding mask and the ranking
arithmetic shared by the learning-to-rank losses and :mod:`losses_ranking.metrics`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from losses_core.tensors import at_least_float32

__all__ = [
    "RankingLists",
    "build_lists",
    "cutoff_mask",
    "discounts",
    "gains",
    "ideal_dcg",
    "order",
    "order_and_mask",
]


@dataclass(frozen=True)
class RankingLists:
    """Validated ranking inputs.

    ``scores``: floating ``[B, L]`` (float32 at least), ``relevance``: the
    labels in the scores' dtype (padded entries hold whatever the input had:
    every use masks them), ``mask``: bool, True for a real item.
    """

    scores: torch.Tensor
    relevance: torch.Tensor
    mask: torch.Tensor


def build_lists(
    scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor | None, padded_value: float | None
) -> RankingLists:
    """The lists in their working dtype, with the padding mask derived.

    Padding: a ``mask`` alone marks the real items when given (bool, or
    nonzero = real); otherwise items whose relevance equals ``padded_value``
    (allRank's ``-1``) are padding; ``padded_value=None`` means no padding.
    Shapes are the caller's to check (the losses declare them as inputs).
    """
    if mask is not None:
        real = mask if mask.dtype == torch.bool else mask != 0
    elif padded_value is not None:
        real = relevance != padded_value
    else:
        real = torch.ones_like(scores, dtype=torch.bool)
    work = at_least_float32(scores)
    return RankingLists(scores=work, relevance=relevance.to(work.dtype), mask=real)


def order(key: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Indices that sort ``key`` descending with padded items last; ties keep
    their original order (stable sort). ``key`` is detached."""
    return order_and_mask(key, mask)[0]


def order_and_mask(key: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`order` and the mask in that order (True for the real items,
    which come first), without a second gather."""
    values, indices = torch.sort(
        torch.where(mask, key.detach(), -math.inf), dim=-1, descending=True, stable=True
    )
    return indices, values > -math.inf


def gains(relevance: torch.Tensor, mask: torch.Tensor, gain: str) -> torch.Tensor:
    """``2^y - 1`` (``gain="exp2"``) or ``y`` (``"linear"``) per item; negative
    labels count as 0 (as in allRank) and padded items have gain 0."""
    rel = relevance.clamp_min(0)
    value = torch.exp2(rel) - 1 if gain == "exp2" else rel
    return torch.where(mask, value, torch.zeros_like(value))


def discounts(length: int, like: torch.Tensor) -> torch.Tensor:
    """``1 / log2(1 + r)`` for ranks ``r = 1..length``, shape ``[length]``."""
    ranks = torch.arange(1, length + 1, device=like.device, dtype=like.dtype)
    return 1.0 / torch.log2(1.0 + ranks)


def cutoff_mask(length: int, k: int | None, like: torch.Tensor) -> torch.Tensor:
    """Bool ``[length]``: True for the first ``k`` ranks (all when ``k`` is None)."""
    ranks = torch.arange(length, device=like.device)
    if k is None:
        return torch.ones(length, dtype=torch.bool, device=like.device)
    return ranks < k


def ideal_dcg(item_gains: torch.Tensor, k: int | None) -> torch.Tensor:
    """The best achievable DCG@k per list, ``[B]`` (gains sorted descending)."""
    best = torch.sort(item_gains, dim=-1, descending=True).values
    disc = discounts(item_gains.shape[-1], item_gains)
    disc = torch.where(cutoff_mask(item_gains.shape[-1], k, item_gains), disc, torch.zeros_like(disc))
    return (best * disc).sum(dim=-1)
