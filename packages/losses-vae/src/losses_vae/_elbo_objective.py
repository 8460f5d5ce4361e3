"""The (beta-weighted, optionally free-bits) negative ELBO behind ``elbo``,
``beta_vae`` and ``free_bits``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._common import full_like_scalar, reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._params import check_number, check_reduction
from losses_vae._recon import check_likelihood
from losses_vae.schedules import scheduled_value

__all__ = ["negative_elbo"]


def negative_elbo(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    likelihood: str,
    sigma: float,
    beta: float,
    beta_schedule: Mapping[str, Any] | None,
    step: int | torch.Tensor | None,
    free_bits: float,
    reduction: str,
    prediction_key: str,
    target_key: str,
    mu_key: str,
    logvar_key: str,
    recon_logvar_key: str,
) -> dict[str, Any] | torch.Tensor:
    """``recon_b + beta * KL_b`` per sample; with ``free_bits > 0`` the KL term is
    the batch-level :math:`\\sum_j \\max(\\lambda, \\bar{KL}_j)` added to every sample."""
    check_reduction(loss, reduction)
    check_likelihood(loss, likelihood, sigma)
    lam = check_number(loss, "free_bits", free_bits, minimum=0.0)
    beta = scheduled_value(check_number(loss, "beta", beta), beta_schedule, step, loss=loss, name="beta")
    terms = elbo_terms(
        model_output,
        targets,
        loss=loss,
        likelihood=likelihood,
        sigma=sigma,
        prediction_key=prediction_key,
        target_key=target_key,
        mu_key=mu_key,
        logvar_key=logvar_key,
        recon_logvar_key=recon_logvar_key,
    )
    kl = terms.kl
    kl_per_dim_mean = terms.kl_per_dim.mean(0)
    metrics: dict[str, torch.Tensor] = {}
    if lam > 0:
        clamped = kl_per_dim_mean.clamp_min(lam)
        kl_term = clamped.sum()
        per_sample = terms.recon + beta * kl_term
        metrics["kl_free_bits"] = kl_term.detach()
        metrics["free_bits_active"] = (kl_per_dim_mean < lam).to(kl.dtype).mean().detach()
    else:
        per_sample = terms.recon + beta * kl
    out = reduce_per_sample(per_sample, reduction)
    if reduction == "none":
        return out
    recon_mean = terms.recon.mean()
    kl_mean = kl.mean()
    return {
        "loss": out,
        "metrics": {
            "recon": recon_mean.detach(),
            "kl": kl_mean.detach(),
            "elbo": (-(recon_mean + kl_mean)).detach(),
            "beta": full_like_scalar(beta, out).detach(),
            **metrics,
        },
        "auxiliary": {"kl_per_dim": kl_per_dim_mean.detach()},
    }
