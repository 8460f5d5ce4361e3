"""The terms of the Gaussian-posterior ELBO, shared by the ELBO-family losses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from losses_vae._gaussian import gaussian_kl_per_dim
from losses_vae._inputs import check_batch, posterior
from losses_vae._recon import reconstruction_nll

__all__ = ["ElboTerms", "elbo_terms"]


@dataclass(frozen=True)
class ElboTerms:
    """``recon`` ``[B]`` (NLL summed over data dims), ``kl_per_dim`` ``[B, Z]``,
    ``mu`` ``[B, Z]`` and the clamped ``logvar`` ``[B, Z]``."""

    recon: torch.Tensor
    kl_per_dim: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor

    @property
    def kl(self) -> torch.Tensor:
        """Per-sample KL ``[B]``, summed over latent dimensions."""
        return self.kl_per_dim.sum(1)


def elbo_terms(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    likelihood: str,
    sigma: float,
    prediction_key: str,
    target_key: str,
    mu_key: str,
    logvar_key: str,
    recon_logvar_key: str,
) -> ElboTerms:
    """Fetch, check and compute the reconstruction NLL and the closed-form KL."""
    mu, logvar = posterior(model_output, loss=loss, mu_key=mu_key, logvar_key=logvar_key)
    recon = reconstruction_nll(
        model_output,
        targets,
        loss=loss,
        likelihood=likelihood,
        sigma=sigma,
        prediction_key=prediction_key,
        target_key=target_key,
        recon_logvar_key=recon_logvar_key,
    )
    check_batch(loss, recon, f"model_output[{prediction_key!r}]", mu, f"model_output[{mu_key!r}]")
    return ElboTerms(recon=recon, kl_per_dim=gaussian_kl_per_dim(mu, logvar), mu=mu, logvar=logvar)
