"""What the learning-to-rank losses share: their declared inputs, their
example inputs and the assembly of their result."""

from __future__ import annotations

from typing import Any

import torch

from losses_core import Input, LossReturn
from losses_core.reduction import Reduction
from losses_core.results import loss_result
from losses_ranking import metrics
from losses_ranking._lists import RankingLists

__all__ = ["LIST_INPUTS", "list_result", "nonempty", "ranking_example"]

LIST_INPUTS = (
    Input("scores", "model_output", shape="B L", dtype="float", doc="one list of item scores per row"),
    Input(
        "relevance",
        "targets",
        like="scores",
        doc="graded relevance labels (gain 2^y - 1); items equal to padded_value are padding",
    ),
    Input(
        "mask",
        "targets",
        optional=True,
        like="scores",
        doc="True (or nonzero) for a real item; when given, it alone marks the padding",
    ),
)
"""``model_output['scores']``, ``targets['relevance']`` and the optional
``targets['mask']``, all ``[batch, list]``."""

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]

LIST_LENGTH = 5


def ranking_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Random lists of 5 items with graded labels 0-2: every list has a
    relevant item and a pair, and its last item is padding (explicit mask)."""
    scores = torch.randn(batch_size, LIST_LENGTH, dtype=dtype, requires_grad=True)
    relevance = torch.randint(0, 3, (batch_size, LIST_LENGTH)).to(dtype)
    relevance[:, 0] = 2
    relevance[:, 1] = 0
    mask = torch.ones(batch_size, LIST_LENGTH, dtype=torch.bool)
    mask[:, -1] = False
    return {"scores": scores}, {"relevance": relevance, "mask": mask}, {}


def list_result(
    per_list: torch.Tensor,
    counted: torch.Tensor,
    lists: RankingLists,
    reduction: Reduction,
    *,
    k: int | None = None,
    compute_metrics: bool = True,
    score_order: torch.Tensor | None = None,
    ideal_order: torch.Tensor | None = None,
) -> LossReturn | torch.Tensor:
    """Reduce per-list losses (already 0 for lists not ``counted``) over the
    ``counted`` lists and attach the metrics.

    ``reduction="none"`` returns the bare ``[batch]`` tensor; otherwise
    ``{"loss", "metrics", "auxiliary"}``. The metrics are ``num_lists`` (the
    counted lists) and, when ``compute_metrics``, the ranking metrics of
    :func:`losses_ranking.metrics.summary` (``ndcg``, ``ndcg@k``, ``mrr``).
    """
    if reduction == "none":
        return per_list
    value = per_list.sum()
    num_lists = counted.sum()
    if reduction == "mean":
        # per_list is 0 outside the counted lists, so the sum divided by their
        # number (at least 1) is the mean over them, and a zero connected to the
        # graph when there is none. Not reduce(per_list, "mean", counted): its
        # masked product and safe_divide add about 30 microseconds per call,
        # forward and backward, which is 4% of ListMLE on 256 lists of 64 items.
        value = value / num_lists.clamp_min(1).to(value.dtype)
    out_metrics = {"num_lists": num_lists.to(per_list.dtype)}
    if compute_metrics:
        out_metrics.update(metrics.summary(lists, k, score_order=score_order, ideal_order=ideal_order))
    return loss_result(value, metrics=out_metrics)


def nonempty(lists: RankingLists) -> torch.Tensor:
    """Bool ``[batch]``: lists with at least one real item."""
    return lists.mask.sum(dim=-1) > 0
