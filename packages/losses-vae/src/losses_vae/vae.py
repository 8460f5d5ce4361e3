"""``VAELoss``: the seed loss, reconstruction MSE (mean) plus beta * KL (batch mean)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_vae._common import full_like_scalar
from losses_vae._gaussian import gaussian_kl_per_dim
from losses_vae._inputs import check_batch, posterior, reconstruction_pair
from losses_vae._params import check_number
from losses_vae.schedules import scheduled_value

__all__ = ["vae_loss"]

NAME = "VAELoss"


def vae_loss(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    beta: float = 1.0,
    reconstruction_weight: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
) -> dict[str, Any]:
    r"""The VAE loss of seed 000, registered as ``VAELoss``:

    .. math::
        \mathcal L = w_{rec}\,\frac{1}{N}\sum_{n}(\hat x_n - x_n)^2
        + \beta\,\frac{1}{B}\sum_{b}\sum_{j}\tfrac12\left(\mu_{bj}^2 + e^{v_{bj}} - v_{bj} - 1\right)

    i.e. ``reconstruction_weight * F.mse_loss(predictions, target)`` (mean over
    **all** elements) ``+ beta * KL`` with the closed-form Gaussian KL to
    :math:`\mathcal N(0, I)` summed over latent dimensions and averaged over the
    batch (Kingma & Welling 2014). Same value as the seed for ``logvar`` in
    ``[-30, 20]``; outside it ``logvar`` is clamped (see :mod:`losses_vae`).
    Note the two terms use different normalisations (per element vs per
    sample), exactly as in the seed; for a per-sample ELBO use ``elbo``.

    Inputs: ``model_output[prediction_key]`` (reconstruction, any shape
    ``[B, ...]``), ``model_output[mu_key]``/``[logvar_key]`` (``[B, Z, ...]``; all
    non-batch dimensions are latents) and ``targets[target_key]`` (same shape as
    the predictions). The seed's example read the target from
    ``targets["predictions"]``: pass ``target_key="predictions"`` for that layout.

    :param beta: KL weight, default 1.0; multiplied by ``beta_schedule`` at
        ``step`` when a schedule is given (see :mod:`losses_vae.schedules`).
    :param reconstruction_weight: weight of the MSE term, default 1.0.
    :returns: ``loss``; metrics ``recon`` (the MSE), ``kl`` (batch-mean KL) and
        ``beta`` (the coefficient used); auxiliary ``kl_per_dim`` (``[Z]``,
        batch mean, detached).
    """
    check_number(NAME, "reconstruction_weight", reconstruction_weight)
    beta = scheduled_value(check_number(NAME, "beta", beta), beta_schedule, step, loss=NAME, name="beta")
    pred, target = reconstruction_pair(
        model_output, targets, loss=NAME, prediction_key=prediction_key, target_key=target_key
    )
    mu, logvar = posterior(model_output, loss=NAME, mu_key=mu_key, logvar_key=logvar_key)
    check_batch(NAME, pred, f"model_output[{prediction_key!r}]", mu, f"model_output[{mu_key!r}]")
    recon = F.mse_loss(pred, target)
    kl_per_dim = gaussian_kl_per_dim(mu, logvar)
    kl = kl_per_dim.sum() / mu.shape[0]
    loss = reconstruction_weight * recon + beta * kl
    return {
        "loss": loss,
        "metrics": {
            "recon": recon.detach(),
            "kl": kl.detach(),
            "beta": full_like_scalar(beta, loss).detach(),
        },
        "auxiliary": {"kl_per_dim": kl_per_dim.detach().mean(0)},
    }
