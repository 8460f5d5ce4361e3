"""ApproxNDCG (Qin et al. 2010), NDCG with smoothed ranks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_ranking._common import as_float, check_positive, check_reduction
from losses_ranking._lists import gains, ideal_dcg, read_lists
from losses_ranking._ltr import list_result, nonempty

__all__ = ["approx_ndcg"]

EPS = 1e-10  # allRank's DEFAULT_EPS, floor of the ideal DCG


def approx_ndcg(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    alpha: float = 1.0,
    compute_metrics: bool = True,
    reduction: str = "mean",
    scores_key: str = "scores",
    relevance_key: str = "relevance",
    mask_key: str | None = "mask",
    padded_value: float | None = -1.0,
) -> dict[str, Any] | torch.Tensor:
    r"""ApproxNDCG loss, registered as ``approx_ndcg``.

    The rank of each real item is replaced by the smooth

    .. math:: \hat r_i = 1 + \sum_{j \ne i} \sigma\bigl(-\alpha (s_i - s_j)\bigr)

    (sum over the real items of the list) and the loss is minus the resulting
    NDCG over the whole list (no truncation):

    .. math:: \ell = -\sum_i \frac{(2^{y_i} - 1) / \mathrm{maxDCG}}{\log_2(1 + \hat r_i)}

    with the ideal DCG floored at ``1e-10`` (a list without a relevant item
    gives 0), as allRank's ``approxNDCGLoss(alpha=1.)``.

    - ``reduction="mean"`` (default): mean of :math:`\ell` over lists with at
      least one real item (allRank's batch mean when none is all padding);
    - ``"sum"``: sum over lists; ``"none"``: :math:`\ell` per list ``[batch]``.

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Inputs and padding as :func:`losses_ranking.ranknet`; padding never changes
    the loss; the loss is invariant to permuting the items of a list. Metrics:
    ``num_lists``, ``ndcg``, ``mrr``. Paper: Qin, Liu and Li, "A General
    Approximation Framework for Direct Optimization of Information Retrieval
    Measures", Information Retrieval 2010.
    """
    name = "approx_ndcg"
    check_reduction(name, reduction)
    check_positive(name, "alpha", alpha)
    lists = read_lists(
        model_output,
        targets,
        loss=name,
        scores_key=scores_key,
        relevance_key=relevance_key,
        mask_key=mask_key,
        padded_value=padded_value,
    )
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
