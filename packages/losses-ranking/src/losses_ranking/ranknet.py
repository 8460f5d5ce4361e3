"""RankNet (Burges et al. 2005), the pairwise logistic ranking loss."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, safe_divide
from losses_core.results import loss_result
from losses_ranking import metrics
from losses_ranking._lists import build_lists
from losses_ranking._ltr import LIST_INPUTS, nonempty, ranking_example

__all__ = ["ranknet"]


def ranknet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items."""
    return ranking_example(batch_size, dtype)


@register_loss(inputs=LIST_INPUTS, example_inputs=ranknet_example)
def ranknet(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    weight_by: Literal["none", "diff", "diff_powed"] = "none",
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""RankNet: the pairwise logistic loss over the pairs of each list.

    Over every ordered pair :math:`(i, j)` of real items of the same list with
    :math:`y_i > y_j`:

    .. math:: \ell_{ij} = w_{ij}\,\log\bigl(1 + e^{-\sigma (s_i - s_j)}\bigr)
              = w_{ij}\,\mathrm{BCEWithLogits}(\sigma (s_i - s_j), 1)

    with :math:`w_{ij} = 1` (``weight_by="none"``, default), :math:`|y_i - y_j|`
    (``"diff"``) or :math:`|y_i^2 - y_j^2|` (``"diff_powed"``), as allRank's
    ``rankNet(weight_by_diff, weight_by_diff_powed)``; ``sigma`` defaults to 1.

    - ``reduction="mean"`` (default): :math:`\sum \ell_{ij} / P`, :math:`P` the
      number of such pairs in the whole batch (allRank's convention: the mean
      of ``BCEWithLogitsLoss(weight=w)`` over the pairs, not divided by
      :math:`\sum w`). No pair at all gives a zero connected to the graph.
    - ``"sum"``: :math:`\sum \ell_{ij}`; ``"none"``: the per-list sums
      ``[batch]`` (bare tensor; call the function directly).

    Inputs: ``model_output["scores"]`` ``[batch, list]`` floating,
    ``targets["relevance"]`` ``[batch, list]`` and optional
    ``targets["mask"]`` (True = real item); without a mask, relevance equal
    to ``padded_value`` marks padding (allRank's ``-1``; ``None``: no padding).
    Padded items form no pair, so padding never changes the loss. Other keys:
    ``keys={"scores": "logits", ...}``.

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Metrics: ``num_pairs``, ``pair_accuracy`` (fraction of pairs with
    :math:`s_i > s_j`), ``num_lists``, ``ndcg``, ``mrr``.
    Paper: Burges et al., "Learning to Rank using Gradient Descent", ICML 2005.
    """
    lists = build_lists(scores, relevance, mask, padded_value)
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
    value = total if reduction == "sum" else safe_divide(total, num_pairs)
    out_metrics = {
        "num_pairs": num_pairs,
        "pair_accuracy": safe_divide(correct, num_pairs),
        "num_lists": nonempty(lists).sum().to(s.dtype),
    }
    if compute_metrics:
        out_metrics.update(metrics.summary(lists))
    return loss_result(value, metrics=out_metrics)
