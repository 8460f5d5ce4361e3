"""``info_vae``: InfoVAE / MMD-VAE of Zhao et al. 2019."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from losses_core import LossInputError, LossParameterError
from losses_core.inputs import optional_tensor
from losses_vae._common import reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._inputs import same_shape_as
from losses_vae._params import check_choice, check_number, check_reduction
from losses_vae._recon import check_likelihood
from losses_vae.mmd import KERNELS, mmd_unbiased

__all__ = ["info_vae"]

NAME = "info_vae"


def _check_scales(scales: Any) -> tuple[float, ...] | None:
    if scales is None:
        return None
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or len(scales) == 0:
        raise LossParameterError(f"loss {NAME!r}: scales must be a non-empty list of numbers, got {scales!r}")
    return tuple(check_number(NAME, "scales[]", s, strictly_positive=True) for s in scales)


def info_vae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    alpha: float = 1.0,
    lambda_: float = 1.0,
    kernel: str = "imq",
    bandwidth: float = 1.0,
    scales: Sequence[float] | None = None,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    z_key: str = "z",
    prior_key: str = "z_prior",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""InfoVAE (Zhao et al. 2019, "InfoVAE: balancing learning and inference in
    variational autoencoders", AAAI) with the MMD divergence, registered as
    ``info_vae``:

    .. math::
        \ell_b = \mathrm{recon}_b + (1-\alpha)\,\mathrm{KL}_b
        + (\alpha + \lambda - 1)\,\widehat{\mathrm{MMD}}^2(z, z_{prior})

    Reconstruction and KL as in ``elbo`` (per-sample sums; ``logvar`` clamped to
    [-30, 20]); the unbiased MMD of :mod:`losses_vae.mmd` between the posterior
    samples ``model_output[z_key]`` (shape of ``mu``) and prior samples
    ``model_output[prior_key]`` (``[B', Z]``; drawn with ``torch.randn_like(z)``
    from the global RNG when absent). ``kernel="imq"`` (default, multi-scale
    inverse multiquadric) or ``"rbf"``, ``bandwidth`` :math:`\sigma` (default 1),
    ``scales`` (default ``None``: the 7 IMQ scales, or a single RBF kernel).

    Defaults ``alpha=1, lambda_=1``: the MMD-VAE, recon + MMD (Zhao et al.'s
    reference code). ``alpha=0, lambda_=1`` is the plain ELBO. pythae's defaults
    (``alpha=0, lbd=1e-3``) give the MMD a negative weight.

    The MMD is batch-level and added to every sample: ``reduction="mean"``
    (default), ``"sum"`` (B times it), ``"none"`` (the bare ``[B]`` tensor).

    :returns: ``loss``; metrics ``recon``, ``kl`` (batch means) and ``mmd``;
        auxiliary ``kl_per_dim``.
    """
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    check_choice(NAME, "kernel", kernel, KERNELS)
    alpha = check_number(NAME, "alpha", alpha)
    lambda_ = check_number(NAME, "lambda_", lambda_)
    bandwidth = check_number(NAME, "bandwidth", bandwidth, strictly_positive=True)
    scale_tuple = _check_scales(scales)
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
    z = same_shape_as(model_output, z_key, model_output[mu_key], f"model_output[{mu_key!r}]", loss=NAME)
    z = z.flatten(1)
    z_prior = optional_tensor(model_output, prior_key, loss=NAME, source="model_output", floating=True)
    if z_prior is None:
        z_prior = torch.randn_like(z)
    else:
        z_prior = z_prior.flatten(1) if z_prior.ndim > 1 else z_prior
        if z_prior.ndim != 2 or z_prior.shape[1] != z.shape[1]:
            raise LossInputError(
                f"{NAME}: model_output[{prior_key!r}] must be prior samples with {z.shape[1]} latent "
                f"dimensions, [B', {z.shape[1]}]; got shape {tuple(model_output[prior_key].shape)}"
            )
        z_prior = z_prior.to(z.dtype)
    mmd = mmd_unbiased(z, z_prior, kernel=kernel, bandwidth=bandwidth, scales=scale_tuple)
    out = reduce_per_sample(terms.recon + (1.0 - alpha) * terms.kl + (alpha + lambda_ - 1.0) * mmd, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "kl": terms.kl.mean().detach(),
            "mmd": mmd.detach(),
        },
        "auxiliary": {"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    }
