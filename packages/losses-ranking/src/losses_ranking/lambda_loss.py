"""The LambdaLoss framework (Wang et al. 2018) with its weighting schemes."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_core.tensors import as_float
from losses_ranking._lists import build_lists, cutoff_mask, gains, ideal_dcg, order_and_mask
from losses_ranking._ltr import LIST_INPUTS, list_result, ranking_example

__all__ = ["lambda_loss"]

Scheme = Literal["ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambda_rank", "rank_net"]
EPS = 1e-10  # allRank's DEFAULT_EPS, floor of the ideal DCG


def _scheme_weights(
    scheme: Scheme, gain: torch.Tensor, discount: torch.Tensor, mu: float
) -> torch.Tensor | None:
    """Pair weights ``[B, L, L]`` over positions of the predicted order.

    ``gain``: normalised gains :math:`G` in predicted order ``[B, L]``;
    ``discount``: :math:`D_r = \\log_2(1 + r)` for ranks ``r = 1..L``.
    """
    if scheme == "rank_net":
        return None
    if scheme == "ndcg_loss1":
        return (gain / discount).unsqueeze(-1)
    gain_gap = (gain.unsqueeze(-1) - gain.unsqueeze(-2)).abs()
    inv = 1.0 / discount
    lambda_rank = (inv.unsqueeze(-1) - inv.unsqueeze(-2)).abs() * gain_gap
    if scheme == "lambda_rank":
        return lambda_rank
    length = gain.shape[-1]
    ranks = torch.arange(length, device=gain.device)
    gap = (ranks.unsqueeze(-1) - ranks.unsqueeze(-2)).abs().to(gain.dtype)
    # delta_{|i-j|} = |1/log2(1+|i-j|) - 1/log2(2+|i-j|)|, and 0 on the diagonal.
    safe_gap = torch.where(gap > 0, gap, torch.ones_like(gap))
    delta = (1.0 / torch.log2(1.0 + safe_gap) - 1.0 / torch.log2(2.0 + safe_gap)).abs()
    delta = torch.where(gap > 0, delta, torch.zeros_like(delta))
    ndcg_loss2 = delta * gain_gap
    if scheme == "ndcg_loss2":
        return ndcg_loss2
    return mu * ndcg_loss2 + lambda_rank


def lambda_loss_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items,
    NDCG-Loss2++ truncated at ``k=3``."""
    model_output, targets, _ = ranking_example(batch_size, dtype)
    return model_output, targets, {"weighing_scheme": "ndcg_loss2pp", "k": 3}


@register_loss(inputs=LIST_INPUTS, example_inputs=lambda_loss_example)
def lambda_loss(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    weighing_scheme: Scheme = "ndcg_loss2pp",
    k: Annotated[int, Range(ge=1)] | None = None,
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    mu: Annotated[float, Range(ge=0)] = 10.0,
    log_base: Literal["binary", "natural"] = "binary",
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""LambdaLoss: pairwise logistic terms weighted towards NDCG@k.

    Items are ranked by their scores (descending, stable); :math:`r_i` is the
    rank of item :math:`i`, :math:`D_i = \log_2(1 + r_i)`,
    :math:`G_i = (2^{y_i} - 1) / \mathrm{maxDCG@k}` (ideal DCG over the top
    ``k``, floored at ``1e-10`` as in allRank). Over pairs of real items with
    :math:`y_i > y_j` and both ranks within ``k``:

    .. math:: \ell = -\sum_{i,j} w_{ij} \log_b \sigma\bigl(\sigma_s (s_i - s_j)\bigr)

    (:math:`\sigma_s` = ``sigma``, :math:`b = 2` for ``log_base="binary"``,
    :math:`e` for ``"natural"``), with ``weighing_scheme``:

    - ``"ndcg_loss1"``: :math:`w_{ij} = G_i / D_i`; as in allRank, this scheme
      sums over *all* pairs of real items (including :math:`i = j`), not only
      :math:`y_i > y_j`;
    - ``"ndcg_loss2"``: :math:`w_{ij} = \delta_{ij} |G_i - G_j|`,
      :math:`\delta_{ij} = |1/\log_2(1+|r_i-r_j|) - 1/\log_2(2+|r_i-r_j|)|`;
    - ``"lambda_rank"``: :math:`w_{ij} = |1/D_i - 1/D_j|\,|G_i - G_j|`;
    - ``"ndcg_loss2pp"`` (default, NDCG-Loss2++, the paper's best):
      ``mu`` :math:`\cdot` ndcg_loss2 + lambda_rank;
    - ``"rank_net"``: :math:`w_{ij} = 1`.

    This is allRank's ``lambdaLoss`` (the same schemes and ``k`` truncation),
    except that the pair term uses a stable ``logsigmoid`` instead of
    clamping probabilities at ``1e-10``: identical for ordinary inputs, and
    unbounded but finite for extreme ones.

    - ``reduction="mean"`` (default): the per-list sums averaged over the lists
      with at least one real item, so the scale does not grow with the batch.
      ``reduction="sum"`` is allRank's default (sum over every pair of the
      batch); for a single list both are allRank's value. allRank's own
      ``reduction="mean"`` (a mean over pairs) is not offered.
    - ``"none"``: per-list sums ``[batch]`` (bare tensor).

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Defaults: ``k=None`` (the whole list), ``sigma=1``, ``mu=10``,
    ``log_base="binary"``.

    Inputs and padding as :func:`losses_ranking.ranknet` (other keys through
    ``keys=``); padding never changes the loss. Metrics: ``num_lists``,
    ``ndcg``, ``ndcg@k`` (when ``k`` is set), ``mrr``. Paper: Wang et al.,
    "The LambdaLoss Framework for Ranking Metric Optimization", CIKM 2018.
    """
    lists = build_lists(scores, relevance, mask, padded_value)
    idx, real = order_and_mask(lists.scores, lists.mask)
    s = torch.gather(lists.scores, -1, idx)
    y = torch.gather(lists.relevance, -1, idx)
    length = s.shape[-1]
    with torch.no_grad():
        max_dcg = ideal_dcg(gains(lists.relevance, lists.mask, "exp2"), k).clamp_min(EPS)
        gain = gains(y, real, "exp2") / max_dcg.unsqueeze(-1)
        ranks = torch.arange(1, length + 1, device=s.device, dtype=s.dtype)
        weights = _scheme_weights(weighing_scheme, gain, torch.log2(1.0 + ranks), mu)
        # 0/1 float pair mask (multiplying is far cheaper than torch.where on CPU)
        keep_f = as_float(real & cutoff_mask(length, k, s), s.dtype)
        pair_f = keep_f.unsqueeze(-1) * keep_f.unsqueeze(-2)
        if weighing_scheme != "ndcg_loss1":
            # [y_i > y_j] as 0/1 floats (sign/clamp: cheaper on CPU than bool -> float)
            pair_f = pair_f * (y.unsqueeze(-1) - y.unsqueeze(-2)).sign().clamp_min(0.0)
        if weights is not None:
            pair_f = pair_f * weights
        if log_base == "binary":
            pair_f = pair_f / math.log(2.0)
    pair_loss = -F.logsigmoid(sigma * (s.unsqueeze(-1) - s.unsqueeze(-2)))
    per_list = (pair_loss * pair_f).sum(dim=(-2, -1))
    return list_result(
        per_list, real[:, 0], lists, reduction, k=k, compute_metrics=compute_metrics, score_order=idx
    )
