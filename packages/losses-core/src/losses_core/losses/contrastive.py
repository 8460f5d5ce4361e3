"""The contrastive loss on labelled embeddings: the margin-based pairwise
form, or the temperature-scaled (supervised InfoNCE) form when a temperature
is given."""

from __future__ import annotations

from typing import Annotated, Any

import torch
import torch.nn.functional as F

from losses_core import LossParameterError, LossReturn
from losses_core._registry import register_loss
from losses_core.inputs import Input
from losses_core.params import Range
from losses_core.reduction import Reduction
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32, euclidean_distances, label_masks

__all__ = ["contrastive"]

DEFAULT_NEG_MARGIN = 1.0


def contrastive_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``2 B`` embeddings of size 8,
    two per class, so that even a batch of one has a positive pair."""
    n = 2 * batch_size
    embeddings = torch.randn(n, 8, dtype=dtype, requires_grad=True)
    labels = torch.arange(n) // 2
    return {"embeddings": embeddings}, {"labels": labels}, {"margin": 1.0}


@register_loss(
    inputs=[
        Input("embeddings", "model_output", shape="N D", dtype="float", doc="one embedding per row"),
        Input("labels", "targets", shape="N", doc="class ids; equal ids make positive pairs"),
    ],
    example_inputs=contrastive_example,
)
def contrastive(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float | None = None,
    temperature: Annotated[float, Range(gt=0)] | None = None,
    pos_margin: float = 0.0,
    normalize: bool = True,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Contrastive loss on embeddings and class labels, pairwise or temperature-scaled.

    The two common parameters, ``margin`` and ``temperature``, select and
    shape the form; no parameter is ever ignored.

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

    **Temperature form** (``temperature=τ > 0`` given): the supervised InfoNCE
    / NT-Xent loss (PML's ``NTXentLoss(temperature)`` with labels), with
    cosine similarities :math:`s` (dot products if ``normalize=False``) and
    ``margin`` as an additive margin :math:`m` on the positive similarity
    (default 0; AM-softmax style, Yang et al. 2019), per positive pair:

    .. math:: \ell_{ip} = -\log \frac{e^{(s_{ip} - m)/\tau}}
              {e^{(s_{ip} - m)/\tau} + \sum_{n: y_n \ne y_i} e^{s_{in}/\tau}}

    Other positives of the anchor are not in the denominator.
    ``reduction="mean"``: mean over positive pairs (PML's default);
    ``"sum"``: their sum; ``"none"``: per-anchor sums ``[N]``.
    ``pos_margin`` belongs to the pairwise form: a nonzero value with a
    temperature raises :class:`~losses_core.LossParameterError`.

    Both forms: ``normalize=True`` L2-normalises the rows first; float16 and
    bfloat16 embeddings are computed in float32; no valid pair gives 0
    connected to the graph. Metrics (pairwise): ``pos_loss``, ``neg_loss``,
    ``num_pos_pairs``, ``num_neg_pairs``, ``active_pos_pairs``,
    ``active_neg_pairs``; (temperature): ``num_pos_pairs``,
    ``mean_pos_similarity``, ``mean_neg_similarity``.
    """
    if temperature is not None and pos_margin != 0.0:
        raise LossParameterError(
            f"loss 'contrastive': parameter 'pos_margin' applies to the pairwise form (temperature=None); "
            f"with temperature={temperature!r} use margin (an additive margin on positive "
            f"similarities), got pos_margin={pos_margin!r}"
        )
    emb = at_least_float32(embeddings)
    if normalize:
        emb = F.normalize(emb, p=2.0, dim=-1)
    positive, negative = label_masks(labels, dtype=emb.dtype)
    if temperature is not None:
        return _temperature_form(emb, positive, negative, temperature, margin or 0.0, reduction)
    neg_margin = DEFAULT_NEG_MARGIN if margin is None else float(margin)
    return _pairwise_form(emb, positive, negative, pos_margin, neg_margin, reduction)


def _pairwise_form(
    emb: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    pos_margin: float,
    neg_margin: float,
    reduction: Reduction,
) -> LossReturn | torch.Tensor:
    dist = euclidean_distances(emb)
    pos_terms = (dist - pos_margin).clamp_min(0.0) * positive
    neg_terms = (neg_margin - dist).clamp_min(0.0) * negative
    if reduction == "none":
        return pos_terms.sum(dim=-1) + neg_terms.sum(dim=-1)
    with torch.no_grad():
        active_pos = pos_terms.sign().sum()  # the terms are >= 0
        active_neg = neg_terms.sign().sum()
    if reduction == "sum":
        pos_loss, neg_loss = pos_terms.sum(), neg_terms.sum()
    else:
        pos_loss = pos_terms.sum() / active_pos.clamp_min(1)
        neg_loss = neg_terms.sum() / active_neg.clamp_min(1)
    return loss_result(
        pos_loss + neg_loss,
        metrics={
            "pos_loss": pos_loss,
            "neg_loss": neg_loss,
            "num_pos_pairs": positive.sum(),
            "num_neg_pairs": negative.sum(),
            "active_pos_pairs": active_pos,
            "active_neg_pairs": active_neg,
        },
    )


def _temperature_form(
    emb: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    temperature: float,
    margin: float,
    reduction: Reduction,
) -> LossReturn | torch.Tensor:
    sim = emb @ emb.transpose(0, 1)
    logits = sim / temperature
    # -log(e^{x_p - m} / (e^{x_p - m} + sum_n e^{x_n})) = softplus(lse_n x_n - (x_p - m)); masked-out
    # entries sit at about -finfo.max / 4 (finite), so an anchor without a negative gives exactly 0.
    big = torch.finfo(logits.dtype).max / 4
    neg_lse = torch.logsumexp(logits * negative + (negative - 1.0) * big, dim=-1)
    per_pair = F.softplus(neg_lse.unsqueeze(-1) - (logits - margin / temperature)) * positive
    if reduction == "none":
        return per_pair.sum(dim=-1)
    num_pos = positive.sum()
    total = per_pair.sum()
    value = total if reduction == "sum" else total / num_pos.clamp_min(1)
    with torch.no_grad():
        mean_pos = (sim * positive).sum() / num_pos.clamp_min(1)
        mean_neg = (sim * negative).sum() / negative.sum().clamp_min(1)
    return loss_result(
        value,
        metrics={"num_pos_pairs": num_pos, "mean_pos_similarity": mean_pos, "mean_neg_similarity": mean_neg},
    )
