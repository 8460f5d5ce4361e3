"""The sigmoid loss for language-image pre-training (SigLIP, Zhai et al. 2023)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_ranking._common import as_float, check_reduction, detached
from losses_ranking._distributed import all_gather_with_grad, world
from losses_ranking._embeddings import maybe_normalize, read_pair
from losses_ranking._scale import logit_scale, read_scalar

__all__ = ["siglip"]


def siglip(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    logit_scale_is_log: bool = True,
    max_logit_scale: float | None = None,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: str = "mean",
    image_key: str = "image_embeddings",
    text_key: str = "text_embeddings",
    logit_scale_key: str = "logit_scale",
    logit_bias_key: str | None = "logit_bias",
) -> dict[str, Any] | torch.Tensor:
    r"""Pairwise sigmoid loss, registered as ``siglip``.

    With L2-normalised embeddings :math:`\hat x_i, \hat y_j` (``normalize=True``),
    scale :math:`e^{t}` from ``model_output[logit_scale_key]`` (log space by
    default, as in the paper's initialisation :math:`t = \log 10`; pass
    ``logit_scale_is_log=False`` for open_clip's already-exponentiated scale;
    optional cap ``max_logit_scale``) and the learnable bias
    ``model_output[logit_bias_key]`` :math:`b` (paper init :math:`-10`;
    required unless ``logit_bias_key=None``, which uses no bias):

    .. math:: z_{ij} = e^{t} \hat x_i^\top \hat y_j + b, \qquad
              \ell = -\frac{1}{N} \sum_{i,j} \log \sigma\bigl(\pm z_{ij}\bigr)

    with :math:`+` for the matching pairs :math:`i = j` and :math:`-`
    otherwise: open_clip's ``SigLipLoss`` (labels :math:`2I - 1`, sum over
    the matrix divided by the number of images). ``targets`` is not used.

    - ``reduction="mean"`` (default): the formula above; ``"sum"``: without
      the :math:`1/N`; ``"none"``: per-image row sums ``[N]``.

    ``distributed=True`` (a no-op unless ``torch.distributed`` is initialised;
    same ``N`` on every process): text embeddings are gathered with gradient
    (images too when ``local_loss=False``), which gives open_clip's
    ``dist_impl="gather"`` (all negatives from every process).
    ``local_loss=False``: every process computes the global loss over the
    ``W N × W N`` matrix, divided by ``W N``; ``local_loss=True``: its own
    ``N`` images against all ``W N`` texts, divided by ``N``; the mean over
    processes is the global loss. The gradient reaching the local embeddings
    is ``world_size`` times the global loss's; DistributedDataParallel's
    averaging turns it back into exactly the global gradient.

    Metrics: ``logit_scale``, ``logit_bias``, ``pos_loss`` and ``neg_loss``
    (the matching and non-matching parts of the loss).
    """
    name = "siglip"
    check_reduction(name, reduction)
    img, txt = read_pair(model_output, loss=name, keys=(image_key, text_key))
    raw_scale = read_scalar(model_output, logit_scale_key, loss=name, required=True)
    assert raw_scale is not None
    bias = read_scalar(model_output, logit_bias_key, loss=name, required=True)
    scale = logit_scale(raw_scale, loss=name, log_space=logit_scale_is_log, max_scale=max_logit_scale)
    img, txt = maybe_normalize(img, normalize), maybe_normalize(txt, normalize)
    rank, size = world(distributed)
    n_local = img.shape[0]
    all_txt = all_gather_with_grad(txt, size)
    if local_loss and size > 1:
        images, offset = img, rank * n_local
    else:
        images, offset = all_gather_with_grad(img, size), 0
    logits = (scale * images) @ all_txt.transpose(0, 1)
    if bias is not None:
        logits = logits + bias
    rows = torch.arange(images.shape[0], device=img.device) + offset
    cols = torch.arange(all_txt.shape[0], device=img.device)
    matching = as_float(rows.unsqueeze(-1) == cols.unsqueeze(0), logits.dtype)
    terms = -F.logsigmoid(logits * (2.0 * matching - 1.0))  # labels +1 on matching pairs, -1 elsewhere
    per_image = terms.sum(dim=-1)
    if reduction == "none":
        return per_image
    value = per_image.mean() if reduction == "mean" else per_image.sum()
    with torch.no_grad():
        pos = (terms * matching).sum() / images.shape[0]
        neg = (terms * (1.0 - matching)).sum() / images.shape[0]
    return {
        "loss": value,
        "metrics": {
            "logit_scale": detached(scale),
            "logit_bias": detached(bias) if bias is not None else detached(scale * 0),
            "pos_loss": pos,
            "neg_loss": neg,
        },
        "auxiliary": {},
    }
