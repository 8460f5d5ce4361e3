"""``dip_vae``: DIP-VAE I and II of Kumar et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._common import reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._params import check_choice, check_number, check_reduction
from losses_vae._recon import check_likelihood

__all__ = ["dip_covariance", "dip_vae"]

NAME = "dip_vae"
DIP_TYPES = ("i", "ii")
_LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, dip_type: str) -> torch.Tensor:
    r"""The ``[Z, Z]`` covariance DIP-VAE regularises (disentanglement_lib's
    definitions): :math:`\mathrm{Cov}(\mu) = \frac1B\sum_b (\mu_b-\bar\mu)(\mu_b-\bar\mu)^\top`
    (the biased estimate, :math:`E[\mu\mu^\top] - E[\mu]E[\mu]^\top`) for type
    ``"i"``; :math:`\mathrm{Cov}(\mu) + \mathrm{diag}(\frac1B\sum_b e^{v_b})` for
    type ``"ii"``."""
    centred = mu - mu.mean(0, keepdim=True)
    cov = centred.transpose(0, 1) @ centred / mu.shape[0]
    if dip_type == "ii":
        cov = cov + torch.diag_embed(torch.exp(logvar).mean(0))
    return cov


def dip_vae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    dip_type: str = "i",
    lambda_od: float = 10.0,
    lambda_d: float | None = None,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""DIP-VAE (Kumar et al. 2018, "Variational inference of disentangled latent
    concepts from unlabeled observations"), registered as ``dip_vae``:

    .. math::
        \ell_b = \mathrm{recon}_b + \mathrm{KL}_b
        + \lambda_{od}\sum_{i\ne j} C_{ij}^2 + \lambda_d \sum_i (C_{ii} - 1)^2

    with :math:`C` from :func:`dip_covariance` (``dip_type="i"``: the covariance
    of :math:`\mu` over the batch; ``"ii"``: plus the batch-mean posterior
    variance on the diagonal), exactly disentanglement_lib's
    ``compute_covariance_z_mean`` / ``regularize_diag_off_diag_dip``. Defaults
    ``lambda_od=10`` and ``lambda_d = 10 * lambda_od`` for type ``"i"``,
    ``lambda_d = lambda_od`` for ``"ii"`` (the paper's and disentanglement_lib's
    factors) unless ``lambda_d`` is given.

    Reconstruction and KL as in ``elbo`` (per-sample sums; ``logvar`` clamped to
    [-30, 20]). The DIP term is batch-level and added to every sample:
    ``reduction="mean"`` (default) gives recon + KL (batch means) + DIP,
    ``"none"`` the bare ``[B]`` tensor whose mean that is, ``"sum"`` B times it.

    :returns: ``loss``; metrics ``recon``, ``kl``, ``dip``, ``dip_off_diagonal``
        (:math:`\sum_{i\ne j}C_{ij}^2`) and ``dip_diagonal``
        (:math:`\sum_i(C_{ii}-1)^2`); auxiliary ``covariance`` ``[Z, Z]`` and
        ``kl_per_dim``.
    """
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    check_choice(NAME, "dip_type", dip_type, DIP_TYPES)
    lambda_od = check_number(NAME, "lambda_od", lambda_od, minimum=0.0)
    if lambda_d is None:
        lambda_d = _LAMBDA_D_FACTOR[dip_type] * lambda_od
    lambda_d = check_number(NAME, "lambda_d", lambda_d, minimum=0.0)
    terms = elbo_terms(
        model_output,
        targets,
        loss=NAME,
        likelihood=likelihood,
        sigma=sigma,
        prediction_key=prediction_key,
        target_key=target_key,
        mu_key=mu_key,
        logvar_key=logvar_key,
        recon_logvar_key=recon_logvar_key,
    )
    cov = dip_covariance(terms.mu, terms.logvar, dip_type)
    diag = torch.diagonal(cov)
    off_diagonal = (cov - torch.diag_embed(diag)).square().sum()
    diagonal = (diag - 1).square().sum()
    dip = lambda_od * off_diagonal + lambda_d * diagonal
    out = reduce_per_sample(terms.recon + terms.kl + dip, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "kl": terms.kl.mean().detach(),
            "dip": dip.detach(),
            "dip_off_diagonal": off_diagonal.detach(),
            "dip_diagonal": diagonal.detach(),
        },
        "auxiliary": {"covariance": cov.detach(), "kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    }
