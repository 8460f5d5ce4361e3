"""The symmetric CLIP loss (Radford et al. 2021), optionally over all processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_ranking._common import check_reduction, detached
from losses_ranking._distributed import all_gather_with_grad, local_rows, world
from losses_ranking._embeddings import maybe_normalize, read_pair
from losses_ranking._scale import logit_scale, read_scalar

__all__ = ["clip"]


def clip(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    logit_scale_is_log: bool = True,
    max_logit_scale: float | None = 100.0,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: str = "mean",
    image_key: str = "image_embeddings",
    text_key: str = "text_embeddings",
    logit_scale_key: str = "logit_scale",
    logit_bias_key: str | None = "logit_bias",
) -> dict[str, Any] | torch.Tensor:
    r"""Symmetric CLIP contrastive loss, registered as ``clip``.

    ``model_output[image_key]`` and ``model_output[text_key]`` are ``[N, D]``
    with row :math:`i` of each a matching pair; ``model_output[logit_scale_key]``
    is the learnable scalar :math:`t`. **By default it is in log space** (the
    parameter CLIP learns, initialised to :math:`\log(1/0.07)`) and the loss
    uses :math:`e^{t}`, capped at ``max_logit_scale`` (100, CLIP's clamp of
    :math:`t` at :math:`\ln 100`; the cap is applied in the forward pass, so
    the scale gets no gradient above it). open_clip's ``ClipLoss`` receives the
    scale already exponentiated: pass ``logit_scale_is_log=False`` for that.
    An optional ``model_output[logit_bias_key]`` is added to every logit.

    .. math:: L = e^{t}\, \hat x \hat y^\top (+ b), \qquad
              \ell = \tfrac12\bigl(\mathrm{CE}(L, \mathrm{arange})
              + \mathrm{CE}(L^\top, \mathrm{arange})\bigr)

    with :math:`\hat x, \hat y` the L2-normalised embeddings (``normalize=True``;
    idempotent if the model already normalises). ``targets`` is not used.

    - ``reduction="mean"`` (default): the formula above (each CE a mean over
      rows); ``"sum"``: the two CE sums, halved; ``"none"``: per-row
      ``(CE_image + CE_text) / 2`` ``[N]``.

    ``distributed=True`` (a no-op unless ``torch.distributed`` is initialised;
    same ``N`` on every process): both towers are gathered with gradient
    (open_clip's ``gather_with_grad``). ``local_loss=False``: every process
    computes the global loss; ``local_loss=True`` (open_clip's
    ``--local-loss``): local rows against all columns, labels offset by
    ``rank * N``; the mean over processes is the global loss. The gradient
    reaching the local embeddings is ``world_size`` times the global loss's;
    DistributedDataParallel's averaging turns it back into exactly the global
    gradient.

    Metrics: ``image_loss``, ``text_loss``, ``logit_scale`` (the multiplier
    used), ``image_accuracy``, ``text_accuracy`` (top-1 retrieval).
    """
    name = "clip"
    check_reduction(name, reduction)
    img, txt = read_pair(model_output, loss=name, keys=(image_key, text_key))
    raw_scale = read_scalar(model_output, logit_scale_key, loss=name, required=True)
    assert raw_scale is not None
    bias = read_scalar(model_output, logit_bias_key, loss=name, required=False)
    scale = logit_scale(raw_scale, loss=name, log_space=logit_scale_is_log, max_scale=max_logit_scale)
    img, txt = maybe_normalize(img, normalize), maybe_normalize(txt, normalize)
    rank, size = world(distributed)
    n_local = img.shape[0]
    all_img, all_txt = all_gather_with_grad(img, size), all_gather_with_grad(txt, size)
    if local_loss and size > 1:
        offset, count = rank * n_local, n_local
    else:
        offset, count = 0, all_img.shape[0]
    labels = torch.arange(count, device=img.device) + offset
    # the scale multiplies the [N, D] queries, cheaper than the [N, M] logits
    per_image_logits = (scale * local_rows(all_img, offset, count)) @ all_txt.transpose(0, 1)
    per_text_logits = (scale * local_rows(all_txt, offset, count)) @ all_img.transpose(0, 1)
    if bias is not None:
        per_image_logits = per_image_logits + bias
        per_text_logits = per_text_logits + bias
    image_ce = F.cross_entropy(per_image_logits, labels, reduction="none")
    text_ce = F.cross_entropy(per_text_logits, labels, reduction="none")
    if reduction == "none":
        return (image_ce + text_ce) / 2
    reduce = torch.mean if reduction == "mean" else torch.sum
    image_loss, text_loss = reduce(image_ce), reduce(text_ce)
    with torch.no_grad():
        image_acc = _top1(per_image_logits, labels)
        text_acc = _top1(per_text_logits, labels)
    return {
        "loss": (image_loss + text_loss) / 2,
        "metrics": {
            "image_loss": detached(image_loss),
            "text_loss": detached(text_loss),
            "logit_scale": detached(scale),
            "image_accuracy": image_acc,
            "text_accuracy": text_acc,
        },
        "auxiliary": {},
    }


def _top1(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose label's logit is the largest (ties count as hits)."""
    target = torch.gather(logits, -1, labels.unsqueeze(-1)).squeeze(-1)
    return (target >= logits.amax(dim=-1)).to(logits.dtype).mean()
