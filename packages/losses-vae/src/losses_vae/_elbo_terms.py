"""The terms of the Gaussian-posterior ELBO (reconstruction NLL and closed-form
KL), shared by the ELBO-family losses, and the beta-weighted negative ELBO
behind ``elbo``, ``beta_vae`` and ``free_bits``."""

from __future__ import annotations

from typing import NamedTuple

import torch

from losses_core import Input, LossReturn
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._gaussian import clamp_logvar, gaussian_kl_per_dim
from losses_vae._likelihood import Likelihood, reconstruction_nll

__all__ = [
    "ELBO_INPUTS",
    "POSTERIOR_INPUTS",
    "RECON_LOGVAR_INPUT",
    "ElboTerms",
    "elbo_terms",
    "negative_elbo",
]

POSTERIOR_INPUTS = (
    Input(
        "predictions",
        "model_output",
        shape="B ...",
        dtype="float",
        doc="the reconstruction (logits for bernoulli)",
    ),
    Input("target", "targets", like="predictions", doc="what is reconstructed"),
    Input(
        "mu",
        "model_output",
        shape="B _ ...",
        dtype="float",
        doc="posterior means; every non-batch dim is latent",
    ),
    Input("logvar", "model_output", like="mu", dtype="float", doc="posterior log-variances"),
)
"""The reconstruction, its target and the posterior parameters, read by every
ELBO-family loss (the optional inputs come after the loss's own ones)."""

RECON_LOGVAR_INPUT = Input(
    "recon_logvar",
    "model_output",
    dtype="float",
    optional=True,
    doc="decoder log-variance, broadcastable to the predictions (likelihood='gaussian_learned')",
)
"""The decoder's log-variance, read for ``likelihood="gaussian_learned"``."""

ELBO_INPUTS = (*POSTERIOR_INPUTS, RECON_LOGVAR_INPUT)
"""The inputs of ``elbo``, ``beta_vae``, ``free_bits``, ``beta_vae_capacity`` and ``dip_vae``."""


class ElboTerms(NamedTuple):
    """``recon`` ``[B]`` (NLL summed over data dims), ``kl_per_dim`` ``[B, Z]``,
    ``mu`` ``[B, Z]`` and the clamped ``logvar`` ``[B, Z]`` (latents flattened)."""

    recon: torch.Tensor
    kl_per_dim: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor

    @property
    def kl(self) -> torch.Tensor:
        """Per-sample KL ``[B]``, summed over latent dimensions."""
        return self.kl_per_dim.sum(1)


def elbo_terms(
    loss: str,
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None,
    *,
    likelihood: Likelihood,
    sigma: float,
) -> ElboTerms:
    """The reconstruction NLL and the closed-form KL to :math:`\\mathcal N(0, I)`;
    every non-batch dimension of ``mu``/``logvar`` is a latent dimension and
    ``logvar`` is clamped to [-30, 20]."""
    mu = mu.flatten(1)
    logvar = clamp_logvar(logvar.flatten(1))
    recon = reconstruction_nll(loss, predictions, target, recon_logvar, likelihood=likelihood, sigma=sigma)
    return ElboTerms(recon=recon, kl_per_dim=gaussian_kl_per_dim(mu, logvar), mu=mu, logvar=logvar)


def negative_elbo(
    terms: ElboTerms,
    *,
    beta: float | torch.Tensor,
    free_bits: float,
    reduction: Reduction,
) -> LossReturn:
    """``recon_b + beta * KL_b`` per sample, reduced; with ``free_bits > 0`` the KL
    term is the batch-level :math:`\\sum_j \\max(\\lambda, \\bar{KL}_j)` added to
    every sample. Metrics ``recon``, ``kl``, ``elbo``, ``beta`` (and
    ``kl_free_bits``, ``free_bits_active`` with free bits); auxiliary ``kl_per_dim``."""
    kl = terms.kl
    kl_per_dim_mean = terms.kl_per_dim.mean(0)
    extra: dict[str, torch.Tensor] = {}
    if free_bits > 0:
        kl_term = kl_per_dim_mean.clamp_min(free_bits).sum()
        per_sample = terms.recon + beta * kl_term
        extra["kl_free_bits"] = kl_term
        extra["free_bits_active"] = (kl_per_dim_mean < free_bits).to(kl.dtype).mean()
    else:
        per_sample = terms.recon + beta * kl
    out = reduce(per_sample, reduction)
    recon_mean = terms.recon.mean()
    kl_mean = kl.mean()
    return loss_result(
        out,
        metrics={
            "recon": recon_mean,
            "kl": kl_mean,
            "elbo": -(recon_mean + kl_mean),
            "beta": torch.as_tensor(beta, dtype=out.dtype, device=out.device),
            **extra,
        },
        auxiliary={"kl_per_dim": kl_per_dim_mean.detach()},
    )
