"""``topk_auxk``: TopK SAE reconstruction plus the AuxK loss (Gao et al. 2024)."""

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
from losses_sae.activations import topk_relu

__all__ = ["topk_auxk", "topk_auxk_example"]

NAME = "topk_auxk"


def topk_auxk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a TopK (k=4) SAE with every
    third latent dead."""
    sae = toy_sae(batch_size)
    grad = ("reconstruction", "pre_activations", "decoder_weight")
    out = model_output(sae, topk_relu(sae.pre, 4), dtype, grad)
    return out, {"activations": sae.x.to(dtype), "dead_mask": dead_mask()}, {"k_aux": 3}


@register_loss(
    NAME,
    aliases=("topk_sae", "auxk"),
    inputs=[
        X_HAT,
        LATENTS,
        ACTIVATIONS,
        AUXK_PRE_ACTIVATIONS,
        AUXK_DECODER_WEIGHT,
        AUXK_DEAD_MASK,
        AUXK_DECODER_BIAS,
    ],
    example_inputs=topk_auxk_example,
)
def topk_auxk(
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
    r"""TopK SAE loss with the AuxK auxiliary loss for dead latents.

    Registered as ``topk_auxk`` (aliases ``topk_sae``, ``auxk``; Gao et al.
    2024, "Scaling and evaluating sparse autoencoders").

    The model computes :math:`f = \mathrm{ReLU}(\mathrm{TopK}_k(h))` with
    :math:`h = W_{enc}(x - b_{pre}) + b_{enc}` (see
    :func:`losses_sae.activations.topk_relu`) and :math:`\hat x = f W_{dec} +
    b_{dec}`. The loss is

    .. math::

        L = \frac1T\sum_t \ell_t + \alpha\,\mathrm{AuxK},\qquad
        \mathrm{AuxK} = s\,\frac{\sum_t \lVert e_t - \hat e_t\rVert^2}{D}

    with :math:`e_t = x_t - \hat x_t` (detached), :math:`\hat e_t = \sum_{i\in
    A_t}\mathrm{ReLU}(h_{ti}) W_{dec,i}` over the ``k_aux`` largest
    pre-activations of the *dead* latents (no decoder bias unless
    ``include_bias``), and :math:`\ell_t` the ``reconstruction`` convention
    (``"sum_mean"`` default, ``"mean"``, ``"normalized"`` (OpenAI), ``"fvu"``
    (sparsify); see :func:`losses_sae.sae_loss`).

    Normalisation :math:`D` (the references disagree): ``"residual_var"``
    (default; the paper / OpenAI ``normalized_mse`` / dictionary_learning):
    :math:`\sum_t\lVert e_t - \bar e\rVert^2`; ``"total_var"`` (sparsify):
    :math:`\sum_t\lVert x_t - \bar x\rVert^2`; ``"none"`` (SAELens): :math:`T`.

    Dead-latent scale: :math:`s = \min(n_{dead}/k_{aux}, 1)` when
    ``dead_scale`` (sparsify, SAELens), else 1, with :math:`k_{aux}` the
    requested value *before* the cap at ``n_latents`` below, as in both
    references (so an undercomplete dictionary, with fewer than
    :math:`d_{in}/2` latents, gets :math:`n_{dead}/(d_{in}//2)`, not 1).

    ``k_aux`` defaults to ``d_in // 2`` (sparsify, dictionary_learning,
    SAELens; OpenAI's released config uses 256 for ``d_in=768``) and is
    capped at ``n_latents`` for the selection. :math:`\alpha = 1/32` is the
    paper's.

    Signed pre-activations: the selected dead pre-activations pass through a
    ReLU, as in OpenAI's code, sparsify and dictionary_learning (whose
    auxiliary codes are post-ReLU); SAELens decodes the raw values, so a
    negative pre-activation lowers its auxiliary reconstruction where ours
    contributes 0. The two agree for non-negative pre-activations.

    With no dead latent AuxK is an exact, graph-connected 0 (never NaN), and
    the selection never synchronises with the host.

    Inputs: ``model_output`` ``reconstruction`` (input ``x_hat``) ``[...,
    d_in]`` and ``latents`` ``[..., n_latents]``; ``targets``
    ``activations`` ``[..., d_in]``. The AuxK term also reads
    ``model_output`` ``pre_activations`` ``[..., n_latents]`` and
    ``decoder_weight`` ``[n_latents, d_in]`` and ``targets`` ``dead_mask``
    bool ``[n_latents]`` (e.g. from :class:`losses_sae.DeadLatentTracker`),
    and, with ``include_bias``, the optional ``decoder_bias`` ``[d_in]``.
    These are optional inputs: with ``alpha=0`` the loss works without them
    (the TopK reconstruction loss alone, equal to ``SAELoss`` with
    ``sparsity_weight=0``); with ``alpha > 0`` a missing one raises
    :class:`losses_core.MissingInputError` naming it. When given, they are
    checked (shapes, dtype) also with ``alpha=0``.

    :param alpha: the AuxK weight, default 1/32; 0 leaves the AuxK term and
        its inputs out.
    :param k_aux: the number of dead latents decoded per token; default ``d_in // 2``.
    :param normalize: ``"residual_var"`` (default), ``"total_var"`` or ``"none"``.
    :param include_bias: add ``decoder_bias`` to the auxiliary reconstruction.
    :param dead_scale: multiply AuxK by :math:`\min(n_{dead}/k_{aux}, 1)`.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``auxk`` (unweighted, when ``alpha > 0``),
        ``dead_fraction`` (when ``dead_mask`` is given, whatever ``alpha``) and
        the reconstruction metrics. No ``reduction``: AuxK's normalisation is
        batch-level; the loss is a mean over tokens.
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
    )
