"""RankNet (Burges et al. 2005), the pairwise logistic ranking loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_ranking import metrics
from losses_ranking._common import check_choice, check_positive, check_reduction, detached, safe_divide
from losses_ranking._lists import read_lists
from losses_ranking._ltr import nonempty

__all__ = ["ranknet"]

WEIGHTINGS = ("none", "diff", "diff_powed")


def ranknet(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sigma: float = 1.0,
    weight_by: str = "none",
    reduction: str = "mean",
    scores_key: str = "scores",
    relevance_key: str = "relevance",
    mask_key: str | None = "mask",
    padded_value: float | None = -1.0,
) -> dict[str, Any] | torch.Tensor:
    r"""RankNet, registered as ``ranknet``.

    Over every ordered pair :math:`(i, j)` of real items of the same list with
    :math:`y_i > y_j`:

    .. math:: \ell_{ij} = w_{ij}\,\log\bigl(1 + e^{-\sigma (s_i - s_j)}\bigr)
              = w_{ij}\,\mathrm{BCEWithLogits}(\sigma (s_i - s_j), 1)

    with :math:`w_{ij} = 1` (``weight_by="none"``), :math:`|y_i - y_j|`
    (``"diff"``) or :math:`|y_i^2 - y_j^2|` (``"diff_powed"``), as allRank's
    ``rankNet(weight_by_diff, weight_by_diff_powed)``.

    - ``reduction="mean"`` (default): :math:`\sum \ell_{ij} / P`, :math:`P` the
      number of such pairs in the whole batch (allRank's convention: the mean
      of ``BCEWithLogitsLoss(weight=w)`` over the pairs, not divided by
      :math:`\sum w`). No pair at all gives a zero connected to the graph.
    - ``"sum"``: :math:`\sum \ell_{ij}`; ``"none"``: the per-list sums
      ``[batch]`` (bare tensor; call the function directly).

    Inputs: ``model_output[scores_key]`` ``[batch, list]`` floating,
    ``targets[relevance_key]`` ``[batch, list]`` and optional
    ``targets[mask_key]`` (True = real item); without a mask, relevance equal
    to ``padded_value`` marks padding (allRank's ``-1``; ``None``: no padding).
    Padded items form no pair, so padding never changes the loss.

    Metrics: ``num_pairs``, ``pair_accuracy`` (fraction of pairs with
    :math:`s_i > s_j`), ``num_lists``, ``ndcg``, ``mrr``.
    Paper: Burges et al., "Learning to Rank using Gradient Descent", ICML 2005.
    """
    name = "ranknet"
    check_reduction(name, reduction)
    check_positive(name, "sigma", sigma)
    check_choice(name, "weight_by", weight_by, WEIGHTINGS)
    lists = read_lists(
        model_output,
        targets,
        loss=name,
        scores_key=scores_key,
        relevance_key=relevance_key,
        mask_key=mask_key,
        padded_value=padded_value,
    )
    s, y, real = lists.scores, lists.relevance, lists.mask
    diff = s.unsqueeze(-1) - s.unsqueeze(-2)
    pairs = (y.unsqueeze(-1) > y.unsqueeze(-2)) & real.unsqueeze(-1) & real.unsqueeze(-2)
    pair_loss = F.softplus(-sigma * diff)
    if weight_by == "diff":
        pair_loss = pair_loss * (y.unsqueeze(-1) - y.unsqueeze(-2)).abs()
    elif weight_by == "diff_powed":
        sq = y.square()
        pair_loss = pair_loss * (sq.unsqueeze(-1) - sq.unsqueeze(-2)).abs()
    pair_loss = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss))
    per_list = pair_loss.sum(dim=(-2, -1))
    if reduction == "none":
        return per_list
    num_pairs = pairs.sum().to(s.dtype)
    total = per_list.sum()
    value = total if reduction == "sum" else safe_divide(total, num_pairs)
    out_metrics = {
        "num_pairs": detached(num_pairs),
        "pair_accuracy": detached(safe_divide((pairs & (diff > 0)).sum().to(s.dtype), num_pairs)),
        "num_lists": detached(nonempty(lists).sum().to(s.dtype)),
    }
    out_metrics.update(metrics.summary(lists))
    return {"loss": value, "metrics": out_metrics, "auxiliary": {}}
