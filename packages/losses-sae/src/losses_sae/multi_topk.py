"""``multi_topk``: the Multi-TopK loss L(k) + L(4k)/8 of Gao et al. 2024."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_sae._auxk import AuxKConfig, AuxKNormalization
from losses_sae._reconstruction import ReconstructionConvention
from losses_sae._sae_inputs import (
    ACTIVATIONS,
    AUXK_DEAD_MASK,
    DECODER_BIAS,
    DECODER_WEIGHT,
    LATENTS,
    PRE_ACTIVATIONS,
    X_HAT,
    optional,
)
from losses_sae._topk_core import MultiTopK, topk_family_loss
from losses_sae._toy_sae import Example, dead_mask, model_output, toy_sae
from losses_sae.activations import topk_relu

__all__ = ["multi_topk", "multi_topk_example"]

NAME = "multi_topk"


def multi_topk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a TopK (k=2) SAE with every
    third latent dead."""
    sae = toy_sae(batch_size)
    grad = ("reconstruction", "pre_activations", "decoder_weight", "decoder_bias")
    out = model_output(sae, topk_relu(sae.pre, 2), dtype, grad)
    return out, {"activations": sae.x.to(dtype), "dead_mask": dead_mask()}, {"k": 2, "k_aux": 3}


@register_loss(
    NAME,
    aliases=("multi_topk_sae",),
    inputs=[
        replace(X_HAT, doc="the model's TopK-k reconstruction x_hat [..., d_in]"),
        LATENTS,
        PRE_ACTIVATIONS,
        DECODER_WEIGHT,
        ACTIVATIONS,
        AUXK_DEAD_MASK,
        optional(DECODER_BIAS, "added to the Multi-TopK reconstruction"),
    ],
    example_inputs=multi_topk_example,
)
def multi_topk(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor,
    decoder_weight: torch.Tensor,
    activations: torch.Tensor,
    dead_mask: torch.Tensor | None = None,
    decoder_bias: torch.Tensor | None = None,
    *,
    k: Annotated[int, Range(ge=1)] = 32,
    multi_k: Annotated[int, Range(ge=1)] | None = None,
    multi_weight: Annotated[float, Range(ge=0)] = 1 / 8,
    alpha: Annotated[float, Range(ge=0)] = 1 / 32,
    k_aux: Annotated[int, Range(ge=1)] | None = None,
    normalize: AuxKNormalization = "residual_var",
    include_bias: bool = False,
    dead_scale: bool = False,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""Multi-TopK SAE loss: the TopK-k reconstruction plus a down-weighted TopK-4k one.

    Registered as ``multi_topk`` (alias ``multi_topk_sae``; Gao et al. 2024,
    sec. 5.3; sparsify ``multi_topk``):

    .. math::

        L = L(k) + w\,L(k_m) + \alpha\,\mathrm{AuxK}, \qquad k_m = 4k,\ w = 1/8

    :math:`L(k)` is the reconstruction term of the model's own TopK-``k``
    reconstruction (``model_output["reconstruction"]``, input ``x_hat``);
    :math:`L(k_m)` is the same ``reconstruction`` convention applied to
    :math:`\sum_{i \in \mathrm{TopK}_{k_m}(h_t)} \mathrm{ReLU}(h_{ti})
    W_{dec,i} + b_{dec}`, which the loss decodes sparsely from
    ``pre_activations``, ``decoder_weight`` and the optional
    ``decoder_bias``. Both are means over tokens. AuxK is that of
    ``topk_auxk``, with the same parameters and defaults (see
    :func:`losses_sae.topk_auxk` for the dead-latent scale and signed
    pre-activations). ``pre_activations`` and ``decoder_weight`` are required
    (the :math:`L(k_m)` term reads them whatever ``alpha``); ``dead_mask`` is
    an optional input that only AuxK reads: ``alpha=0`` leaves AuxK out and
    works without it, and with ``alpha > 0`` a missing ``dead_mask`` raises
    :class:`losses_core.MissingInputError` naming it.

    :param k: the model's TopK ``k`` (OpenAI's released config: 32).
    :param multi_k: the second ``k``; ``None`` means ``4 * k``. Capped at
        ``n_latents``.
    :param multi_weight: :math:`w`, the weight of :math:`L(k_m)`, default 1/8.
    :param alpha: the AuxK weight, default 1/32; 0 leaves the AuxK term out.
    :param k_aux: dead latents decoded per token by AuxK; default ``d_in // 2``.
    :param normalize: AuxK's normalisation, default ``"residual_var"``.
    :param include_bias: add ``decoder_bias`` to AuxK's reconstruction.
    :param dead_scale: multiply AuxK by :math:`\min(n_{dead}/k_{aux}, 1)`.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``multi_topk_reconstruction``,
        ``auxk`` (when ``alpha > 0``), ``dead_fraction`` (when ``dead_mask`` is
        given) and the reconstruction metrics of the model's reconstruction.
    """
    return topk_family_loss(
        NAME,
        x_hat,
        latents,
        pre_activations,
        decoder_weight,
        decoder_bias,
        activations,
        dead_mask,
        reconstruction=reconstruction,
        auxk=AuxKConfig(alpha, k_aux, normalize, include_bias, dead_scale),
        multi=MultiTopK(4 * k if multi_k is None else multi_k, multi_weight),
    )
