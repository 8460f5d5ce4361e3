r"""Ranking metrics: DCG@k, NDCG@k and MRR@k over padded lists ``[batch, list]``.

Conventions (shared with the learning-to-rank losses):

- Items are ranked by ``scores``, descending; ties keep their original order
  (a stable sort), so the metrics are deterministic.
- Gains are :math:`2^{y}-1` (``gain="exp2"``, the default, as in allRank) or
  :math:`y` (``gain="linear"``); negative labels count as 0. The discount of
  rank :math:`r` (1-based) is :math:`1/\log_2(1+r)`.
- Padding: an explicit ``mask`` (True = real item) or, when no mask is given,
  items whose relevance equals ``padded_value`` (default ``-1``, allRank's
  sentinel; ``None`` = no padding). Padded items never count.
- ``k=None`` evaluates the whole list.

Every function returns one value per list, ``[batch]``, detached.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch

from losses_core import LossInputError, LossParameterError, Range
from losses_core.params import annotation_checker
from losses_core.reduction import safe_divide
from losses_ranking._lists import RankingLists, build_lists, cutoff_mask, discounts, gains, ideal_dcg, order

__all__ = ["dcg", "mrr", "ndcg"]

Gain = Literal["exp2", "linear"]
"""The gain of a label: ``2^y - 1`` (``"exp2"``) or ``y`` (``"linear"``)."""

Cutoff = Annotated[int, Range(ge=1)] | None
"""A rank cutoff ``k``: a positive int, or ``None`` for the whole list."""

_CHECKERS = {"k": annotation_checker(Cutoff), "gain": annotation_checker(Gain)}


def _check_parameter(name: str, parameter: str, value: Any) -> None:
    problem = _CHECKERS[parameter](value)
    if problem is not None:
        raise LossParameterError(f"{name}: parameter {parameter!r} {problem}")


def _lists(
    name: str,
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None,
    padded_value: float | None,
    k: int | None,
) -> RankingLists:
    """Check the arguments of a metric and read its lists (detached)."""
    _check_parameter(name, "k", k)
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise LossInputError(f"{name}: input 'scores' must be a [batch, list] tensor, got {shape}")
    for what, other in (("relevance", relevance), ("mask", mask)):
        if other is not None and (not isinstance(other, torch.Tensor) or other.shape != scores.shape):
            shape = tuple(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
            raise LossInputError(
                f"{name}: input {what!r} must be a tensor of the scores' shape {tuple(scores.shape)}, "
                f"got {shape}"
            )
    return build_lists(scores.detach(), relevance.detach(), mask, padded_value)


def _dcg_parts(lists: RankingLists, k: int | None, gain: Gain) -> tuple[torch.Tensor, torch.Tensor]:
    """``(DCG@k, ideal DCG@k)`` per list."""
    item_gains = gains(lists.relevance, lists.mask, gain)
    ranked = torch.gather(item_gains, -1, order(lists.scores, lists.mask))
    length = item_gains.shape[-1]
    disc = discounts(length, item_gains)
    disc = torch.where(cutoff_mask(length, k, item_gains), disc, torch.zeros_like(disc))
    return (ranked * disc).sum(dim=-1), ideal_dcg(item_gains, k)


def dcg(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    *,
    k: int | None = None,
    mask: torch.Tensor | None = None,
    padded_value: float | None = -1.0,
    gain: Gain = "exp2",
) -> torch.Tensor:
    r"""DCG@k per list: :math:`\sum_{r=1}^{k} g(y_{\pi(r)}) / \log_2(1+r)`,
    :math:`\pi` the ranking by ``scores``."""
    _check_parameter("dcg", "gain", gain)
    lists = _lists("dcg", scores, relevance, mask, padded_value, k)
    return _dcg_parts(lists, k, gain)[0]


def ndcg(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    *,
    k: int | None = None,
    mask: torch.Tensor | None = None,
    padded_value: float | None = -1.0,
    gain: Gain = "exp2",
    no_relevant_value: float = 0.0,
) -> torch.Tensor:
    r"""NDCG@k per list: DCG@k divided by the ideal DCG@k (the DCG of the
    labels sorted descending).

    A list whose ideal DCG is 0 (no relevant item, or only padding) has no
    ranking to judge; it gets ``no_relevant_value``, by default 0. This is
    **not** allRank's convention: allRank's ``ndcg`` fills 1.0 there
    (``filler_value=1.0``), which is what ``no_relevant_value=1.0`` gives.
    0 is the default because such a list says nothing about the scores:
    counting it as perfect would raise a mean NDCG whatever the model does (a
    batch in which most lists have no relevant item would score close to 1).
    scikit-learn's ``ndcg_score`` gives 0 there too. The ``ndcg`` metric that
    the losses report leaves such lists out of its mean altogether.
    """
    _check_parameter("ndcg", "gain", gain)
    lists = _lists("ndcg", scores, relevance, mask, padded_value, k)
    actual, ideal = _dcg_parts(lists, k, gain)
    value = safe_divide(actual, ideal)
    return torch.where(ideal > 0, value, torch.full_like(value, no_relevant_value))


def mrr(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    *,
    k: int | None = None,
    mask: torch.Tensor | None = None,
    padded_value: float | None = -1.0,
) -> torch.Tensor:
    r"""Reciprocal rank per list: :math:`1/r` for the rank :math:`r` of the
    first relevant item (relevance > 0) in the ranking by ``scores``, 0 when
    no relevant item is within the top ``k``."""
    lists = _lists("mrr", scores, relevance, mask, padded_value, k)
    return _reciprocal_rank(lists, k)


def _reciprocal_rank(lists: RankingLists, k: int | None) -> torch.Tensor:
    relevant = (lists.relevance > 0) & lists.mask
    ranked = torch.gather(relevant, -1, order(lists.scores, lists.mask))
    length = ranked.shape[-1]
    ranks = torch.arange(1, length + 1, device=ranked.device, dtype=lists.scores.dtype)
    hit = ranked & cutoff_mask(length, k, lists.scores)
    return torch.where(hit, 1.0 / ranks, torch.zeros_like(ranks)).amax(dim=-1)


def summary(
    lists: RankingLists,
    k: int | None = None,
    *,
    score_order: torch.Tensor | None = None,
    ideal_order: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The metrics every learning-to-rank loss reports, detached:

    - ``ndcg``: mean NDCG over the lists with a relevant item (ideal DCG > 0);
    - ``ndcg@k``: the same at the loss's cutoff ``k``, when it has one;
    - ``mrr``: mean reciprocal rank over the same lists.

    ``score_order`` (indices ranking each list by score, padded last) and
    ``ideal_order`` (indices sorting by relevance, descending) may be passed
    when the loss already computed them, to save the sorts.
    """
    with torch.no_grad():
        item_gains = gains(lists.relevance.detach(), lists.mask, "exp2")
        if score_order is None:
            score_order = order(lists.scores, lists.mask)
        ranked = torch.gather(item_gains, -1, score_order)
        if ideal_order is None:
            ideal = torch.sort(item_gains, dim=-1, descending=True).values
        else:
            ideal = torch.gather(item_gains, -1, ideal_order)
        length = item_gains.shape[-1]
        rank = torch.arange(1, length + 1, device=item_gains.device, dtype=item_gains.dtype)
        disc = 1.0 / torch.log2(1.0 + rank)
        ideal_dcg_full = ideal @ disc
        has_relevant = ideal_dcg_full > 0
        count = has_relevant.sum().clamp_min(1).to(item_gains.dtype)
        tiny = torch.finfo(item_gains.dtype).tiny
        # a list without a relevant item has DCG 0 and contributes 0
        out = {"ndcg": ((ranked @ disc) / ideal_dcg_full.clamp_min(tiny)).sum() / count}
        if k is not None:
            disc_k = torch.where(rank <= k, disc, 0.0)
            out[f"ndcg@{k}"] = ((ranked @ disc_k) / (ideal @ disc_k).clamp_min(tiny)).sum() / count
        # gains are > 0 exactly for relevant items (relevance > 0)
        out["mrr"] = torch.where(ranked > 0, 1.0 / rank, 0.0).amax(dim=-1).sum() / count
    return out
