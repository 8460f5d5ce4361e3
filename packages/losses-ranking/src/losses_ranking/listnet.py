"""ListNet (Cao et al. 2007), the top-one probability cross-entropy."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_core.tensors import as_float
from losses_ranking._lists import build_lists
from losses_ranking._ltr import LIST_INPUTS, list_result, nonempty, ranking_example

__all__ = ["listnet"]


def _masked_softmax(x: torch.Tensor, real_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax and log-softmax over the real items of each list (0/1 float
    mask); padded entries (and every entry of an all-padded list) are 0 in
    both. Padded entries are pushed to about ``-finfo.max / 4`` rather than
    ``-inf``, so nothing non-finite enters the backward."""
    log_p = torch.log_softmax(x + (real_f - 1.0) * (torch.finfo(x.dtype).max / 4), dim=-1) * real_f
    return log_p.exp() * real_f, log_p


def listnet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items."""
    return ranking_example(batch_size, dtype)


@register_loss(inputs=LIST_INPUTS, example_inputs=listnet_example)
def listnet(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    eps: Annotated[float, Range(ge=0)] = 1e-10,
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""ListNet: the cross-entropy of the top-one probabilities of labels and scores.

    Per list, with the softmax taken over its real items only:

    .. math:: \ell = -\sum_i \mathrm{softmax}(y)_i \,\log\bigl(\mathrm{softmax}(s)_i + \varepsilon\bigr)

    ``eps`` (default ``1e-10``, allRank's ``DEFAULT_EPS``) bounds the
    log-probability of an item whose score is vanishingly small, exactly as
    allRank's ``listNet``; ``eps=0`` uses the exact ``log_softmax``.

    - ``reduction="mean"`` (default): the mean of :math:`\ell` over the lists
      with at least one real item (equal to allRank's batch mean when no list
      is all padding); an all-padded list contributes nothing and a batch of
      them gives a zero connected to the graph (allRank gives NaN).
    - ``"sum"``: the sum over lists; ``"none"``: :math:`\ell` per list ``[batch]``
      (0 for an all-padded list; bare tensor, call the function directly).

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Inputs and padding as :func:`losses_ranking.ranknet` (``scores``,
    ``relevance``, optional ``mask``, ``padded_value=-1``; other keys through
    ``keys=``). Padding never changes the loss. Metrics: ``num_lists``, ``ndcg``, ``mrr``.
    Paper: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise
    Approach", ICML 2007.
    """
    lists = build_lists(scores, relevance, mask, padded_value)
    real_f = as_float(lists.mask, lists.scores.dtype)
    p_true, _ = _masked_softmax(lists.relevance, real_f)
    p_pred, log_p_pred = _masked_softmax(lists.scores, real_f)
    if eps > 0:
        log_p_pred = torch.log(p_pred + eps) * real_f
    per_list = -(p_true * log_p_pred).sum(dim=-1)
    return list_result(per_list, nonempty(lists), lists, reduction, compute_metrics=compute_metrics)
