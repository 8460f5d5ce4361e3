"""Supervised contrastive loss (Khosla et al. 2020), optionally over all processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_ranking._common import check_positive, check_reduction, detached
from losses_ranking._distributed import all_gather_no_grad, all_gather_with_grad, all_reduce_sum, world
from losses_ranking._embeddings import label_masks, maybe_normalize, read_embeddings
from losses_ranking._infonce import masked_logsumexp

__all__ = ["supcon"]


def supcon(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    temperature: float = 0.1,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: str = "mean",
    embeddings_key: str = "embeddings",
    labels_key: str = "labels",
) -> dict[str, Any] | torch.Tensor:
    r"""Supervised contrastive loss (:math:`\mathcal L^{sup}_{out}`), registered as ``supcon``.

    With cosine similarities :math:`s` (dot products if ``normalize=False``),
    temperature :math:`\tau` (default 0.1), :math:`A(i)` all samples but
    :math:`i` and :math:`P(i)` those with :math:`i`'s label:

    .. math:: \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
              \log \frac{e^{s_{ip}/\tau}}{\sum_{a \in A(i)} e^{s_{ia}/\tau}}

    as pytorch-metric-learning's ``SupConLoss(temperature)``. Embeddings are
    normalised by default (unnormalised SupCon overflows: SupContrast #50/#100).

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
    gradient (see :mod:`losses_ranking._distributed`).

    Inputs: ``model_output[embeddings_key]`` ``[N, D]``, ``targets[labels_key]``
    ``[N]``. Metrics: ``num_anchors`` (with a positive), ``mean_pos_similarity``.
    Paper: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.
    """
    name = "supcon"
    check_reduction(name, reduction)
    check_positive(name, "temperature", temperature)
    emb, labels = read_embeddings(
        model_output, targets, loss=name, embeddings_key=embeddings_key, labels_key=labels_key
    )
    emb = maybe_normalize(emb, normalize)
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
    per_anchor = -log_prob_pos / num_pos.clamp_min(1)
    if reduction == "none":
        return per_anchor
    total = per_anchor.sum()
    count = (num_pos > 0).sum().to(logits.dtype)
    if reduction == "sum":
        value = total
    elif local_loss and size > 1:
        value = total * size / all_reduce_sum(count, size).clamp_min(1)
    else:
        value = total / count.clamp_min(1)
    with torch.no_grad():
        mean_pos = (logits * positive).sum() * temperature / num_pos.sum().clamp_min(1)
    return {
        "loss": value,
        "metrics": {"num_anchors": detached(count), "mean_pos_similarity": mean_pos},
        "auxiliary": {},
    }
