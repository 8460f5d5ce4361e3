"""The sigmoid loss for language-image pre-training (SigLIP, Zhai et al. 2023)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from losses_core import Input, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_core.tensors import as_float, at_least_float32
from losses_ranking._distributed import all_gather_with_grad, world
from losses_ranking._embeddings import TOWER_INPUTS, maybe_normalize, paired_views
from losses_ranking._scale import as_scalar, effective_scale

__all__ = ["siglip"]


def siglip_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    r"""Example inputs for the conformance checker: paired ``[B, 8]`` towers and
    the paper's initial log-scale :math:`\log 10` and bias :math:`-10`."""
    image, text = paired_views(batch_size, dtype)
    scale = torch.tensor(math.log(10.0), dtype=dtype, requires_grad=True)
    bias = torch.tensor(-10.0, dtype=dtype, requires_grad=True)
    towers = {"image_embeddings": image, "text_embeddings": text}
    return {**towers, "logit_scale": scale, "logit_bias": bias}, {}, {}


@register_loss(
    inputs=[
        *TOWER_INPUTS,
        Input(
            "logit_bias",
            "model_output",
            optional=True,
            dtype="float",
            doc="the learnable bias (one element); absent means no bias",
        ),
    ],
    example_inputs=siglip_example,
)
def siglip(
    image_embeddings: torch.Tensor,
    text_embeddings: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor | None = None,
    *,
    logit_scale_is_log: bool = True,
    max_logit_scale: Annotated[float, Range(gt=0)] | None = None,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""SigLIP: a sigmoid loss on every image-text pair, matching or not.

    With L2-normalised embeddings :math:`\hat x_i, \hat y_j` of
    ``model_output["image_embeddings"]`` and ``model_output["text_embeddings"]``
    (``[N, D]``, ``normalize=True``), scale :math:`e^{t}` from
    ``model_output["logit_scale"]`` (one element; log space by default, as in
    the paper's initialisation :math:`t = \log 10`; pass
    ``logit_scale_is_log=False`` for open_clip's already-exponentiated scale;
    optional cap ``max_logit_scale``, none by default) and the learnable bias
    :math:`b` from the optional ``model_output["logit_bias"]`` (one element,
    paper init :math:`-10`, which offsets the many non-matching pairs at the
    start of training). Without ``logit_bias`` the loss has no bias,
    :math:`b = 0`, the same as passing ``torch.zeros(())``. A bias kept
    under another key must be mapped (``keys={"logit_bias": "bias"}``): an
    unmapped one is not found and the loss runs without it (the
    ``logit_bias`` metric then reads 0). Other keys through ``keys=``.

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

    Metrics: ``logit_scale``, ``logit_bias`` (0 without a bias), ``pos_loss``
    and ``neg_loss`` (the matching and non-matching parts of the loss).
    """
    name = "siglip"
    raw_scale = as_scalar(name, "logit_scale", logit_scale)
    scale = effective_scale(raw_scale, log_space=logit_scale_is_log, max_scale=max_logit_scale)
    bias = None if logit_bias is None else as_scalar(name, "logit_bias", logit_bias)
    img = maybe_normalize(at_least_float32(image_embeddings), normalize)
    txt = maybe_normalize(at_least_float32(text_embeddings), normalize)
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
    with torch.no_grad():
        pos = (terms * matching).sum() / images.shape[0]
        neg = (terms * (1.0 - matching)).sum() / images.shape[0]
    return loss_result(
        reduce(per_image, reduction),
        metrics={
            "logit_scale": scale,
            "logit_bias": scale.new_zeros(()) if bias is None else bias,
            "pos_loss": pos,
            "neg_loss": neg,
        },
    )
