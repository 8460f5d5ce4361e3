"""``info_vae``: InfoVAE / MMD-VAE of Zhao et al. 2019."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch

from losses_core import Input, LossInputError, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import POSTERIOR_INPUTS, RECON_LOGVAR_INPUT, elbo_terms
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example
from losses_vae.mmd import Kernel, mmd_unbiased

__all__ = ["info_vae", "info_vae_example"]

NAME = "info_vae"


def info_vae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` plus a
    posterior sample ``z`` and prior samples ``z_prior``."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    mu, logvar = model_output["mu"].detach(), model_output["logvar"].detach()
    z = mu + torch.randn(mu.shape).to(dtype) * torch.exp(0.5 * logvar)
    model_output["z"] = z.requires_grad_()
    model_output["z_prior"] = torch.randn(mu.shape).to(dtype)
    return model_output, targets, {}


def _check_scales(scales: Sequence[float] | None) -> None:
    """Validator of ``scales``: ``None`` or a non-empty list (the annotation checks the items)."""
    if scales is not None and len(scales) == 0:
        raise ValueError("must be a non-empty list of positive numbers, got an empty one")


@register_loss(
    aliases=("InfoVAELoss", "mmd_vae"),
    inputs=[
        *POSTERIOR_INPUTS,
        Input("z", "model_output", like="mu", dtype="float", doc="a posterior sample"),
        Input(
            "z_prior",
            "model_output",
            shape="_ ...",
            dtype="float",
            optional=True,
            doc="prior samples [B', Z] (drawn with torch.randn_like(z) when absent)",
        ),
        RECON_LOGVAR_INPUT,
    ],
    example_inputs=info_vae_example,
    validators={"scales": _check_scales},
)
def info_vae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    z: torch.Tensor,
    z_prior: torch.Tensor | None = None,
    recon_logvar: torch.Tensor | None = None,
    *,
    alpha: float = 1.0,
    lambda_: float = 1.0,
    kernel: Kernel = "imq",
    bandwidth: Annotated[float, Range(gt=0)] = 1.0,
    scales: Sequence[Annotated[float, Range(gt=0)]] | None = None,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""InfoVAE (Zhao et al. 2019): the ELBO with a reweighted KL and an MMD penalty.

    .. math::
        \ell_b = \mathrm{recon}_b + (1-\alpha)\,\mathrm{KL}_b
        + (\alpha + \lambda - 1)\,\widehat{\mathrm{MMD}}^2(z, z_{prior})

    ("InfoVAE: balancing learning and inference in variational autoencoders",
    AAAI.) Reconstruction, KL and the shared inputs as in ``elbo`` (per-sample
    sums; ``logvar`` clamped to [-30, 20]); the unbiased MMD of
    :mod:`losses_vae.mmd` between the posterior samples ``model_output["z"]``
    (shape of ``mu``) and prior samples ``model_output["z_prior"]``
    (``[B', Z]``; drawn with ``torch.randn_like(z)`` from the global RNG when
    absent). ``kernel="imq"`` (default, multi-scale inverse multiquadric) or
    ``"rbf"``, ``bandwidth`` :math:`\sigma` (default 1), ``scales`` (default
    ``None``: the 7 IMQ scales, or a single RBF kernel; a non-empty list).

    Defaults ``alpha=1, lambda_=1``: the MMD-VAE, recon + MMD (Zhao et al.'s
    reference code). ``alpha=0, lambda_=1`` is the plain ELBO. pythae's defaults
    (``alpha=0, lbd=1e-3``) give the MMD a negative weight.

    The MMD is batch-level and added to every sample: ``reduction="mean"``
    (default), ``"sum"`` (B times it), ``"none"`` (the ``[B]`` per-sample
    losses, for direct calls).

    :returns: ``loss``; metrics ``recon``, ``kl`` (batch means) and ``mmd``;
        auxiliary ``kl_per_dim``.
    """
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    z = z.flatten(1)
    if z_prior is None:
        z_prior = torch.randn_like(z)
    else:
        flat = z_prior.flatten(1) if z_prior.ndim > 1 else z_prior
        if flat.ndim != 2 or flat.shape[1] != z.shape[1]:
            raise LossInputError(
                f"{NAME}: input 'z_prior' must hold prior samples with {z.shape[1]} latent dimensions, "
                f"[B', {z.shape[1]}]; got shape {tuple(z_prior.shape)}"
            )
        z_prior = flat.to(z.dtype)
    mmd = mmd_unbiased(z, z_prior, kernel=kernel, bandwidth=bandwidth, scales=scales)
    out = reduce(terms.recon + (1.0 - alpha) * terms.kl + (alpha + lambda_ - 1.0) * mmd, reduction)
    return loss_result(
        out,
        metrics={"recon": terms.recon.mean(), "kl": terms.kl.mean(), "mmd": mmd},
        auxiliary={"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    )
