"""RankNet (Burges et al. 2005), the pairwise logistic ranking loss."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_ranking import metrics
from losses_ranking._common import check_choice, check_positive, check_reduction, detached
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
    compute_metrics: bool = True,
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

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

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
    with torch.no_grad():
        # (i, j) is a pair iff y_i > y_j with both real: padded labels become -inf
        # as the first and +inf as the second element, so that one difference
        # decides; sign().clamp_min(0) turns it into a 0/1 float mask (much cheaper
        # on CPU than a bool comparison converted to float, or torch.where)
        y_first = torch.where(real, y, -math.inf)
        y_second = torch.where(real, y, math.inf)
        pair_f = (y_first.unsqueeze(-1) - y_second.unsqueeze(-2)).sign().clamp_min(0.0)
        weight = pair_f
        if weight_by == "diff":
            weight = pair_f * (y.unsqueeze(-1) - y.unsqueeze(-2)).abs()
        elif weight_by == "diff_powed":
            sq = y.square()
            weight = pair_f * (sq.unsqueeze(-1) - sq.unsqueeze(-2)).abs()
    scaled = s if sigma == 1.0 else s * sigma
    # softplus(-sigma (s_i - s_j)) = log(1 + exp(-sigma (s_i - s_j))), the BCE-with-logits of the pair
    margin = scaled.unsqueeze(-2) - scaled.unsqueeze(-1)
    per_list = (F.softplus(margin) * weight).sum(dim=(-2, -1))
    if reduction == "none":
        return per_list
    with torch.no_grad():
        num_pairs = pair_f.sum()
        correct = ((-margin).sign().clamp_min(0.0) * pair_f).sum()  # pairs with s_i > s_j
    total = per_list.sum()
    value = total if reduction == "sum" else total / num_pairs.clamp_min(1)
    out_metrics = {
        "num_pairs": num_pairs,
        "pair_accuracy": correct / num_pairs.clamp_min(1),
        "num_lists": detached(nonempty(lists).sum().to(s.dtype)),
    }
    if compute_metrics:
        out_metrics.update(metrics.summary(lists))
    return {"loss": value, "metrics": out_metrics, "auxiliary": {}}
