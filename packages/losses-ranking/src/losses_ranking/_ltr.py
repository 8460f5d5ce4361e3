"""Result assembly shared by the listwise and pairwise learning-to-rank losses."""

from __future__ import annotations

from typing import Any

import torch

from losses_ranking import metrics
from losses_ranking._common import detached, reduce
from losses_ranking._lists import RankingLists


def list_result(
    per_list: torch.Tensor,
    counted: torch.Tensor,
    lists: RankingLists,
    reduction: str,
    *,
    k: int | None = None,
    compute_metrics: bool = True,
    extra: dict[str, torch.Tensor] | None = None,
    score_order: torch.Tensor | None = None,
    ideal_order: torch.Tensor | None = None,
) -> dict[str, Any] | torch.Tensor:
    """Reduce per-list losses (already 0 for lists not ``counted``) over the
    ``counted`` lists and attach the metrics.

    ``reduction="none"`` returns the bare ``[batch]`` tensor; otherwise
    ``{"loss", "metrics", "auxiliary"}``. The ranking metrics (``ndcg``,
    ``ndcg@k``, ``mrr``) are computed when ``compute_metrics``.
    """
    value = reduce(per_list, counted, reduction)
    if reduction == "none":
        return value
    out_metrics = {"num_lists": detached(counted.sum().to(per_list.dtype))}
    if compute_metrics:
        out_metrics.update(metrics.summary(lists, k, score_order=score_order, ideal_order=ideal_order))
    if extra:
        out_metrics.update({key: detached(v) for key, v in extra.items()})
    return {"loss": value, "metrics": out_metrics, "auxiliary": {}}


def nonempty(lists: RankingLists) -> torch.Tensor:
    """Bool ``[batch]``: lists with at least one real item."""
    return lists.mask.sum(dim=-1) > 0
