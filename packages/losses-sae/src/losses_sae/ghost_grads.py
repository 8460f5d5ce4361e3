"""``ghost_grads``: the ghost-grads dead-latent revival loss (Anthropic,
January 2024). Legacy: superseded by AuxK, removed from SAELens v6."""

from __future__ import annotations

from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token, squared_error
from losses_sae._sae_inputs import ACTIVATIONS, DEAD_MASK, DECODER_WEIGHT, LATENTS, PRE_ACTIVATIONS, X_HAT
from losses_sae._tokens import check_decoder_weight, check_leading_dims, tokens
from losses_sae._toy_sae import Example, dead_mask, model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["ghost_grads", "ghost_grads_example"]

NAME = "ghost_grads"
_EPS = 1e-6


def ghost_grads_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a ReLU SAE with every third
    latent dead."""
    sae = toy_sae(batch_size)
    grad = ("reconstruction", "latents", "pre_activations", "decoder_weight")
    out = model_output(sae, sae.pre.relu(), dtype, grad)
    return out, {"activations": sae.x.to(dtype), "dead_mask": dead_mask()}, {"sparsity_weight": 0.01}


@register_loss(
    aliases=("ghost_grads_sae",),
    inputs=[X_HAT, LATENTS, PRE_ACTIVATIONS, DECODER_WEIGHT, ACTIVATIONS, DEAD_MASK],
    example_inputs=ghost_grads_example,
)
def ghost_grads(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor,
    decoder_weight: torch.Tensor,
    activations: torch.Tensor,
    dead_mask: torch.Tensor,
    *,
    sparsity_weight: Annotated[float, Range(ge=0)] = 0.01,
    ghost_weight: Annotated[float, Range(ge=0)] = 1.0,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""``SAELoss`` plus the ghost-grads term for dead latents (legacy).

    Registered as ``ghost_grads`` (alias ``ghost_grads_sae``; Anthropic,
    "Circuits Updates - January 2024"; SAELens < v6
    ``calculate_ghost_grad_loss``). **Legacy**: AuxK (``topk_auxk``) has
    replaced it; kept to reproduce older runs.

    With the residual :math:`r_t = x_t - \hat x_t` and the dead latents
    :math:`D` (``targets["dead_mask"]``):

    .. math::

        g_t = \sum_{i \in D} e^{h_{ti}} W_{dec,i},\quad
        \tilde g_t = g_t\,\mathrm{sg}\Big(\frac{\lVert r_t\rVert}{2\lVert g_t\rVert + 10^{-6}}\Big),\quad
        q_t = \lVert \tilde g_t - \mathrm{sg}(r_t)\rVert^2

    .. math::

        L = \frac1T\sum_t\Big(\ell_t + \lambda\lVert f_t\rVert_1
            + \mu\, q_t\,\mathrm{sg}\Big(\frac{\ell_t}{q_t + 10^{-6}}\Big)\Big)

    (:math:`\mathrm{sg}` = stop-gradient): the ghost output, scaled to half the
    residual's norm, is fitted to the residual, and the term is rescaled to
    the magnitude of the reconstruction term :math:`\ell_t` (the
    ``reconstruction`` convention, default ``"sum_mean"``). Gradients reach
    only the dead latents' pre-activations and decoder rows. SAELens rescales
    per element (with ``F.mse_loss(reduction="none")``); here per token, so
    that the ghost term equals :math:`\ell_t` in value. The exponential is
    stabilised by a per-token shift that cancels exactly in :math:`\tilde g`.
    With no dead latent the ghost term is an exact, graph-connected 0 (SAELens
    skips it).

    Inputs: ``model_output`` ``reconstruction`` (input ``x_hat``) ``[...,
    d_in]``, ``latents`` and ``pre_activations`` :math:`h` ``[...,
    n_latents]``, ``decoder_weight`` ``[n_latents, d_in]``; ``targets``
    ``activations`` ``[..., d_in]``, ``dead_mask`` bool ``[n_latents]``.

    :param sparsity_weight: :math:`\lambda`, default 0.01.
    :param ghost_weight: :math:`\mu`, default 1.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``l1``, ``ghost`` (unweighted),
        ``dead_fraction`` and the reconstruction metrics. The loss is a mean
        over tokens.
    """
    check_leading_dims(NAME, activations, latents=latents, pre_activations=pre_activations)
    x, x_hat_t, codes, pre = tokens(activations), tokens(x_hat), tokens(latents), tokens(pre_activations)
    decoder = check_decoder_weight(NAME, decoder_weight, n_latents=codes.shape[-1], d_in=x.shape[-1])
    sq = squared_error(x, x_hat_t)
    recon_t = reconstruction_per_token(x, x_hat_t, reconstruction, error=sq)
    recon = recon_t.mean()
    l1 = torch.linalg.vector_norm(codes, ord=1, dim=-1).mean()
    ghost = _ghost_term(x, x_hat_t, pre, decoder, dead_mask, recon_t.detach())
    metrics = {"reconstruction": recon, "l1": l1, "ghost": ghost}
    metrics.update(reconstruction_metrics(x, x_hat_t, codes))
    metrics["dead_fraction"] = dead_mask.to(metrics["fvu"].dtype).mean()
    return loss_result(recon + sparsity_weight * l1 + ghost_weight * ghost, metrics=metrics)


def _ghost_term(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    pre: torch.Tensor,
    decoder: torch.Tensor,
    dead: torch.Tensor,
    recon_t: torch.Tensor,
) -> torch.Tensor:
    residual = (x - x_hat).detach()
    dead_pre = torch.where(dead, pre, float("-inf"))
    shift = dead_pre.detach().amax(dim=-1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    ghost = (dead_pre - shift).exp().to(decoder.dtype) @ decoder
    ghost = ghost.to(residual.dtype)
    with torch.no_grad():
        # ||r|| / (2 ||g|| + eps) of the unshifted g = e^shift * ghost
        denom = 2 * torch.linalg.vector_norm(ghost, dim=-1) + _EPS * torch.exp(
            -shift.squeeze(-1).to(ghost.dtype)
        )
        scale = torch.linalg.vector_norm(residual, dim=-1) / denom
        scale = torch.where(torch.isfinite(scale), scale, torch.zeros_like(scale))
    ghost_error = (ghost * scale.unsqueeze(-1) - residual).square().sum(dim=-1)
    rescale = (recon_t / (ghost_error.detach() + _EPS)).to(ghost_error.dtype)
    term = (ghost_error * rescale).mean()
    return torch.where(dead.any(), term, term * 0)
