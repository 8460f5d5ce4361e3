"""``elbo``: the negative evidence lower bound with a selectable likelihood."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._elbo_objective import negative_elbo

__all__ = ["elbo"]


def elbo(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    beta: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    free_bits: float = 0.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""Negative ELBO (Kingma & Welling 2014), registered as ``elbo``.

    Per sample :math:`b`, with the diagonal-Gaussian posterior
    :math:`q(z\mid x_b) = \mathcal N(\mu_b, e^{v_b})` and prior :math:`\mathcal N(0, I)`:

    .. math::
        \ell_b = \underbrace{-\textstyle\sum_{d}\log p(x_{bd}\mid \hat x_{bd})}_{\text{recon}_b}
        + \beta \underbrace{\textstyle\sum_j \tfrac12(\mu_{bj}^2 + e^{v_{bj}} - v_{bj} - 1)}_{\mathrm{KL}_b}

    summed over **all** data dimensions and **all** latent dimensions, then
    ``reduction="mean"`` (default) averages over the batch, ``"sum"`` sums and
    ``"none"`` returns the bare ``[B]`` tensor (for direct calls; the registry
    only accepts scalar losses). With ``beta=1`` the mean is exactly
    :math:`-\mathrm{ELBO}` (in nats, constants included for the Gaussian).

    ``likelihood`` (the decoder :math:`p(x\mid\hat x)`, element-wise):

    - ``"gaussian"`` (default): fixed variance ``sigma**2`` (default 1):
      :math:`\tfrac12[(x-\hat x)^2/\sigma^2 + \log\sigma^2 + \log 2\pi]`;
    - ``"gaussian_learned"``: the same with :math:`\log\sigma^2` read from
      ``model_output[recon_logvar_key]`` (any shape broadcastable to the
      predictions: a scalar for the σ-VAE, per element, ...; clamped to [-30, 20]);
    - ``"bernoulli"``: ``predictions`` are **logits**;
      ``binary_cross_entropy_with_logits`` (targets in [0, 1]);
    - ``"mse"``: :math:`(x-\hat x)^2` (pythae's ``"mse"`` is half this).

    ``free_bits`` :math:`\lambda > 0` (Kingma et al. 2016) replaces the KL term by
    :math:`\sum_j \max(\lambda, \frac1B\sum_b \mathrm{KL}_{bj})`: clamped per latent
    dimension **after** batch averaging, a batch-level term added to every
    sample's loss (so ``"none"`` still averages to ``"mean"`` and ``"sum"`` is B
    times it). Default 0 (off); see also the ``free_bits`` loss.

    ``logvar`` is clamped to [-30, 20] before ``exp``.

    :param beta: KL weight (default 1), scaled by ``beta_schedule`` at ``step``
        when a schedule is given (see :mod:`losses_vae.schedules`).
    :returns: ``loss``; metrics ``recon`` and ``kl`` (batch means), ``elbo``
        (:math:`-(\mathrm{recon}+\mathrm{KL})`, batch mean, whatever ``beta``),
        ``beta`` and, with free bits, ``kl_free_bits`` and ``free_bits_active``
        (fraction of clamped dimensions); auxiliary ``kl_per_dim`` ``[Z]``.
    """
    return negative_elbo(
        model_output,
        targets,
        loss="elbo",
        likelihood=likelihood,
        sigma=sigma,
        beta=beta,
        beta_schedule=beta_schedule,
        step=step,
        free_bits=free_bits,
        reduction=reduction,
        prediction_key=prediction_key,
        target_key=target_key,
        mu_key=mu_key,
        logvar_key=logvar_key,
        recon_logvar_key=recon_logvar_key,
    )
