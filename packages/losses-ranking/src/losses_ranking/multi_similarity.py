"""Multi-similarity loss (Wang et al. 2019)."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32, label_masks
from losses_ranking._embeddings import LABELLED_INPUTS, labelled_example, maybe_normalize
from losses_ranking._logsumexp import masked_logsumexp

__all__ = ["multi_similarity"]


def _log1p_sum_exp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(1 + \sum_{j \in mask} e^{x_j})` per row (0/1 float
    mask); exactly 0 for an empty row, whose masked log-sum-exp is about
    ``-finfo.max / 4``."""
    lse, _ = masked_logsumexp(x, mask)
    return torch.nn.functional.softplus(lse)  # log(1 + e^lse)


def multi_similarity_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: two embeddings per class."""
    return labelled_example(batch_size, dtype)


@register_loss(inputs=LABELLED_INPUTS, example_inputs=multi_similarity_example)
def multi_similarity(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: Annotated[float, Range(gt=0)] = 2.0,
    beta: Annotated[float, Range(gt=0)] = 50.0,
    base: float = 0.5,
    normalize: bool = True,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Multi-similarity loss: every pair of an anchor, softly weighted by similarity.

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

    Inputs: ``model_output["embeddings"]`` ``[N, D]``, ``targets["labels"]``
    ``[N]`` (other keys through ``keys=``). Metrics: ``pos_loss``,
    ``neg_loss`` (their means over anchors). Paper: Wang et al.,
    "Multi-Similarity Loss with General Pair Weighting for Deep Metric
    Learning", CVPR 2019.
    """
    emb = maybe_normalize(at_least_float32(embeddings), normalize)
    sim = emb @ emb.transpose(0, 1)
    positive, negative = label_masks(labels, labels, dtype=emb.dtype)
    pos_loss = _log1p_sum_exp(-alpha * (sim - base), positive) / alpha
    neg_loss = _log1p_sum_exp(beta * (sim - base), negative) / beta
    per_anchor = pos_loss + neg_loss
    if reduction == "none":
        return per_anchor
    return loss_result(
        reduce(per_anchor, reduction), metrics={"pos_loss": pos_loss.mean(), "neg_loss": neg_loss.mean()}
    )
