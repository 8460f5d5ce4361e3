"""Supervised contrastive loss (Khosla et al. 2020), optionally over all processes."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, safe_divide
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32, label_masks
from losses_ranking._distributed import all_gather_no_grad, all_gather_with_grad, all_reduce_sum, world
from losses_ranking._embeddings import LABELLED_INPUTS, labelled_example, maybe_normalize
from losses_ranking._logsumexp import masked_logsumexp

__all__ = ["supcon"]


def supcon_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: two embeddings per class."""
    return labelled_example(batch_size, dtype)


@register_loss(inputs=LABELLED_INPUTS, example_inputs=supcon_example)
def supcon(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: Annotated[float, Range(gt=0)] = 0.1,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Supervised contrastive loss: each anchor's positives against all other samples.

    This is :math:`\mathcal L^{sup}_{out}` of the paper. With cosine
    similarities :math:`s` (dot products if ``normalize=False``), temperature
    :math:`\tau` (default 0.1), :math:`A(i)` all samples but :math:`i` and
    :math:`P(i)` those with :math:`i`'s label:

    .. math:: \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
              \log \frac{e^{s_{ip}/\tau}}{\sum_{a \in A(i)} e^{s_{ia}/\tau}}

    as pytorch-metric-learning's ``SupConLoss(temperature)``. Embeddings are
    normalised by default (unnormalised SupCon overflows: SupContrast #50/#100).

    **An anchor without a negative** (every sample of the batch shares its
    label, so :math:`A(i) = P(i)`) keeps the paper's formula, as the authors'
    SupContrast code computes it: :math:`\ell_i = \log \sum_{p \in P(i)}
    e^{s_{ip}/\tau} - \frac{1}{|P(i)|} \sum_{p \in P(i)} s_{ip}/\tau \ge
    \log |P(i)|`, which is 0 only for a single positive and whose gradient
    evens out the positive similarities. pytorch-metric-learning's
    ``SupConLoss`` instead gives 0 (no gradient) for a batch without any
    negative pair; it agrees with this loss on every batch that has one.

    - ``reduction="mean"`` (default): mean over the anchors with at least one
      positive (PML's ``AvgNonZeroReducer`` gives the same unless a loss is
      exactly 0); zero, connected to the graph, when there is none.
    - ``"sum"``; ``"none"``: :math:`\ell_i` per (local) anchor ``[N]``.

    ``distributed=True`` (a no-op unless ``torch.distributed`` is initialised):
    embeddings and labels are gathered from every process (same ``N`` on each;
    embeddings with gradient) so every anchor sees the whole global batch.
    ``local_loss=False``: each process computes the loss of the global batch
    (same value everywhere). ``local_loss=True``: each process computes only
    its own anchors, normalised by the global number of anchors with a
    positive times the world size, so that the mean over processes equals the
    global loss. Either way the gradient reaching the local embeddings is
    ``world_size`` times the gradient of the global loss, which
    DistributedDataParallel's averaging turns back into exactly the global
    gradient (see the README's section on distributed training).

    Inputs: ``model_output["embeddings"]`` ``[N, D]``, ``targets["labels"]``
    ``[N]`` (other keys through ``keys=``). Metrics: ``num_anchors`` (with a
    positive), ``mean_pos_similarity``. Paper: Khosla et al., "Supervised
    Contrastive Learning", NeurIPS 2020.
    """
    emb = maybe_normalize(at_least_float32(embeddings), normalize)
    rank, size = world(distributed)
    keys = all_gather_with_grad(emb, size)
    key_labels = all_gather_no_grad(labels, size)
    if local_loss or size == 1:
        offset = rank * emb.shape[0] if size > 1 else 0
        queries, query_labels = keys[offset : offset + emb.shape[0]], labels
    else:
        offset, queries, query_labels = 0, keys, key_labels
    positive, negative = label_masks(query_labels, key_labels, offset, dtype=emb.dtype)
    logits = (queries / temperature) @ keys.transpose(0, 1)
    denominator, _ = masked_logsumexp(logits, positive + negative)  # all but the anchor itself
    num_pos = positive.sum(dim=-1)
    log_prob_pos = (logits * positive).sum(dim=-1) - denominator * num_pos
    per_anchor = -safe_divide(log_prob_pos, num_pos)
    if reduction == "none":
        return per_anchor
    total = per_anchor.sum()
    count = (num_pos > 0).sum().to(logits.dtype)
    if reduction == "sum":
        value = total
    elif local_loss and size > 1:
        value = safe_divide(total * size, all_reduce_sum(count, size))
    else:
        value = safe_divide(total, count)
    with torch.no_grad():
        mean_pos = safe_divide((logits * positive).sum() * temperature, num_pos.sum())
    return loss_result(value, metrics={"num_anchors": count, "mean_pos_similarity": mean_pos})
