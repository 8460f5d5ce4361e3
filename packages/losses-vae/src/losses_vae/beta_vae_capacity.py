"""``beta_vae_capacity``: the capacity-controlled beta-VAE of Burgess et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import ELBO_INPUTS, elbo_terms
from losses_vae._likelihood import Likelihood
from losses_vae.elbo import elbo_example
from losses_vae.schedules import check_schedule, scheduled_value

__all__ = ["beta_vae_capacity", "beta_vae_capacity_example"]

NAME = "beta_vae_capacity"


def beta_vae_capacity_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo`` with
    ``gamma=10``, ``capacity=2``."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    return model_output, targets, {"gamma": 10.0, "capacity": 2.0}


@register_loss(
    aliases=("BetaVAECapacityLoss", "annealed_vae"),
    inputs=ELBO_INPUTS,
    example_inputs=beta_vae_capacity_example,
    validators={"capacity_schedule": check_schedule},
)
def beta_vae_capacity(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    gamma: float = 1000.0,
    capacity: Annotated[float, Range(ge=0)] = 25.0,
    capacity_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
    per_sample: bool = True,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""Capacity-controlled beta-VAE (Burgess et al. 2018): gamma times abs(KL - C).

    .. math::
        \ell_b = \mathrm{recon}_b + \gamma\,\lvert \mathrm{KL}_b - C \rvert

    ("Understanding disentangling in β-VAE".) Terms, inputs and ``logvar``
    clamping as in ``elbo`` (per-sample sums over data and latent dimensions).
    ``per_sample=True`` (default) is the paper's per-datapoint objective (and
    pythae's ``DisentangledBetaVAE``); ``per_sample=False`` uses the batch-mean
    KL, :math:`\gamma\lvert\frac1B\sum_b \mathrm{KL}_b - C\rvert`, as
    disentanglement_lib does (a batch-level term added to every sample).
    ``reduction``: ``"mean"`` over the batch (default), ``"sum"``, or
    ``"none"`` (the ``[B]`` per-sample losses, for direct calls).

    The capacity :math:`C` is explicit: ``capacity`` (default 25 nats), scaled by
    ``capacity_schedule`` at ``step`` when given. Burgess et al.'s linear
    increase :math:`C(t) = \min(C_{max}, C_{max} t/T)` is
    ``capacity=C_max, capacity_schedule={"schedule": "linear_warmup",
    "warmup_steps": T}`` (= :func:`losses_vae.schedules.linear_capacity`).
    Defaults ``gamma=1000`` and the disentanglement_lib sweep ``C_max`` in
    {5, ..., 100}, ``T=100000``. No hidden counter: pass ``step`` every call.

    :returns: ``loss``; metrics ``recon``, ``kl`` (batch means), ``capacity``
        (the :math:`C` used) and ``capacity_gap`` (batch-mean KL minus C);
        auxiliary ``kl_per_dim``.
    """
    capacity = scheduled_value(capacity, capacity_schedule, step, loss=NAME, name="capacity")
    terms = elbo_terms(
        NAME, predictions, target, mu, logvar, recon_logvar, likelihood=likelihood, sigma=sigma
    )
    kl = terms.kl
    kl_mean = kl.mean()
    penalty = (kl - capacity).abs() if per_sample else (kl_mean - capacity).abs()
    out = reduce(terms.recon + gamma * penalty, reduction)
    return loss_result(
        out,
        metrics={
            "recon": terms.recon.mean(),
            "kl": kl_mean,
            "capacity": torch.as_tensor(capacity, dtype=out.dtype, device=out.device),
            "capacity_gap": kl_mean - capacity,
        },
        auxiliary={"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    )
