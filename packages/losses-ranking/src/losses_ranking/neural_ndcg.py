"""NeuralNDCG (Pobrotyn and Bialobrzeski 2021): NDCG through a differentiable sort."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, safe_divide
from losses_ranking._lists import build_lists, cutoff_mask, discounts, gains, ideal_dcg
from losses_ranking._ltr import LIST_INPUTS, list_result, ranking_example
from losses_ranking.metrics import Gain

__all__ = ["neural_ndcg"]
SINKHORN_EPS = 1e-10  # allRank's DEFAULT_EPS, floor of the Sinkhorn normalisers


def neural_sort(scores: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Deterministic NeuralSort (Grover et al. 2019) restricted to the real
    items: ``P[b, r, i]`` is the (soft) probability that item ``i`` has rank
    ``r`` (0-based). With :math:`n` real items, row :math:`r < n` is
    :math:`\mathrm{softmax}_i\bigl(((n + 1 - 2(r+1)) s_i - \sum_k |s_i - s_k|)/\tau\bigr)`
    over real :math:`i`; rows :math:`r \ge n` are spread over the padded items.
    """
    length = scores.shape[-1]
    pair = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    s = torch.where(mask, scores, torch.zeros_like(scores))
    spread = (s.unsqueeze(-1) - s.unsqueeze(-2)).abs()
    spread = torch.where(pair, spread, torch.zeros_like(spread)).sum(dim=-1)
    n = mask.sum(dim=-1, keepdim=True).to(scores.dtype)
    rank = torch.arange(1, length + 1, device=scores.device, dtype=scores.dtype)
    scaling = torch.where(rank <= n, n + 1 - 2 * rank, torch.zeros_like(rank * n))
    logits = scaling.unsqueeze(-1) * s.unsqueeze(-2) - spread.unsqueeze(-2)
    rank_real = rank.unsqueeze(0) <= n
    row_real = rank_real.unsqueeze(-1)
    col_real = mask.unsqueeze(-2)
    logits = torch.where(row_real & col_real, logits / temperature, torch.full_like(logits, -math.inf))
    # A padded rank is spread uniformly over the padded items.
    logits = torch.where(~row_real & ~col_real, torch.zeros_like(logits), logits)
    return torch.softmax(logits, dim=-1)


def sinkhorn(mat: torch.Tensor, iterations: int) -> torch.Tensor:
    """Alternately normalise columns and rows ``iterations`` times (fixed
    count: no data-dependent stopping, so it compiles without graph breaks)."""
    for _ in range(iterations):
        mat = mat / mat.sum(dim=-2, keepdim=True).clamp_min(SINKHORN_EPS)
        mat = mat / mat.sum(dim=-1, keepdim=True).clamp_min(SINKHORN_EPS)
    return mat


def neural_ndcg_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items,
    3 Sinkhorn iterations."""
    model_output, targets, _ = ranking_example(batch_size, dtype)
    return model_output, targets, {"sinkhorn_iterations": 3}


@register_loss(inputs=LIST_INPUTS, example_inputs=neural_ndcg_example)
def neural_ndcg(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    temperature: Annotated[float, Range(gt=0)] = 1.0,
    k: Annotated[int, Range(ge=1)] | None = None,
    gain: Gain = "exp2",
    sinkhorn_iterations: Annotated[int, Range(ge=0)] = 50,
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""NeuralNDCG: minus NDCG@k computed through a differentiable sort.

    :math:`\hat P` is the NeuralSort relaxation of the permutation sorting the
    scores (temperature :math:`\tau`), made doubly stochastic by
    ``sinkhorn_iterations`` Sinkhorn normalisations; with gains
    :math:`g = 2^y - 1` (``gain="exp2"``) or :math:`y` (``"linear"``):

    .. math:: \mathrm{NeuralNDCG@k} = \frac{1}{\mathrm{IDCG@k}} \sum_{r=1}^{k}
              \frac{(\hat P g)_r}{\log_2(1 + r)}, \qquad \ell = -\mathrm{NeuralNDCG@k}

    As :math:`\tau \to 0`, :math:`\hat P` becomes the sorting permutation and
    :math:`\ell \to -\mathrm{NDCG@k}` (for distinct scores).

    This is allRank's deterministic ``neuralNDCG`` (``powered_relevancies`` is
    ``gain="exp2"``) except that Sinkhorn runs a fixed number of iterations
    instead of stopping at a tolerance of ``1e-6`` (the result differs by less
    than that tolerance). The stochastic and transposed variants are not
    provided.

    - ``reduction="mean"`` (default): mean of :math:`\ell` over the lists with
      IDCG > 0 (allRank's convention: lists without a relevant item are left
      out); zero, connected to the graph, when there is none.
    - ``"sum"``: sum over those lists; ``"none"``: :math:`\ell` per list
      ``[batch]`` (0 where IDCG = 0).

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Defaults: ``temperature=1``, ``k=None`` (the whole list), ``gain="exp2"``,
    ``sinkhorn_iterations=50``.

    Inputs and padding as :func:`losses_ranking.ranknet` (other keys through
    ``keys=``); padding never changes the loss. Metrics: ``num_lists``
    (lists with IDCG > 0), ``ndcg``, ``ndcg@k`` (when ``k`` is set), ``mrr``.
    Paper: Pobrotyn and
    Bialobrzeski, "NeuralNDCG: Direct Optimisation of a Ranking Metric via
    Differentiable Relaxation of Sorting", 2021 (arXiv:2102.07831).
    """
    lists = build_lists(scores, relevance, mask, padded_value)
    item_gains = gains(lists.relevance, lists.mask, gain)
    p_hat = sinkhorn(neural_sort(lists.scores, lists.mask, temperature), sinkhorn_iterations)
    p_hat = torch.where(lists.mask.unsqueeze(-2), p_hat, torch.zeros_like(p_hat))
    length = item_gains.shape[-1]
    disc = discounts(length, item_gains)
    disc = torch.where(cutoff_mask(length, k, item_gains), disc, torch.zeros_like(disc))
    soft_dcg = (torch.matmul(p_hat, item_gains.unsqueeze(-1)).squeeze(-1) * disc).sum(dim=-1)
    with torch.no_grad():
        idcg = ideal_dcg(item_gains, k)
    counted = idcg > 0
    per_list = -safe_divide(soft_dcg, idcg)
    return list_result(per_list, counted, lists, reduction, k=k, compute_metrics=compute_metrics)
