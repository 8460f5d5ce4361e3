"""Reading padded ranking lists ``[batch, list]`` and the ranking arithmetic
shared by the learning-to-rank losses and :mod:`losses_ranking.metrics`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from losses_core._errors import LossInputError
from losses_core.inputs import check_same_shape, optional_tensor, require_tensor
from losses_ranking._common import compute_dtype

__all__ = ["RankingLists", "discounts", "gains", "ideal_dcg", "order", "read_lists"]


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
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None,
    padded_value: float | None,
    *,
    loss: str,
    names: tuple[str, str, str] = ("scores", "relevance", "mask"),
) -> RankingLists:
    """Check shapes and derive the padding mask."""
    if scores.ndim != 2:
        raise LossInputError(f"{loss}: {names[0]} must be [batch, list], got shape {tuple(scores.shape)}")
    check_same_shape(scores, relevance, loss=loss, names=(names[0], names[1]))
    if mask is not None:
        check_same_shape(scores, mask, loss=loss, names=(names[0], names[2]))
        real = mask if mask.dtype == torch.bool else mask != 0
    elif padded_value is not None:
        real = relevance != padded_value
    else:
        real = torch.ones_like(scores, dtype=torch.bool)
    work = compute_dtype(scores)
    return RankingLists(scores=work, relevance=relevance.to(work.dtype), mask=real)


def read_lists(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    scores_key: str,
    relevance_key: str,
    mask_key: str | None,
    padded_value: float | None,
) -> RankingLists:
    """Fetch ``model_output[scores_key]``, ``targets[relevance_key]`` and the
    optional ``targets[mask_key]``.

    Padding: when ``targets[mask_key]`` is present it alone marks the real
    items (bool, or nonzero = real); otherwise items whose relevance equals
    ``padded_value`` (allRank's ``-1``) are padding; ``padded_value=None``
    means no padding at all.
    """
    scores = require_tensor(model_output, scores_key, loss=loss, source="model_output", ndim=2, floating=True)
    relevance = require_tensor(targets, relevance_key, loss=loss, source="targets", ndim=2)
    mask = optional_tensor(targets, mask_key, loss=loss, source="targets", ndim=2)
    return build_lists(
        scores,
        relevance,
        mask,
        padded_value,
        loss=loss,
        names=(
            f"model_output[{scores_key!r}]",
            f"targets[{relevance_key!r}]",
            f"targets[{mask_key!r}]",
        ),
    )


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
