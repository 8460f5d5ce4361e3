"""``dip_vae``: DIP-VAE I and II of Kumar et al. 2018."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import ELBO_INPUTS, elbo_terms
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example

__all__ = ["dip_covariance", "dip_vae", "dip_vae_example"]

NAME = "dip_vae"
_LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, dip_type: Literal["i", "ii"]) -> torch.Tensor:
    r"""The ``[Z, Z]`` covariance DIP-VAE regularises (disentanglement_lib's
    definitions): :math:`\mathrm{Cov}(\mu) = \frac1B\sum_b (\mu_b-\bar\mu)(\mu_b-\bar\mu)^\top`
    (the biased estimate, :math:`E[\mu\mu^\top] - E[\mu]E[\mu]^\top`) for type
    ``"i"``; :math:`\mathrm{Cov}(\mu) + \mathrm{diag}(\frac1B\sum_b e^{v_b})` for
    type ``"ii"``. ``mu`` and ``logvar`` are ``[B, Z]``."""
    centred = mu - mu.mean(0, keepdim=True)
    cov = centred.transpose(0, 1) @ centred / mu.shape[0]
    if dip_type == "ii":
        cov = cov + torch.diag_embed(torch.exp(logvar).mean(0))
    return cov


def dip_vae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` with DIP-VAE-II."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    return model_output, targets, {"dip_type": "ii"}


@register_loss(aliases=("DIPVAELoss",), inputs=ELBO_INPUTS, example_inputs=dip_vae_example)
def dip_vae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    dip_type: Literal["i", "ii"] = "i",
    lambda_od: Annotated[float, Range(ge=0)] = 10.0,
    lambda_d: Annotated[float, Range(ge=0)] | None = None,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""DIP-VAE (Kumar et al. 2018): the ELBO plus a penalty on the latent covariance.

    .. math::
        \ell_b = \mathrm{recon}_b + \mathrm{KL}_b
        + \lambda_{od}\sum_{i\ne j} C_{ij}^2 + \lambda_d \sum_i (C_{ii} - 1)^2

    ("Variational inference of disentangled latent concepts from unlabeled
    observations".) :math:`C` comes from :func:`dip_covariance`
    (``dip_type="i"``: the covariance of :math:`\mu` over the batch; ``"ii"``:
    plus the batch-mean posterior variance on the diagonal), exactly
    disentanglement_lib's ``compute_covariance_z_mean`` /
    ``regularize_diag_off_diag_dip``. Defaults ``lambda_od=10`` and
    ``lambda_d = 10 * lambda_od`` for type ``"i"``, ``lambda_d = lambda_od``
    for ``"ii"`` (the paper's and disentanglement_lib's factors) unless
    ``lambda_d`` is given.

    Reconstruction, KL and inputs as in ``elbo`` (per-sample sums; ``logvar``
    clamped to [-30, 20]). The DIP term is batch-level and added to every
    sample: ``reduction="mean"`` (default) gives recon + KL (batch means) +
    DIP, ``"none"`` the ``[B]`` per-sample losses whose mean that is, ``"sum"``
    B times it.

    :returns: ``loss``; metrics ``recon``, ``kl``, ``dip``, ``dip_off_diagonal``
        (:math:`\sum_{i\ne j}C_{ij}^2`) and ``dip_diagonal``
        (:math:`\sum_i(C_{ii}-1)^2`); auxiliary ``covariance`` ``[Z, Z]`` and
        ``kl_per_dim``.
    """
    if lambda_d is None:
        lambda_d = _LAMBDA_D_FACTOR[dip_type] * lambda_od
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    cov = dip_covariance(terms.mu, terms.logvar, dip_type)
    diag = torch.diagonal(cov)
    off_diagonal = (cov - torch.diag_embed(diag)).square().sum()
    diagonal = (diag - 1).square().sum()
    dip = lambda_od * off_diagonal + lambda_d * diagonal
    out = reduce(terms.recon + terms.kl + dip, reduction)
    return loss_result(
        out,
        metrics={
            "recon": terms.recon.mean(),
            "kl": terms.kl.mean(),
            "dip": dip,
            "dip_off_diagonal": off_diagonal,
            "dip_diagonal": diagonal,
        },
        auxiliary={"covariance": cov.detach(), "kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    )
