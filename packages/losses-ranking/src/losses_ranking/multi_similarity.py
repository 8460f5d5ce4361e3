"""Multi-similarity loss (Wang et al. 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_ranking._common import check_positive, check_reduction, detached
from losses_ranking._embeddings import label_masks, maybe_normalize, read_embeddings
from losses_ranking._infonce import masked_logsumexp

__all__ = ["multi_similarity"]


def _log1p_sum_exp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(1 + \sum_{j \in mask} e^{x_j})` per row (0/1 float
    mask); exactly 0 for an empty row, whose masked log-sum-exp is about
    ``-finfo.max / 4``."""
    lse, _ = masked_logsumexp(x, mask)
    return torch.nn.functional.softplus(lse)  # log(1 + e^lse)


def multi_similarity(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    normalize: bool = True,
    reduction: str = "mean",
    embeddings_key: str = "embeddings",
    labels_key: str = "labels",
) -> dict[str, Any] | torch.Tensor:
    r"""Multi-similarity loss, registered as ``multi_similarity``.

    With cosine similarities :math:`S` (dot products if ``normalize=False``),
    positives :math:`P_i` (same label, not :math:`i`) and negatives
    :math:`N_i` (other labels), per anchor:

    .. math:: \ell_i = \frac{1}{\alpha} \log\Bigl(1 + \sum_{p \in P_i} e^{-\alpha (S_{ip} - \lambda)}\Bigr)
              + \frac{1}{\beta} \log\Bigl(1 + \sum_{n \in N_i} e^{\beta (S_{in} - \lambda)}\Bigr)

    (:math:`\lambda` = ``base``; defaults ``alpha=2, beta=50, base=0.5``),
    computed with a masked log-sum-exp, as pytorch-metric-learning's
    ``MultiSimilarityLoss`` (without the paper's pair mining; combine with a
    miner upstream if wanted). An empty set contributes 0.

    - ``reduction="mean"`` (default): mean over all anchors (PML's
      ``MeanReducer``); ``"sum"``; ``"none"``: :math:`\ell_i` ``[N]``.

    Inputs: ``model_output[embeddings_key]`` ``[N, D]``, ``targets[labels_key]``
    ``[N]``. Metrics: ``pos_loss``, ``neg_loss`` (their means over anchors).
    Paper: Wang et al., "Multi-Similarity Loss with General Pair Weighting for
    Deep Metric Learning", CVPR 2019.
    """
    name = "multi_similarity"
    check_reduction(name, reduction)
    check_positive(name, "alpha", alpha)
    check_positive(name, "beta", beta)
    emb, labels = read_embeddings(
        model_output, targets, loss=name, embeddings_key=embeddings_key, labels_key=labels_key
    )
    emb = maybe_normalize(emb, normalize)
    sim = emb @ emb.transpose(0, 1)
    positive, negative = label_masks(labels, labels, dtype=emb.dtype)
    pos_loss = _log1p_sum_exp(-alpha * (sim - base), positive) / alpha
    neg_loss = _log1p_sum_exp(beta * (sim - base), negative) / beta
    per_anchor = pos_loss + neg_loss
    if reduction == "none":
        return per_anchor
    value = per_anchor.mean() if reduction == "mean" else per_anchor.sum()
    return {
        "loss": value,
        "metrics": {"pos_loss": detached(pos_loss.mean()), "neg_loss": detached(neg_loss.mean())},
        "auxiliary": {},
    }
