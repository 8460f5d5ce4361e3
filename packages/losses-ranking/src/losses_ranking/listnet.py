"""ListNet (Cao et al. 2007), the top-one probability cross-entropy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from losses_ranking._common import check_positive, check_reduction
from losses_ranking._lists import read_lists
from losses_ranking._ltr import list_result, nonempty

__all__ = ["listnet"]


def _masked_softmax(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax and log-softmax over the real items of each list; padded
    entries (and every entry of an all-padded list) are 0 in both."""
    has_item = mask.any(dim=-1, keepdim=True)
    logits = torch.where(mask, x, torch.full_like(x, -math.inf))
    logits = torch.where(has_item, logits, torch.zeros_like(x))
    log_p = torch.log_softmax(logits, dim=-1)
    log_p = torch.where(mask, log_p, torch.zeros_like(log_p))
    p = torch.where(mask, log_p.exp(), torch.zeros_like(log_p))
    return p, log_p


def listnet(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    eps: float = 1e-10,
    reduction: str = "mean",
    scores_key: str = "scores",
    relevance_key: str = "relevance",
    mask_key: str | None = "mask",
    padded_value: float | None = -1.0,
) -> dict[str, Any] | torch.Tensor:
    r"""ListNet, registered as ``listnet``.

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

    Inputs and padding as :func:`losses_ranking.ranknet` (``scores``,
    ``relevance``, optional ``mask``, ``padded_value=-1``). Padding never
    changes the loss. Metrics: ``num_lists``, ``ndcg``, ``mrr``.
    Paper: Cao et al., "Learning to Rank: From Pairwise Approach to Listwise
    Approach", ICML 2007.
    """
    name = "listnet"
    check_reduction(name, reduction)
    check_positive(name, "eps", eps, allow_zero=True)
    lists = read_lists(
        model_output,
        targets,
        loss=name,
        scores_key=scores_key,
        relevance_key=relevance_key,
        mask_key=mask_key,
        padded_value=padded_value,
    )
    p_true, _ = _masked_softmax(lists.relevance, lists.mask)
    p_pred, log_p_pred = _masked_softmax(lists.scores, lists.mask)
    if eps > 0:
        log_p_pred = torch.where(lists.mask, torch.log(p_pred + eps), torch.zeros_like(p_pred))
    per_list = -(p_true * log_p_pred).sum(dim=-1)
    return list_result(per_list, nonempty(lists), lists, reduction)
