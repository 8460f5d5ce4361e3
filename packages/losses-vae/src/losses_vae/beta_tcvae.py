"""``beta_tcvae``: beta-TCVAE of Chen et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

from losses_core import Input, LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import POSTERIOR_INPUTS, RECON_LOGVAR_INPUT, elbo_terms
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example
from losses_vae.schedules import check_schedule, scheduled_value
from losses_vae.total_correlation import Estimator, kl_decomposition

__all__ = ["beta_tcvae", "beta_tcvae_example"]

NAME = "beta_tcvae"


def beta_tcvae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` plus a
    posterior sample ``z``, with ``dataset_size=1000``."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    mu, logvar = model_output["mu"].detach(), model_output["logvar"].detach()
    z = mu + torch.randn(mu.shape).to(dtype) * torch.exp(0.5 * logvar)
    model_output["z"] = z.requires_grad_()
    return model_output, targets, {"dataset_size": 1000}


@register_loss(
    aliases=("BetaTCVAELoss",),
    inputs=[
        *POSTERIOR_INPUTS,
        Input("z", "model_output", like="mu", dtype="float", doc="a posterior sample"),
        RECON_LOGVAR_INPUT,
    ],
    example_inputs=beta_tcvae_example,
    validators={"beta_schedule": check_schedule},
)
def beta_tcvae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    z: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    dataset_size: Annotated[int, Range(ge=1)],
    alpha: float = 1.0,
    beta: float = 6.0,
    gamma: float = 1.0,
    estimator: Estimator = "mss",
    beta_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""beta-TCVAE (Chen et al. 2018): weighted MI, total correlation and per-dim KL.

    .. math::
        \ell_i = \mathrm{recon}_i + \alpha\,\mathrm{MI}_i + \beta\,\mathrm{TC}_i
        + \gamma\,\mathrm{dimKL}_i

    ("Isolating sources of disentanglement in VAEs".) The reconstruction NLL is
    that of ``elbo`` (summed over data dimensions); MI, TC and dimKL are the
    minibatch estimates of :mod:`losses_vae.total_correlation`, evaluated at
    the posterior sample ``model_output["z"]`` (shape of ``mu``):
    ``estimator="mss"`` (minibatch-stratified sampling, default, with an
    importance matrix whose rows sum to 1) or ``"mws"`` (minibatch-weighted
    sampling). :math:`\mathrm{MI}+\mathrm{TC}+\mathrm{dimKL}` equals
    :math:`\log q(z\mid x) - \log p(z)` per sample, for any batch.

    ``dataset_size`` (the number of training examples :math:`N`, at least the
    batch size) is **required**: it has no sensible default, and
    ``resolve_loss``, config loading and ``losses check`` report it missing.
    Defaults ``alpha=gamma=1`` (the paper), ``beta=6`` (our choice, AntixK's;
    pythae uses 1). ``beta`` is scaled by ``beta_schedule`` at ``step`` when
    given. ``logvar`` is clamped to [-30, 20]. ``reduction``: batch
    ``"mean"`` (default), ``"sum"``, or ``"none"`` (the ``[B]`` per-sample
    losses, for direct calls).

    :returns: ``loss``; metrics ``recon``, ``mi``, ``tc``, ``dimwise_kl`` (batch
        means of the estimates), ``kl`` (batch-mean closed-form KL) and ``beta``;
        auxiliary ``kl_per_dim``.
    """
    beta = scheduled_value(beta, beta_schedule, step, loss=NAME, name="beta")
    batch = mu.shape[0]
    if dataset_size < batch:
        raise LossParameterError(
            f"loss {NAME!r}: parameter 'dataset_size' ({dataset_size}) must be at least the batch "
            f"size ({batch})"
        )
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    mi, tc, dim_kl = kl_decomposition(
        z.flatten(1), terms.mu, terms.logvar, dataset_size=dataset_size, estimator=estimator
    )
    out = reduce(terms.recon + alpha * mi + beta * tc + gamma * dim_kl, reduction)
    return loss_result(
        out,
        metrics={
            "recon": terms.recon.mean(),
            "mi": mi.mean(),
            "tc": tc.mean(),
            "dimwise_kl": dim_kl.mean(),
            "kl": terms.kl.mean(),
            "beta": torch.as_tensor(beta, dtype=out.dtype, device=out.device),
        },
        auxiliary={"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    )
