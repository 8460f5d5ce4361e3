"""The symmetric CLIP loss (Radford et al. 2021), optionally over all processes."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from losses_core import Input, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32
from losses_ranking._distributed import all_gather_with_grad, local_rows, world
from losses_ranking._embeddings import TOWER_INPUTS, maybe_normalize, paired_views
from losses_ranking._scale import as_scalar, effective_scale

__all__ = ["clip"]


def clip_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    r"""Example inputs for the conformance checker: paired ``[B, 8]`` towers and
    CLIP's initial log-scale :math:`\log(1/0.07)`."""
    image, text = paired_views(batch_size, dtype)
    scale = torch.tensor(math.log(1 / 0.07), dtype=dtype, requires_grad=True)
    return {"image_embeddings": image, "text_embeddings": text, "logit_scale": scale}, {}, {}


@register_loss(
    inputs=[
        *TOWER_INPUTS,
        Input("logit_bias", "model_output", optional=True, dtype="float", doc="a bias added to every logit"),
    ],
    example_inputs=clip_example,
)
def clip(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor | None = None,
    *,
    logit_scale_is_log: bool = True,
    max_logit_scale: Annotated[float, Range(gt=0)] | None = 100.0,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Symmetric CLIP contrastive loss over matching image and text embeddings.

    ``model_output["image_embeddings"]`` and ``model_output["text_embeddings"]``
    are ``[N, D]`` with row :math:`i` of each a matching pair;
    ``model_output["logit_scale"]`` is the learnable scalar :math:`t` (one
    element). **By default it is in log space** (the
    parameter CLIP learns, initialised to :math:`\log(1/0.07)`) and the loss
    uses :math:`e^{t}`, capped at ``max_logit_scale`` (100, CLIP's clamp of
    :math:`t` at :math:`\ln 100`; the cap is applied in the forward pass, so
    the scale gets no gradient above it). open_clip's ``ClipLoss`` receives the
    scale already exponentiated: pass ``logit_scale_is_log=False`` for that.
    An optional ``model_output["logit_bias"]`` (one element) is added to every
    logit. Other keys through ``keys=``, for example
    ``keys={"image_embeddings": "image_features"}``.

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
    raw_scale = as_scalar(name, "logit_scale", logit_scale)
    scale = effective_scale(raw_scale, log_space=logit_scale_is_log, max_scale=max_logit_scale)
    bias = None if logit_bias is None else as_scalar(name, "logit_bias", logit_bias)
    img = maybe_normalize(at_least_float32(image_embeddings), normalize)
    txt = maybe_normalize(at_least_float32(text_embeddings), normalize)
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
    image_loss, text_loss = reduce(image_ce, reduction), reduce(text_ce, reduction)
    with torch.no_grad():
        image_acc = _top1(per_image_logits, labels)
        text_acc = _top1(per_text_logits, labels)
    return loss_result(
        (image_loss + text_loss) / 2,
        metrics={
            "image_loss": image_loss,
            "text_loss": text_loss,
            "logit_scale": scale,
            "image_accuracy": image_acc,
            "text_accuracy": text_acc,
        },
    )


def _top1(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose label's logit is the largest (ties count as hits)."""
    target = torch.gather(logits, -1, labels.unsqueeze(-1)).squeeze(-1)
    return (target >= logits.amax(dim=-1)).to(logits.dtype).mean()
