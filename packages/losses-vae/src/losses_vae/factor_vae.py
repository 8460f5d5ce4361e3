"""``factor_vae``: the VAE objective of FactorVAE (Kim & Mnih 2018)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossInputError
from losses_core.inputs import require_tensor
from losses_vae._common import reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._inputs import check_batch
from losses_vae._params import check_number, check_reduction
from losses_vae._recon import check_likelihood

__all__ = ["factor_vae"]

NAME = "factor_vae"


def factor_vae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    gamma: float = 10.0,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    logits_key: str = "discriminator_logits",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""FactorVAE's VAE objective (Kim & Mnih 2018, "Disentangling by
    factorising"), registered as ``factor_vae``:

    .. math::
        \ell_b = \mathrm{recon}_b + \mathrm{KL}_b + \gamma\,(D_0(z_b) - D_1(z_b))

    where :math:`D(z_b)` are the discriminator's two logits
    ``model_output[logits_key]`` (``[B, 2]``) for the posterior sample
    :math:`z_b`; :math:`D_0 - D_1 = \log\frac{D(z)}{1-D(z)}` estimates the total
    correlation (density-ratio trick). Terms and ``logvar`` clamping as in
    ``elbo`` (per-sample sums); ``reduction``: batch ``"mean"`` (default),
    ``"sum"``, or ``"none"`` (the bare ``[B]`` tensor). Default ``gamma=10``
    (the low end of disentanglement_lib's sweep 10..100; pythae uses 2).

    Detach rule: this loss must train the encoder and decoder only. Build the
    logits with :func:`losses_vae.factor_vae_discriminator_outputs` (which runs
    the discriminator with detached parameters here), or exclude the
    discriminator from this loss's optimizer step. Train the discriminator with
    ``factor_vae_discriminator``.

    :returns: ``loss``; metrics ``recon``, ``kl`` and ``tc`` (batch means);
        auxiliary ``kl_per_dim``.
    """
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    gamma = check_number(NAME, "gamma", gamma)
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
    logits = require_tensor(model_output, logits_key, loss=NAME, source="model_output", ndim=2, floating=True)
    if logits.shape[1] != 2:
        raise LossInputError(
            f"{NAME}: model_output[{logits_key!r}] must hold two logits per sample, shape [B, 2], "
            f"got {tuple(logits.shape)}"
        )
    check_batch(NAME, logits, f"model_output[{logits_key!r}]", terms.mu, f"model_output[{mu_key!r}]")
    tc = logits[:, 0] - logits[:, 1]
    out = reduce_per_sample(terms.recon + terms.kl + gamma * tc, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "kl": terms.kl.mean().detach(),
            "tc": tc.mean().detach(),
        },
        "auxiliary": {"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    }
