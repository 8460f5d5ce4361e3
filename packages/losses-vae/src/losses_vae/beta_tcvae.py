"""``beta_tcvae``: beta-TCVAE of Chen et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossParameterError
from losses_vae._common import full_like_scalar, reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._inputs import same_shape_as
from losses_vae._params import check_choice, check_int, check_number, check_reduction
from losses_vae._recon import check_likelihood
from losses_vae.schedules import scheduled_value
from losses_vae.total_correlation import ESTIMATORS, kl_decomposition

__all__ = ["beta_tcvae"]

NAME = "beta_tcvae"


def beta_tcvae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    dataset_size: int | None = None,
    alpha: float = 1.0,
    beta: float = 6.0,
    gamma: float = 1.0,
    estimator: str = "mss",
    beta_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    z_key: str = "z",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""beta-TCVAE (Chen et al. 2018, "Isolating sources of disentanglement in
    VAEs"), registered as ``beta_tcvae``:

    .. math::
        \ell_i = \mathrm{recon}_i + \alpha\,\mathrm{MI}_i + \beta\,\mathrm{TC}_i
        + \gamma\,\mathrm{dimKL}_i

    with the reconstruction NLL of ``elbo`` (summed over data dimensions) and the
    minibatch estimates of :mod:`losses_vae.total_correlation`, evaluated at the
    posterior sample ``model_output[z_key]`` (``[B, Z, ...]``, same shape as
    ``mu``): ``estimator="mss"`` (minibatch-stratified sampling, default, with
    an importance matrix whose rows sum to 1) or ``"mws"`` (minibatch-weighted
    sampling). :math:`\mathrm{MI}+\mathrm{TC}+\mathrm{dimKL}` equals
    :math:`\log q(z\mid x) - \log p(z)` per sample, for any batch.

    ``dataset_size`` (the number of training examples :math:`N`, at least the
    batch size) is required. Defaults ``alpha=gamma=1`` (the paper),
    ``beta=6`` (our choice, AntixK's; pythae uses 1). ``beta`` is scaled by
    ``beta_schedule`` at ``step`` when given. ``logvar`` is clamped to
    [-30, 20]. ``reduction``: batch ``"mean"`` (default), ``"sum"``, or
    ``"none"`` (the bare ``[B]`` tensor, for direct calls).

    :returns: ``loss``; metrics ``recon``, ``mi``, ``tc``, ``dimwise_kl`` (batch
        means of the estimates), ``kl`` (batch-mean closed-form KL) and ``beta``;
        auxiliary ``kl_per_dim``.
    """
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    check_choice(NAME, "estimator", estimator, ESTIMATORS)
    if dataset_size is None:
        raise LossParameterError(
            f"loss {NAME!r}: dataset_size (the number of training examples) is required by the "
            f"minibatch estimators of the total correlation; pass dataset_size=<int>"
        )
    check_int(NAME, "dataset_size", dataset_size, minimum=1)
    alpha = check_number(NAME, "alpha", alpha)
    gamma = check_number(NAME, "gamma", gamma)
    beta = scheduled_value(check_number(NAME, "beta", beta), beta_schedule, step, loss=NAME, name="beta")
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
    batch = terms.mu.shape[0]
    if dataset_size < batch:
        raise LossParameterError(
            f"loss {NAME!r}: dataset_size ({dataset_size}) must be at least the batch size ({batch})"
        )
    mu_raw = model_output[mu_key]
    z = same_shape_as(model_output, z_key, mu_raw, f"model_output[{mu_key!r}]", loss=NAME).flatten(1)
    mi, tc, dim_kl = kl_decomposition(
        z, terms.mu, terms.logvar, dataset_size=dataset_size, estimator=estimator
    )
    out = reduce_per_sample(terms.recon + alpha * mi + beta * tc + gamma * dim_kl, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "mi": mi.mean().detach(),
            "tc": tc.mean().detach(),
            "dimwise_kl": dim_kl.mean().detach(),
            "kl": terms.kl.mean().detach(),
            "beta": full_like_scalar(beta, out).detach(),
        },
        "auxiliary": {"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    }
