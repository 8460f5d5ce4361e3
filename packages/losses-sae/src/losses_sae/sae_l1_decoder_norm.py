"""``sae_l1_decoder_norm``: L1 weighted by decoder-row norms (Anthropic, April 2024)."""

from __future__ import annotations

from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token, squared_error
from losses_sae._sae_inputs import ACTIVATIONS, DECODER_WEIGHT, LATENTS, X_HAT
from losses_sae._tokens import check_decoder_weight, check_leading_dims, tokens
from losses_sae._toy_sae import N_LATENTS, Example, model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["sae_l1_decoder_norm", "sae_l1_decoder_norm_example"]

NAME = "sae_l1_decoder_norm"


def sae_l1_decoder_norm_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a ReLU SAE whose decoder
    rows have norms from 0.5 to 2."""
    sae = toy_sae(batch_size)
    decoder = sae.decoder * torch.linspace(0.5, 2.0, N_LATENTS).unsqueeze(-1)
    grad = ("reconstruction", "latents", "decoder_weight")
    out = model_output(sae, sae.pre.relu(), dtype, grad, decoder=decoder)
    return out, {"activations": sae.x.to(dtype)}, {"sparsity_weight": 0.1}


@register_loss(
    NAME,
    aliases=("sae_april_update",),
    inputs=[X_HAT, LATENTS, DECODER_WEIGHT, ACTIVATIONS],
    example_inputs=sae_l1_decoder_norm_example,
)
def sae_l1_decoder_norm(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    decoder_weight: torch.Tensor,
    activations: torch.Tensor,
    *,
    sparsity_weight: Annotated[float, Range(ge=0)] = 5.0,
    reconstruction: ReconstructionConvention = "sum_mean",
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""SAE loss with the L1 penalty weighted by the decoder-row norms.

    Registered as ``sae_l1_decoder_norm`` (alias ``sae_april_update``;
    Anthropic, "Circuits Updates - April 2024"; SAELens
    ``StandardTrainingSAE`` with ``lp_norm=1``; dictionary_learning
    ``StandardTrainerAprilUpdate``):

    .. math::

        L = \frac1T \sum_t \Big( \ell_t + \lambda \sum_i |f_{ti}|\,
            \lVert W_{dec,i}\rVert_2 \Big)

    with no norm constraint on the decoder (the penalty acts on the decoder
    norms too, so gradients flow into ``decoder_weight``). :math:`\ell_t` is the
    ``reconstruction`` convention of ``SAELoss`` (default ``"sum_mean"``;
    see :func:`losses_sae.sae_loss`, also for ``"fvu"`` on a batch without
    variance). With unit-norm decoder rows this equals ``SAELoss``.

    The default :math:`\lambda = 5` is Anthropic's, for inputs scaled so that
    :math:`\mathbb E\lVert x\rVert_2 = \sqrt{d_{in}}`, warmed up linearly over
    the first 5% of training (compute the warm-up outside and pass the current
    value).

    Inputs: ``model_output["reconstruction"]`` (input ``x_hat``) ``[...,
    d_in]``, ``model_output["latents"]`` ``[..., n_latents]``,
    ``model_output["decoder_weight"]`` :math:`W_{dec}` of shape ``[n_latents,
    d_in]`` (one row per latent; a transposed matrix is rejected with a
    hint), ``targets["activations"]`` :math:`x` ``[..., d_in]``.

    :param sparsity_weight: :math:`\lambda`, default 5.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :param reduction: ``"mean"`` over tokens (default), ``"sum"``, or
        ``"none"`` (the bare per-token losses, a tensor, for direct calls).
    :returns: metrics ``reconstruction``, ``l1_decoder_norm`` (unweighted
        penalty), ``l1`` (plain L1), plus the reconstruction metrics.
    """
    check_leading_dims(NAME, activations, latents=latents)
    x, x_hat_t, codes = tokens(activations), tokens(x_hat), tokens(latents)
    decoder = check_decoder_weight(NAME, decoder_weight, n_latents=codes.shape[-1], d_in=x.shape[-1])
    norms = torch.linalg.vector_norm(decoder, dim=1).to(codes.dtype)
    error = squared_error(x, x_hat_t)
    recon_t = reconstruction_per_token(x, x_hat_t, reconstruction, error=error)
    penalty_t = codes.abs() @ norms
    if reduction == "none":
        per_token: torch.Tensor = recon_t + sparsity_weight * penalty_t
        return per_token.reshape(activations.shape[:-1])
    recon = reduce(recon_t, reduction)
    penalty = reduce(penalty_t, reduction)
    with torch.no_grad():
        l1 = reduce(torch.linalg.vector_norm(codes, ord=1, dim=-1), reduction)
    metrics = {"reconstruction": recon, "l1_decoder_norm": penalty, "l1": l1}
    metrics.update(reconstruction_metrics(x, x_hat_t, codes, squared_error=error))
    return loss_result(recon + sparsity_weight * penalty, metrics=metrics)
