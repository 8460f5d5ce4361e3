"""``beta_vae``: beta-VAE of Higgins et al. 2017."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._elbo_objective import negative_elbo

__all__ = ["beta_vae"]


def beta_vae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    beta: float = 4.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""beta-VAE (Higgins et al. 2017, ICLR), registered as ``beta_vae``:
    :math:`\ell_b = \mathrm{recon}_b + \beta\,\mathrm{KL}_b`.

    Same terms, likelihoods, ``logvar`` clamping and reduction as ``elbo``
    (per-sample sums over data and latent dimensions, batch mean by default;
    ``"none"`` returns the bare ``[B]`` tensor). Default ``beta=4`` (Higgins et
    al.'s dSprites setting; pythae defaults to 1, disentanglement_lib sweeps
    1..16). ``beta`` is scaled by ``beta_schedule`` at ``step`` when given (for
    example a KL warm-up or cyclical annealing, :mod:`losses_vae.schedules`).

    :returns: ``loss``; metrics ``recon``, ``kl``, ``elbo``, ``beta``; auxiliary
        ``kl_per_dim``.
    """
    return negative_elbo(
        model_output,
        targets,
        loss="beta_vae",
        likelihood=likelihood,
        sigma=sigma,
        beta=beta,
        beta_schedule=beta_schedule,
        step=step,
        free_bits=0.0,
        reduction=reduction,
        prediction_key=prediction_key,
        target_key=target_key,
        mu_key=mu_key,
        logvar_key=logvar_key,
        recon_logvar_key=recon_logvar_key,
    )
