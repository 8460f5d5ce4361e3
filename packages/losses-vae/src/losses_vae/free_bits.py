"""``free_bits``: the ELBO with the free-bits KL of Kingma et al. 2016."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._elbo_objective import negative_elbo

__all__ = ["free_bits"]


def free_bits(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    free_bits: float = 0.5,
    beta: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""Free-bits ELBO (Kingma et al. 2016, "Improved variational inference with
    inverse autoregressive flow", NeurIPS), registered as ``free_bits``:

    .. math::
        \mathcal L = \frac1B\sum_b \mathrm{recon}_b
        + \beta \sum_j \max\Big(\lambda,\ \frac1B \sum_b \mathrm{KL}_{bj}\Big)

    Each latent dimension is its own group; the clamp is applied **after**
    averaging the KL over the batch (the paper's form; clamping per sample is a
    different variant). Dimensions whose batch-mean KL is below :math:`\lambda`
    receive no KL gradient. ``free_bits`` is :math:`\lambda` in nats per latent
    dimension (default 0.5, our choice: tune it). This is ``elbo`` with a
    non-zero ``free_bits``; reductions as there (the batch-level KL term is
    added to every sample: ``"none"`` returns the bare ``[B]`` tensor whose mean
    is the ``"mean"`` loss, ``"sum"`` is B times it).

    :returns: ``loss``; metrics ``recon``, ``kl`` (unclamped), ``kl_free_bits``
        (the clamped term), ``free_bits_active`` (fraction of clamped
        dimensions), ``elbo``, ``beta``; auxiliary ``kl_per_dim``.
    """
    return negative_elbo(
        model_output,
        targets,
        loss="free_bits",
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
