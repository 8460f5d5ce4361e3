"""``free_bits``: the ELBO with the free-bits KL of Kingma et al. 2016."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction
from losses_vae._elbo_terms import ELBO_INPUTS, elbo_terms, negative_elbo
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example
from losses_vae.schedules import check_schedule, scheduled_value

__all__ = ["free_bits", "free_bits_example"]

NAME = "free_bits"


def free_bits_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` with 0.5 free nats."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    return model_output, targets, {"free_bits": 0.5}


@register_loss(
    aliases=("FreeBitsLoss",),
    inputs=ELBO_INPUTS,
    example_inputs=free_bits_example,
    validators={"beta_schedule": check_schedule},
)
def free_bits(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    free_bits: Annotated[float, Range(ge=0)] = 0.5,
    beta: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""Free-bits ELBO (Kingma et al. 2016): each latent dimension's KL clamped below.

    .. math::
        \mathcal L = \frac1B\sum_b \mathrm{recon}_b
        + \beta \sum_j \max\Big(\lambda,\ \frac1B \sum_b \mathrm{KL}_{bj}\Big)

    ("Improved variational inference with inverse autoregressive flow",
    NeurIPS 2016.) Each latent dimension is its own group; the clamp is applied
    **after** averaging the KL over the batch (the paper's form; clamping per
    sample is a different variant). Dimensions whose batch-mean KL is below
    :math:`\lambda` receive no KL gradient. ``free_bits`` is :math:`\lambda` in
    nats per latent dimension (default 0.5, our choice: tune it). This is
    ``elbo`` with a non-zero ``free_bits``; inputs and reductions as there (the
    batch-level KL term is added to every sample: ``"none"`` gives ``[B]``
    per-sample losses whose mean is the ``"mean"`` loss, ``"sum"`` is B times it).

    :returns: ``loss``; metrics ``recon``, ``kl`` (unclamped), ``kl_free_bits``
        (the clamped term), ``free_bits_active`` (fraction of clamped
        dimensions), ``elbo``, ``beta``; auxiliary ``kl_per_dim``.
    """
    beta = scheduled_value(beta, beta_schedule, step, loss=NAME, name="beta")
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    return negative_elbo(terms, beta=beta, free_bits=free_bits, reduction=reduction)
