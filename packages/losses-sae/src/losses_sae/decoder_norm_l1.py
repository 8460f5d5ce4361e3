"""``sae_l1_decoder_norm``: L1 weighted by decoder-row norms (Anthropic, April 2024)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae._inputs import fetch_codes, fetch_decoder_weight, fetch_reconstruction
from losses_sae._params import check_nonnegative, check_reduction
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token, squared_error
from losses_sae._result import build_result, reduce_tokens

__all__ = ["sae_l1_decoder_norm"]

NAME = "sae_l1_decoder_norm"


def sae_l1_decoder_norm(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sparsity_weight: float = 5.0,
    reconstruction: str = "sum_mean",
    reduction: str = "mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    decoder_weight_key: str = "decoder_weight",
    activations_key: str = "activations",
) -> dict[str, Any] | torch.Tensor:
    r"""SAE loss with the L1 penalty weighted by decoder norms, registered as
    ``sae_l1_decoder_norm`` (Anthropic, "Circuits Updates - April 2024";
    SAELens ``StandardTrainingSAE`` with ``lp_norm=1``; dictionary_learning
    ``StandardTrainerAprilUpdate``):

    .. math::

        L = \frac1T \sum_t \Big( \ell_t + \lambda \sum_i |f_{ti}|\,
            \lVert W_{dec,i}\rVert_2 \Big)

    with no norm constraint on the decoder (the penalty acts on the decoder
    norms too, so gradients flow into ``decoder_weight``). :math:`\ell_t` is the
    ``reconstruction`` convention of :func:`losses_sae.sae_loss` (default
    ``"sum_mean"``). With unit-norm decoder rows this equals ``SAELoss``.

    The default :math:`\lambda = 5` is Anthropic's, for inputs scaled so that
    :math:`\mathbb E\lVert x\rVert_2 = \sqrt{d_{in}}`, warmed up linearly over
    the first 5% of training (compute the warm-up outside and pass the current
    value).

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents``
        ``[..., n_latents]``, ``decoder_weight`` :math:`W_{dec}` of shape
        ``[n_latents, d_in]`` (one row per latent).
    :param targets: ``activations`` :math:`x` ``[..., d_in]``.
    :param reduction: ``"mean"`` over tokens, ``"sum"``, or ``"none"`` (bare
        per-token losses, for direct calls).
    :returns: metrics ``reconstruction``, ``l1_decoder_norm`` (unweighted
        penalty), ``l1`` (plain L1), plus the reconstruction metrics.
    """
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    check_reconstruction(NAME, reconstruction)
    check_reduction(NAME, reduction)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=NAME,
        reconstruction_key=reconstruction_key,
        activations_key=activations_key,
    )
    latents = fetch_codes(model_output, latents_key, loss=NAME, lead_shape=rec.lead_shape)
    decoder = fetch_decoder_weight(
        model_output, decoder_weight_key, loss=NAME, n_latents=latents.shape[-1], d_in=rec.x.shape[-1]
    )
    norms = torch.linalg.vector_norm(decoder, dim=1).to(latents.dtype)
    error = squared_error(rec.x, rec.x_hat)
    recon_t = reconstruction_per_token(rec.x, rec.x_hat, reconstruction, error=error)
    penalty_t = latents.abs() @ norms
    if reduction == "none":
        return reduce_tokens(recon_t + weight * penalty_t, reduction, rec.lead_shape)
    recon = reduce_tokens(recon_t, reduction, rec.lead_shape)
    penalty = reduce_tokens(penalty_t, reduction, rec.lead_shape)
    with torch.no_grad():
        l1 = reduce_tokens(torch.linalg.vector_norm(latents, ord=1, dim=-1), reduction, rec.lead_shape)
    return build_result(
        recon + weight * penalty,
        {"reconstruction": recon, "l1_decoder_norm": penalty, "l1": l1},
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
        squared_error=error,
    )
