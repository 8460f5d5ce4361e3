"""ApproxNDCG (Qin et al. 2010), NDCG with smoothed ranks."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_core.tensors import as_float
from losses_ranking._lists import build_lists, gains, ideal_dcg
from losses_ranking._ltr import LIST_INPUTS, list_result, nonempty, ranking_example

__all__ = ["approx_ndcg"]

EPS = 1e-10  # allRank's DEFAULT_EPS, floor of the ideal DCG


def approx_ndcg_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items."""
    return ranking_example(batch_size, dtype)


@register_loss(inputs=LIST_INPUTS, example_inputs=approx_ndcg_example)
def approx_ndcg(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    alpha: Annotated[float, Range(gt=0)] = 1.0,
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""ApproxNDCG: minus the NDCG of the list with smoothed ranks.

    The rank of each real item is replaced by the smooth

    .. math:: \hat r_i = 1 + \sum_{j \ne i} \sigma\bigl(-\alpha (s_i - s_j)\bigr)

    (sum over the real items of the list; ``alpha`` defaults to 1) and the
    loss is minus the resulting NDCG over the whole list (no truncation):

    .. math:: \ell = -\sum_i \frac{(2^{y_i} - 1) / \mathrm{maxDCG}}{\log_2(1 + \hat r_i)}

    with the ideal DCG floored at ``1e-10`` (a list without a relevant item
    gives 0), as allRank's ``approxNDCGLoss(alpha=1.)``.

    - ``reduction="mean"`` (default): mean of :math:`\ell` over lists with at
      least one real item (allRank's batch mean when none is all padding);
    - ``"sum"``: sum over lists; ``"none"``: :math:`\ell` per list ``[batch]``.

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Inputs and padding as :func:`losses_ranking.ranknet` (other keys through
    ``keys=``); padding never changes the loss; the loss is invariant to
    permuting the items of a list. Metrics: ``num_lists``, ``ndcg``, ``mrr``.
    Paper: Qin, Liu and Li, "A General Approximation Framework for Direct
    Optimization of Information Retrieval Measures", Information Retrieval
    2010.
    """
    lists = build_lists(scores, relevance, mask, padded_value)
    s, real = lists.scores, lists.mask
    item_gains = gains(lists.relevance, real, "exp2")
    with torch.no_grad():
        max_dcg = ideal_dcg(item_gains, None).clamp_min(EPS)
        real_f = as_float(real, s.dtype)
        eye = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)
        others = real_f.unsqueeze(-1) * real_f.unsqueeze(-2) * (1.0 - eye)  # 0/1 floats
    smooth = torch.sigmoid(-alpha * (s.unsqueeze(-1) - s.unsqueeze(-2)))
    approx_rank = 1.0 + (smooth * others).sum(dim=-1)
    # padded items have gain 0
    per_list = -((item_gains / max_dcg.unsqueeze(-1)) / torch.log2(1.0 + approx_rank)).sum(dim=-1)
    return list_result(per_list, nonempty(lists), lists, reduction, compute_metrics=compute_metrics)
