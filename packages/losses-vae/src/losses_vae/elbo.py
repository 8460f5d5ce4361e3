"""``elbo``: the negative evidence lower bound with a selectable likelihood."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_vae._elbo_terms import ELBO_INPUTS, elbo_terms, negative_elbo
from losses_vae._likelihood import Likelihood
from losses_vae.schedules import check_schedule, scheduled_value

__all__ = ["elbo", "elbo_example"]

NAME = "elbo"


def elbo_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6]`` reconstructions and
    targets, ``[B, 3]`` posterior parameters."""
    model_output = {
        "predictions": torch.randn(batch_size, 6).to(dtype).requires_grad_(),
        "mu": torch.randn(batch_size, 3).to(dtype).requires_grad_(),
        "logvar": (0.5 * torch.randn(batch_size, 3)).to(dtype).requires_grad_(),
    }
    return model_output, {"target": torch.randn(batch_size, 6).to(dtype)}, {"likelihood": "gaussian"}


@register_loss(
    aliases=("ELBOLoss", "negative_elbo"),
    inputs=ELBO_INPUTS,
    example_inputs=elbo_example,
    validators={"beta_schedule": check_schedule},
)
def elbo(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    beta: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
    free_bits: Annotated[float, Range(ge=0)] = 0.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""Negative evidence lower bound (Kingma and Welling 2014), Gaussian posterior.

    Per sample :math:`b`, with the diagonal-Gaussian posterior
    :math:`q(z\mid x_b) = \mathcal N(\mu_b, e^{v_b})` and prior :math:`\mathcal N(0, I)`:

    .. math::
        \ell_b = \underbrace{-\textstyle\sum_{d}\log p(x_{bd}\mid \hat x_{bd})}_{\text{recon}_b}
        + \beta \underbrace{\textstyle\sum_j \tfrac12(\mu_{bj}^2 + e^{v_{bj}} - v_{bj} - 1)}_{\mathrm{KL}_b}

    summed over **all** data dimensions and **all** latent dimensions, then
    ``reduction="mean"`` (default) averages over the batch, ``"sum"`` sums and
    ``"none"`` keeps the ``[B]`` per-sample losses as ``loss`` (for direct
    calls; registry calls need a 0-dim loss). With ``beta=1`` the mean is
    exactly :math:`-\mathrm{ELBO}` (in nats, constants included for the Gaussian).

    ``likelihood`` (the decoder :math:`p(x\mid\hat x)`, element-wise):

    - ``"gaussian"`` (default): fixed variance ``sigma**2`` (default 1):
      :math:`\tfrac12[(x-\hat x)^2/\sigma^2 + \log\sigma^2 + \log 2\pi]`;
    - ``"gaussian_learned"``: the same with :math:`\log\sigma^2` read from
      ``model_output["recon_logvar"]`` (any shape broadcastable to the
      predictions: a scalar for the σ-VAE, per element, ...; clamped to [-30, 20]);
    - ``"bernoulli"``: ``predictions`` are **logits**;
      ``binary_cross_entropy_with_logits`` (targets in [0, 1]);
    - ``"mse"``: :math:`(x-\hat x)^2` (pythae's ``"mse"`` is half this).

    ``free_bits`` :math:`\lambda > 0` (Kingma et al. 2016) replaces the KL term by
    :math:`\sum_j \max(\lambda, \frac1B\sum_b \mathrm{KL}_{bj})`: clamped per latent
    dimension **after** batch averaging, a batch-level term added to every
    sample's loss (so ``"none"`` still averages to ``"mean"`` and ``"sum"`` is B
    times it). Default 0 (off); see also the ``free_bits`` loss.

    ``logvar`` is clamped to [-30, 20] before ``exp``. Inputs:
    ``model_output["predictions"]`` ``[B, ...]``, ``targets["target"]`` (same
    shape), ``model_output["mu"]``/``["logvar"]`` ``[B, Z, ...]`` (every
    non-batch dimension is a latent dimension) and, for the learned variance,
    ``model_output["recon_logvar"]``; map other keys with ``keys=``.

    :param beta: KL weight (default 1), scaled by ``beta_schedule`` at ``step``
        when a schedule is given (see :mod:`losses_vae.schedules`).
    :returns: ``loss``; metrics ``recon`` and ``kl`` (batch means), ``elbo``
        (:math:`-(\mathrm{recon}+\mathrm{KL})`, batch mean, whatever ``beta``),
        ``beta`` and, with free bits, ``kl_free_bits`` and ``free_bits_active``
        (fraction of clamped dimensions); auxiliary ``kl_per_dim`` ``[Z]``.
    """
    beta = scheduled_value(beta, beta_schedule, step, loss=NAME, name="beta")
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    return negative_elbo(terms, beta=beta, free_bits=free_bits, reduction=reduction)
