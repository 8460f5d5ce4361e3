"""``batch_topk``: the BatchTopK SAE loss (Bussmann et al. 2024)."""

from __future__ import annotations

from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_sae._auxk import AuxKConfig, AuxKNormalization
from losses_sae._reconstruction import ReconstructionConvention
from losses_sae._sae_inputs import (
    ACTIVATIONS,
    AUXK_DEAD_MASK,
    AUXK_DECODER_BIAS,
    AUXK_DECODER_WEIGHT,
    AUXK_PRE_ACTIVATIONS,
    LATENTS,
    X_HAT,
)
from losses_sae._topk_core import topk_family_loss
from losses_sae._toy_sae import Example, dead_mask, model_output, toy_sae
from losses_sae.activations import batch_topk_relu

__all__ = ["batch_topk", "batch_topk_example"]

NAME = "batch_topk"


def batch_topk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a BatchTopK (k=4) SAE with
    every third latent dead."""
    sae = toy_sae(batch_size)
    grad = ("reconstruction", "pre_activations", "decoder_weight")
    out = model_output(sae, batch_topk_relu(sae.pre, 4), dtype, grad)
    return out, {"activations": sae.x.to(dtype), "dead_mask": dead_mask()}, {"k_aux": 3}


@register_loss(
    NAME,
    aliases=("batch_topk_sae",),
    inputs=[
        X_HAT,
        LATENTS,
        ACTIVATIONS,
        AUXK_PRE_ACTIVATIONS,
        AUXK_DECODER_WEIGHT,
        AUXK_DEAD_MASK,
        AUXK_DECODER_BIAS,
    ],
    example_inputs=batch_topk_example,
)
def batch_topk(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    activations: torch.Tensor,
    pre_activations: torch.Tensor | None = None,
    decoder_weight: torch.Tensor | None = None,
    dead_mask: torch.Tensor | None = None,
    decoder_bias: torch.Tensor | None = None,
    *,
    alpha: Annotated[float, Range(ge=0)] = 1 / 32,
    k_aux: Annotated[int, Range(ge=1)] | None = None,
    normalize: AuxKNormalization = "residual_var",
    include_bias: bool = False,
    dead_scale: bool = False,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""BatchTopK SAE loss: reconstruction plus AuxK; reports the batch threshold.

    Registered as ``batch_topk`` (alias ``batch_topk_sae``; Bussmann, Leask
    and Nanda 2024, "BatchTopK Sparse Autoencoders"; dictionary_learning
    ``BatchTopKTrainer``).

    The model keeps the :math:`kT` largest of :math:`\mathrm{ReLU}(h)` over
    the whole batch of :math:`T` tokens (see
    :func:`losses_sae.activations.batch_topk_relu`); the training loss is that
    of ``topk_auxk``:

    .. math::

        L = \frac1T\sum_t \ell_t + \alpha\,\mathrm{AuxK}

    with the same inputs, parameters and defaults (``alpha=1/32``,
    ``normalize="residual_var"``, ``k_aux=d_in // 2``, no bias in the AuxK
    decode; see :func:`losses_sae.topk_auxk` for the dead-latent scale and
    signed pre-activations). ``alpha=0`` leaves the AuxK term out, and with
    it the need for ``pre_activations``, ``decoder_weight`` and
    ``dead_mask``: they are optional inputs, and with ``alpha > 0`` a missing
    one raises :class:`losses_core.MissingInputError` naming it.

    At inference BatchTopK uses a fixed threshold: an exponential moving
    average of the smallest positive activation of each training batch
    (dictionary_learning: decay 0.999; SAELens: ``topk_threshold_lr=0.01``).
    The batch statistic is returned as the metric
    ``min_positive_activation`` (0 if nothing fired); keep the average in
    your training loop or model, e.g. ``thr.lerp_(m, 1 - 0.999)``.

    :param alpha: the AuxK weight, default 1/32; 0 leaves the AuxK term and
        its inputs out.
    :param k_aux: dead latents decoded per token by AuxK; default ``d_in // 2``.
    :param normalize: AuxK's normalisation, default ``"residual_var"``.
    :param include_bias: add ``decoder_bias`` to AuxK's reconstruction.
    :param dead_scale: multiply AuxK by :math:`\min(n_{dead}/k_{aux}, 1)`.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``auxk`` (when ``alpha > 0``),
        ``dead_fraction`` (when ``dead_mask`` is given),
        ``min_positive_activation`` and the reconstruction metrics. The loss
        is a mean over tokens.
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
        batch_threshold=True,
    )
