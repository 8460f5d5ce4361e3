"""Triplet margin loss with in-batch mining (all, batch-hard, semi-hard)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, safe_divide
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32, euclidean_distances, label_masks
from losses_ranking._embeddings import LABELLED_INPUTS, labelled_example, maybe_normalize

__all__ = ["triplet"]


def _below_threshold(
    dist: torch.Tensor, negative: torch.Tensor, threshold: torch.Tensor, floor: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor ``a`` and pair threshold ``threshold[a, p]``: the number
    of negatives ``n`` of ``a`` (0/1 float mask) with
    ``floor[a, p] < d_an < threshold[a, p]`` (no floor when ``floor`` is None)
    and the sum of their distances, ``[N, N]``.

    Vectorised with one sort of each anchor's negative distances, prefix sums
    (accumulated in float64) and ``searchsorted``: O(N^2 log N) time and O(N^2)
    memory instead of an O(N^3) triplet tensor; the sums stay differentiable.
    """
    big = torch.finfo(dist.dtype).max / 4
    # non-negatives are pushed past every threshold (distances are at most 2 when
    # normalised, and finite otherwise), so they sort last and are never counted
    neg_sorted = torch.sort(dist * negative + (1.0 - negative) * big, dim=-1).values
    is_negative = torch.arange(dist.shape[-1], device=dist.device) < negative.sum(dim=-1, keepdim=True)
    prefix = torch.nn.functional.pad((neg_sorted * is_negative).to(torch.float64).cumsum(dim=-1), (1, 0))
    key = neg_sorted.detach().contiguous()
    upper = torch.searchsorted(key, threshold.detach().contiguous(), right=False)
    total = torch.gather(prefix, -1, upper)
    if floor is None:
        return upper.to(dist.dtype), total.to(dist.dtype)
    lower = torch.minimum(torch.searchsorted(key, floor.detach().contiguous(), right=True), upper)
    total = total - torch.gather(prefix, -1, lower)
    return (upper - lower).to(dist.dtype), total.to(dist.dtype)


def triplet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: two embeddings per class,
    every triplet, margin 0.2."""
    model_output, targets, _ = labelled_example(batch_size, dtype)
    return model_output, targets, {"margin": 0.2, "mining": "all"}


@register_loss(inputs=LABELLED_INPUTS, example_inputs=triplet_example)
def triplet(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: Annotated[float, Range(ge=0)] = 0.05,
    mining: Literal["all", "hard", "semi_hard"] = "all",
    normalize: bool = True,
    average_nonzero: bool = True,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Triplet margin loss with in-batch mining: all, batch-hard or semi-hard triplets.

    With :math:`d` the Euclidean distance between (by default L2-normalised)
    embeddings, for a triplet (anchor :math:`a`, positive :math:`p` with the
    same label, :math:`p \ne a`, negative :math:`n` with another label):

    .. math:: \ell_{apn} = \max(0,\; d_{ap} - d_{an} + \mathrm{margin})

    ``mining`` chooses the triplets:

    - ``"all"`` (default): every valid triplet of the batch
      (pytorch-metric-learning's ``TripletMarginLoss`` without a miner);
    - ``"hard"``: batch-hard (Hermans et al. 2017), one triplet per anchor
      with the farthest positive and the nearest negative (PML's
      ``BatchHardMiner``); anchors without a positive or a negative are skipped;
    - ``"semi_hard"``: every triplet with :math:`0 < d_{an} - d_{ap} <`
      ``margin`` (PML's ``TripletMarginMiner(margin, "semihard")``, which also
      keeps the zero-loss triplets at exactly ``margin``; the default mean over
      non-zero losses is the same).

    Defaults follow PML (``margin=0.05``, normalised embeddings), not
    ``torch.nn.TripletMarginLoss`` (``margin=1``, raw embeddings, explicit
    triplets); with ``normalize=False`` and explicit triplets the per-triplet
    terms equal torch's up to its ``eps=1e-6`` inside the distance.

    - ``reduction="mean"`` (default): with ``average_nonzero=True`` the mean
      over the selected triplets with a positive loss (PML's
      ``AvgNonZeroReducer``), else over all selected triplets; no triplet
      gives a zero connected to the graph (PML issue #107's NaN cannot occur).
    - ``"sum"``: sum over the selected triplets; ``"none"``: per-anchor sums
      ``[N]`` (bare tensor).

    ``"all"`` and ``"semi_hard"`` never build the ``N^3`` triplet tensor: the
    negatives of each anchor are sorted once and the triplets above each
    threshold are counted and summed with ``searchsorted`` and prefix sums.

    Inputs: ``model_output["embeddings"]`` ``[N, D]``, ``targets["labels"]``
    ``[N]`` (other keys through ``keys=``). Metrics: ``num_triplets``
    (selected), ``active_triplets`` (positive loss), ``mean_pos_distance``,
    ``mean_neg_distance``.
    Paper: Schroff et al., "FaceNet", CVPR 2015; Hermans et al., "In Defense
    of the Triplet Loss for Person Re-Identification", 2017.
    """
    dist = euclidean_distances(maybe_normalize(at_least_float32(embeddings), normalize))
    positive, negative = label_masks(labels, labels, dtype=dist.dtype)  # 0/1 floats
    if mining == "hard":
        per_anchor, selected, active = _batch_hard(dist, positive, negative, margin)
    else:
        # For each positive pair (a, p), the negatives with d_an < d_ap + margin have
        # the positive loss (d_ap + margin) - d_an; semi-hard keeps those with d_an > d_ap.
        threshold = dist + margin
        floor = dist if mining == "semi_hard" else None
        count, neg_sum = _below_threshold(dist, negative, threshold, floor)
        count = count * positive
        per_anchor = (count * threshold - neg_sum * positive).sum(dim=-1)
        active = count.sum()
        all_triplets = (positive * negative.sum(dim=-1, keepdim=True)).sum()
        selected = all_triplets if mining == "all" else active
    if reduction == "none":
        return per_anchor
    total = per_anchor.sum()
    denominator = active if average_nonzero else selected
    value = total if reduction == "sum" else safe_divide(total, denominator)
    with torch.no_grad():
        flat = dist.reshape(-1)
        mean_pos = safe_divide(torch.dot(flat, positive.reshape(-1)), positive.sum())
        mean_neg = safe_divide(torch.dot(flat, negative.reshape(-1)), negative.sum())
    return loss_result(
        value,
        metrics={
            "num_triplets": selected,
            "active_triplets": active,
            "mean_pos_distance": mean_pos,
            "mean_neg_distance": mean_neg,
        },
    )


def _batch_hard(
    dist: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    big = torch.finfo(dist.dtype).max / 4
    # 0/1 float masks: (d + 1) * [positive] - 1 is d on positives and -1 elsewhere;
    # d + [not negative] * big is d on negatives and about `big` elsewhere
    hardest_pos = ((dist + 1.0) * positive).amax(dim=-1) - 1.0
    hardest_neg = (dist + (1.0 - negative) * big).amin(dim=-1)
    valid = positive.amax(dim=-1) * negative.amax(dim=-1)  # has a positive and a negative
    per_anchor = (hardest_pos - hardest_neg + margin).clamp_min(0.0) * valid
    selected = valid.sum()
    active = per_anchor.detach().sign().sum()
    return per_anchor, selected, active
