"""The contrastive loss (seed 002's ``contrastive``): margin-based pairwise
form, or temperature-scaled form when a temperature is given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import LossParameterError
from losses_ranking._common import check_positive, check_reduction, detached
from losses_ranking._embeddings import euclidean_distances, label_masks, maybe_normalize, read_embeddings
from losses_ranking._infonce import pair_infonce

__all__ = ["contrastive"]

DEFAULT_NEG_MARGIN = 1.0


def contrastive(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    margin: float | None = None,
    pos_margin: float = 0.0,
    temperature: float | None = None,
    normalize: bool = True,
    reduction: str = "mean",
    embeddings_key: str = "embeddings",
    labels_key: str = "labels",
) -> dict[str, Any] | torch.Tensor:
    r"""Contrastive loss on embeddings and class labels, registered as ``contrastive``.

    Seed 002 gives this built-in two arguments, ``margin`` and
    ``temperature``; they map as follows (no parameter is ever ignored):

    **Pairwise form** (``temperature=None``, the default; pytorch-metric-learning's
    ``ContrastiveLoss(pos_margin, neg_margin)``, Hadsell et al. 2006 without the
    square). With :math:`d_{ij}` the Euclidean distance between (by default
    L2-normalised) embeddings, over ordered pairs :math:`i \ne j`:

    .. math:: \ell^+_{ij} = \max(0, d_{ij} - m_+) \;\;(y_i = y_j), \qquad
              \ell^-_{ij} = \max(0, m_- - d_{ij}) \;\;(y_i \ne y_j)

    with :math:`m_-` = ``margin`` (default 1.0) and :math:`m_+` =
    ``pos_margin`` (default 0). ``reduction="mean"``: each of the two
    sub-losses is averaged over its pairs with a positive loss (PML's
    ``AvgNonZeroReducer``) and the two averages are added; ``"sum"``: the sum
    over all pairs; ``"none"``: per-anchor sums ``[N]``.

    **Temperature form** (``temperature=τ`` given): the supervised InfoNCE /
    NT-Xent loss (PML's ``NTXentLoss(temperature)`` with labels), with
    cosine similarities :math:`s` (dot products if ``normalize=False``) and
    ``margin`` as an additive margin :math:`m` on the positive similarity
    (default 0; AM-softmax style, Yang et al. 2019), per positive pair:

    .. math:: \ell_{ip} = -\log \frac{e^{(s_{ip} - m)/\tau}}
              {e^{(s_{ip} - m)/\tau} + \sum_{n: y_n \ne y_i} e^{s_{in}/\tau}}

    ``reduction="mean"``: mean over positive pairs (PML's default); ``"sum"``:
    their sum; ``"none"``: per-anchor sums ``[N]``. ``pos_margin`` belongs to
    the pairwise form: a nonzero value with a temperature raises
    :class:`~losses_core.LossParameterError`.

    No valid pair gives a zero connected to the graph. Inputs:
    ``model_output[embeddings_key]`` ``[N, D]``, ``targets[labels_key]``
    ``[N]``. Metrics (pairwise): ``pos_loss``, ``neg_loss``, ``num_pos_pairs``,
    ``num_neg_pairs``, ``active_pos_pairs``, ``active_neg_pairs``;
    (temperature): ``num_pos_pairs``, ``mean_pos_similarity``,
    ``mean_neg_similarity``.
    """
    name = "contrastive"
    check_reduction(name, reduction)
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
        raise LossParameterError(f"loss {name!r}: margin must be a number or None, got {margin!r}")
    emb, labels = read_embeddings(
        model_output, targets, loss=name, embeddings_key=embeddings_key, labels_key=labels_key
    )
    emb = maybe_normalize(emb, normalize)
    positive, negative = label_masks(labels, labels, dtype=emb.dtype)
    if temperature is not None:
        check_positive(name, "temperature", temperature)
        if pos_margin != 0.0:
            raise LossParameterError(
                f"loss {name!r}: pos_margin applies to the pairwise form (temperature=None); "
                f"with temperature={temperature!r} use margin (an additive margin on positive "
                f"similarities), got pos_margin={pos_margin!r}"
            )
        return _temperature_form(emb, positive, negative, temperature, margin or 0.0, reduction)
    neg_margin = DEFAULT_NEG_MARGIN if margin is None else float(margin)
    return _pairwise_form(emb, positive, negative, pos_margin, neg_margin, reduction)


def _pairwise_form(
    emb: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    pos_margin: float,
    neg_margin: float,
    reduction: str,
) -> dict[str, Any] | torch.Tensor:
    dist = euclidean_distances(emb)
    pos_terms = (dist - pos_margin).clamp_min(0.0) * positive
    neg_terms = (neg_margin - dist).clamp_min(0.0) * negative
    if reduction == "none":
        return pos_terms.sum(dim=-1) + neg_terms.sum(dim=-1)
    with torch.no_grad():
        active_pos = pos_terms.sign().sum()  # terms are >= 0
        active_neg = neg_terms.sign().sum()
    if reduction == "sum":
        pos_loss, neg_loss = pos_terms.sum(), neg_terms.sum()
    else:
        pos_loss = pos_terms.sum() / active_pos.clamp_min(1)
        neg_loss = neg_terms.sum() / active_neg.clamp_min(1)
    return {
        "loss": pos_loss + neg_loss,
        "metrics": {
            "pos_loss": detached(pos_loss),
            "neg_loss": detached(neg_loss),
            "num_pos_pairs": detached(positive.sum()),
            "num_neg_pairs": detached(negative.sum()),
            "active_pos_pairs": active_pos,
            "active_neg_pairs": active_neg,
        },
        "auxiliary": {},
    }


def _temperature_form(
    emb: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    temperature: float,
    margin: float,
    reduction: str,
) -> dict[str, Any] | torch.Tensor:
    sim = emb @ emb.transpose(0, 1)
    per_pair = pair_infonce(sim / temperature, positive, negative, margin / temperature)
    if reduction == "none":
        return per_pair.sum(dim=-1)
    num_pos = positive.sum()
    total = per_pair.sum()
    value = total if reduction == "sum" else total / num_pos.clamp_min(1)
    with torch.no_grad():
        mean_pos = (sim * positive).sum() / num_pos.clamp_min(1)
        mean_neg = (sim * negative).sum() / negative.sum().clamp_min(1)
    return {
        "loss": value,
        "metrics": {
            "num_pos_pairs": detached(num_pos),
            "mean_pos_similarity": mean_pos,
            "mean_neg_similarity": mean_neg,
        },
        "auxiliary": {},
    }
