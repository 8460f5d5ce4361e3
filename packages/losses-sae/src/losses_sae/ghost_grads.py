"""``ghost_grads``: the ghost-grads dead-latent revival loss (Anthropic,
January 2024). Legacy: superseded by AuxK, removed from SAELens v6."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae._inputs import (
    fetch_codes,
    fetch_dead_mask,
    fetch_decoder_weight,
    fetch_reconstruction,
)
from losses_sae._params import check_nonnegative
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token, squared_error
from losses_sae._result import build_result

__all__ = ["ghost_grads"]

NAME = "ghost_grads"
_EPS = 1e-6


def ghost_grads(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sparsity_weight: float = 0.01,
    ghost_weight: float = 1.0,
    reconstruction: str = "sum_mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    decoder_weight_key: str = "decoder_weight",
    activations_key: str = "activations",
    dead_mask_key: str = "dead_mask",
) -> dict[str, Any]:
    r"""``SAELoss`` plus the ghost-grads term, registered as ``ghost_grads``
    (Anthropic, "Circuits Updates - January 2024"; SAELens < v6
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

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents`` and
        ``pre_activations`` :math:`h` ``[..., n_latents]``, ``decoder_weight``
        ``[n_latents, d_in]``.
    :param targets: ``activations`` ``[..., d_in]``, ``dead_mask`` bool
        ``[n_latents]``.
    :param ghost_weight: :math:`\mu` (1).
    :returns: metrics ``reconstruction``, ``l1``, ``ghost`` (unweighted),
        ``dead_fraction`` and the reconstruction metrics.
    """
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    ghost_w = check_nonnegative(NAME, "ghost_weight", ghost_weight)
    check_reconstruction(NAME, reconstruction)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=NAME,
        reconstruction_key=reconstruction_key,
        activations_key=activations_key,
    )
    latents = fetch_codes(model_output, latents_key, loss=NAME, lead_shape=rec.lead_shape)
    n_latents, d_in = latents.shape[-1], rec.x.shape[-1]
    pre = fetch_codes(
        model_output, pre_activations_key, loss=NAME, lead_shape=rec.lead_shape, n_latents=n_latents
    )
    decoder = fetch_decoder_weight(
        model_output, decoder_weight_key, loss=NAME, n_latents=n_latents, d_in=d_in
    )
    dead = fetch_dead_mask(targets, dead_mask_key, loss=NAME, n_latents=n_latents)

    sq = squared_error(rec.x, rec.x_hat)
    recon_t = reconstruction_per_token(rec.x, rec.x_hat, reconstruction, error=sq)
    recon = recon_t.mean()
    l1 = torch.linalg.vector_norm(latents, ord=1, dim=-1).mean()
    ghost = _ghost_term(rec.x, rec.x_hat, pre, decoder, dead, recon_t.detach())
    return build_result(
        recon + weight * l1 + ghost_w * ghost,
        {"reconstruction": recon, "l1": l1, "ghost": ghost},
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
        dead_mask=dead,
    )


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
