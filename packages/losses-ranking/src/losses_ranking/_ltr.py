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
    extra: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any] | torch.Tensor:
    """Reduce per-list losses over the ``counted`` lists and attach the metrics.

    ``reduction="none"`` returns the bare ``[batch]`` tensor (0 for lists not
    counted); otherwise ``{"loss", "metrics", "auxiliary"}``.
    """
    value = reduce(per_list, counted, reduction)
    if reduction == "none":
        return value
    out_metrics = {"num_lists": detached(counted.sum().to(per_list.dtype))}
    out_metrics.update(metrics.summary(lists, k))
    if extra:
        out_metrics.update({key: detached(v) for key, v in extra.items()})
    return {"loss": value, "metrics": out_metrics, "auxiliary": {}}


def nonempty(lists: RankingLists) -> torch.Tensor:
    """Bool ``[batch]``: lists with at least one real item."""
    return lists.mask.any(dim=-1)
