"""``factor_vae``: the VAE objective of FactorVAE (Kim & Mnih 2018)."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import Input, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import POSTERIOR_INPUTS, RECON_LOGVAR_INPUT, elbo_terms
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example

__all__ = ["factor_vae", "factor_vae_example"]

NAME = "factor_vae"


def factor_vae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` plus the
    discriminator's ``[B, 2]`` logits."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    model_output["discriminator_logits"] = torch.randn(batch_size, 2).to(dtype).requires_grad_()
    return model_output, targets, {}


@register_loss(
    aliases=("FactorVAELoss",),
    inputs=[
        *POSTERIOR_INPUTS,
        Input(
            "discriminator_logits",
            "model_output",
            shape="B 2",
            dtype="float",
            doc="the discriminator's two logits D(z) for the posterior samples",
        ),
        RECON_LOGVAR_INPUT,
    ],
    example_inputs=factor_vae_example,
)
def factor_vae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    discriminator_logits: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    gamma: float = 10.0,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""FactorVAE's VAE objective (Kim and Mnih 2018): the ELBO plus gamma times TC.

    .. math::
        \ell_b = \mathrm{recon}_b + \mathrm{KL}_b + \gamma\,(D_0(z_b) - D_1(z_b))

    ("Disentangling by factorising".) :math:`D(z_b)` are the discriminator's
    two logits ``model_output["discriminator_logits"]`` (``[B, 2]``) for the
    posterior sample :math:`z_b`; :math:`D_0 - D_1 = \log\frac{D(z)}{1-D(z)}`
    estimates the total correlation (density-ratio trick). Terms, inputs and
    ``logvar`` clamping as in ``elbo`` (per-sample sums); ``reduction``: batch
    ``"mean"`` (default), ``"sum"``, or ``"none"`` (the ``[B]`` per-sample
    losses, for direct calls). Default ``gamma=10`` (the low end of
    disentanglement_lib's sweep 10..100; pythae uses 2).

    Detach rule: this loss must train the encoder and decoder only. Build the
    logits with :func:`losses_vae.factor_vae_discriminator_outputs` (which runs
    the discriminator with detached parameters here), or exclude the
    discriminator from this loss's optimizer step. Train the discriminator with
    ``factor_vae_discriminator``.

    :returns: ``loss``; metrics ``recon``, ``kl`` and ``tc`` (batch means);
        auxiliary ``kl_per_dim``.
    """
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    tc = discriminator_logits[:, 0] - discriminator_logits[:, 1]
    out = reduce(terms.recon + terms.kl + gamma * tc, reduction)
    return loss_result(
        out,
        metrics={"recon": terms.recon.mean(), "kl": terms.kl.mean(), "tc": tc.mean()},
        auxiliary={"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    )
