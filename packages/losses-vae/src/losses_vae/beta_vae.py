"""``beta_vae``: beta-VAE of Higgins et al. 2017."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_vae._elbo_terms import ELBO_INPUTS, elbo_terms, negative_elbo
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example
from losses_vae.schedules import check_schedule, scheduled_value

__all__ = ["beta_vae", "beta_vae_example"]

NAME = "beta_vae"


def beta_vae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` with ``beta=4``."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    return model_output, targets, {"beta": 4.0}


@register_loss(
    aliases=("BetaVAELoss",),
    inputs=ELBO_INPUTS,
    example_inputs=beta_vae_example,
    validators={"beta_schedule": check_schedule},
)
def beta_vae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    beta: float = 4.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""beta-VAE (Higgins et al. 2017): the reconstruction plus beta times the KL.

    .. math::
        \ell_b = \mathrm{recon}_b + \beta\,\mathrm{KL}_b

    Same terms, inputs, likelihoods, ``logvar`` clamping and reduction as
    ``elbo`` (per-sample sums over data and latent dimensions; batch
    ``"mean"`` by default, ``"sum"``, or ``"none"`` for the ``[B]`` per-sample
    losses in direct calls). Default ``beta=4`` (Higgins et al.'s dSprites
    setting; pythae defaults to 1, disentanglement_lib sweeps 1..16). ``beta``
    is scaled by ``beta_schedule`` at ``step`` when given (for example a KL
    warm-up or cyclical annealing, :mod:`losses_vae.schedules`).

    :returns: ``loss``; metrics ``recon``, ``kl``, ``elbo``, ``beta``; auxiliary
        ``kl_per_dim``.
    """
    beta = scheduled_value(beta, beta_schedule, step, loss=NAME, name="beta")
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    return negative_elbo(terms, beta=beta, free_bits=0.0, reduction=reduction)
