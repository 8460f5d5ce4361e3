"""ListMLE (Xia et al. 2008), the Plackett-Luce likelihood of the true order."""

from __future__ import annotations

from typing import Any, Literal

import torch

from losses_core import LossReturn, register_loss
from losses_core.reduction import Reduction
from losses_ranking._lists import build_lists, order_and_mask
from losses_ranking._ltr import LIST_INPUTS, list_result, ranking_example
from losses_ranking._plackett_luce import plackett_luce_nll, plackett_luce_nll_graph

__all__ = ["listmle"]


def _true_order(
    relevance: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices sorting each list by relevance, descending, padded items last.

    Ties keep their original order (deterministic) unless ``generator`` is
    given: then each list is first shuffled with it, so ties are broken
    uniformly at random, reproducibly for a generator in a given state.
    Returns the indices and the mask in that order.
    """
    if generator is None:
        return order_and_mask(relevance, mask)
    noise = torch.rand(relevance.shape, generator=generator, device=generator.device)
    shuffle = noise.argsort(dim=-1).to(relevance.device)
    shuffled, real = order_and_mask(torch.gather(relevance, -1, shuffle), torch.gather(mask, -1, shuffle))
    return torch.gather(shuffle, -1, shuffled), real


def listmle_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: padded lists of 5 items."""
    return ranking_example(batch_size, dtype)


@register_loss(inputs=LIST_INPUTS, example_inputs=listmle_example)
def listmle(
    scores: torch.Tensor,
    relevance: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    normalizer: Literal["auto", "logcumsumexp"] = "auto",
    compute_metrics: bool = True,
    reduction: Reduction = "mean",
    padded_value: float | None = -1.0,
) -> LossReturn | torch.Tensor:
    r"""ListMLE: the negative Plackett-Luce log-likelihood of the true order.

    With :math:`\pi` the order of the list's real items by relevance
    (descending) and :math:`n` their number, the negative Plackett-Luce
    log-likelihood of :math:`\pi` under the scores:

    .. math:: \ell = \sum_{r=1}^{n} \Bigl( \log \sum_{q=r}^{n} e^{s_{\pi(q)}} - s_{\pi(r)} \Bigr)

    computed exactly as a stable log-sum-exp over suffixes (no overflow for
    large scores, no ``eps``). Padded items are excluded from every
    normaliser, so a padded list gives exactly the loss of the unpadded one.

    ``normalizer="auto"`` (default): on CPU in eager mode, a fused function
    with a hand-written backward (cumulative sums of :math:`e^{s - \max s}`,
    checked once per call to be within the float range, else
    ``torch.logcumsumexp``); under ``torch.compile``, ``torch.func`` and on
    accelerators, ``torch.logcumsumexp`` recorded by autograd.
    ``"logcumsumexp"``: always the latter. Both give the same values and
    gradients (to rounding) for every finite input; the fused function's
    higher-order gradients are exact too.

    Ties in relevance: by default broken by the items' order in the list (a
    stable sort; deterministic). Pass a ``torch.Generator`` as ``generator``
    (on the device where the random draw should happen) to break ties
    uniformly at random per list, as allRank's ``listMLE`` does with
    ``torch.randperm``, but reproducibly.

    - ``reduction="mean"`` (default): mean of :math:`\ell` over lists with at
      least one real item (allRank's batch mean when none is all padding); an
      all-padded batch gives a zero connected to the graph.
    - ``"sum"``: sum over lists; ``"none"``: :math:`\ell` per list ``[batch]``.

    ``compute_metrics=False`` skips the ranking metrics (``ndcg``, ``mrr``),
    which cost one sort of the scores per call.

    Inputs and padding as :func:`losses_ranking.ranknet` (other keys through
    ``keys=``). Metrics: ``num_lists``, ``ndcg``, ``mrr``. Paper: Xia et al.,
    "Listwise Approach to Learning to Rank: Theory and Algorithm", ICML 2008.
    """
    lists = build_lists(scores, relevance, mask, padded_value)
    idx, real_sorted = _true_order(lists.relevance, lists.mask, generator)
    # Reversed (least relevant first, padded items first): the suffix sums of the
    # Plackett-Luce normalisers become prefix sums.
    nll = plackett_luce_nll if normalizer == "auto" else plackett_luce_nll_graph
    per_list = nll(lists.scores, idx.flip(-1), real_sorted.flip(-1))
    return list_result(
        per_list,
        real_sorted[:, 0],  # a list has a real item iff its most relevant slot is real
        lists,
        reduction,
        compute_metrics=compute_metrics,
        ideal_order=idx,
    )
