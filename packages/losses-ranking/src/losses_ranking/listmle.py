"""ListMLE (Xia et al. 2008), the Plackett-Luce likelihood of the true order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import LossParameterError
from losses_ranking._common import check_reduction
from losses_ranking._lists import order, read_lists
from losses_ranking._ltr import list_result, nonempty

__all__ = ["listmle"]


def _true_order(
    relevance: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Indices sorting each list by relevance, descending, padded items last.

    Ties keep their original order (deterministic) unless ``generator`` is
    given: then each list is first shuffled with it, so ties are broken
    uniformly at random and reproducibly for a seeded generator.
    """
    if generator is None:
        return order(relevance, mask)
    noise = torch.rand(relevance.shape, generator=generator, device=generator.device)
    shuffle = noise.argsort(dim=-1).to(relevance.device)
    shuffled = order(torch.gather(relevance, -1, shuffle), torch.gather(mask, -1, shuffle))
    return torch.gather(shuffle, -1, shuffled)


def listmle(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
    scores_key: str = "scores",
    relevance_key: str = "relevance",
    mask_key: str | None = "mask",
    padded_value: float | None = -1.0,
) -> dict[str, Any] | torch.Tensor:
    r"""ListMLE, registered as ``listmle``.

    With :math:`\pi` the order of the list's real items by relevance
    (descending) and :math:`n` their number, the negative Plackett-Luce
    log-likelihood of :math:`\pi` under the scores:

    .. math:: \ell = \sum_{r=1}^{n} \Bigl( \log \sum_{q=r}^{n} e^{s_{\pi(q)}} - s_{\pi(r)} \Bigr)

    computed with ``torch.logcumsumexp`` (no overflow for large scores, no
    ``eps``); padded items are excluded from every normaliser, so a padded
    list gives exactly the loss of the unpadded one.

    Ties in relevance: by default broken by the items' order in the list (a
    stable sort; deterministic). Pass a ``torch.Generator`` as ``generator``
    (on the device where the random draw should happen) to break ties
    uniformly at random per list, as allRank's ``listMLE`` does with
    ``torch.randperm``, but reproducibly.

    - ``reduction="mean"`` (default): mean of :math:`\ell` over lists with at
      least one real item (allRank's batch mean when none is all padding); an
      all-padded batch gives a zero connected to the graph.
    - ``"sum"``: sum over lists; ``"none"``: :math:`\ell` per list ``[batch]``.

    Inputs and padding as :func:`losses_ranking.ranknet`. Metrics:
    ``num_lists``, ``ndcg``, ``mrr``. Paper: Xia et al., "Listwise Approach
    to Learning to Rank: Theory and Algorithm", ICML 2008.
    """
    name = "listmle"
    check_reduction(name, reduction)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise LossParameterError(
            f"loss {name!r}: generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    lists = read_lists(
        model_output,
        targets,
        loss=name,
        scores_key=scores_key,
        relevance_key=relevance_key,
        mask_key=mask_key,
        padded_value=padded_value,
    )
    idx = _true_order(lists.relevance, lists.mask, generator)
    s = torch.gather(lists.scores, -1, idx)
    real = torch.gather(lists.mask, -1, idx)
    # Padded items sit at the end; a very negative finite filler keeps them
    # out of every suffix log-sum-exp without -inf arithmetic in the backward.
    filler = torch.full_like(s, torch.finfo(s.dtype).min / 4)
    x = torch.where(real, s, filler)
    suffix_lse = torch.logcumsumexp(x.flip(-1), dim=-1).flip(-1)
    terms = torch.where(real, suffix_lse - s, torch.zeros_like(s))
    return list_result(terms.sum(dim=-1), nonempty(lists), lists, reduction)
