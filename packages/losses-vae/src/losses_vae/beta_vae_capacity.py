"""``beta_vae_capacity``: the capacity-controlled beta-VAE of Burgess et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossParameterError
from losses_vae._common import full_like_scalar, reduce_per_sample
from losses_vae._elbo import elbo_terms
from losses_vae._params import check_number, check_reduction
from losses_vae._recon import check_likelihood
from losses_vae.schedules import scheduled_value

__all__ = ["beta_vae_capacity"]

NAME = "beta_vae_capacity"


def beta_vae_capacity(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    gamma: float = 1000.0,
    capacity: float = 25.0,
    capacity_schedule: Mapping[str, Any] | None = None,
    step: int | torch.Tensor | None = None,
    per_sample: bool = True,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""Capacity-controlled beta-VAE (Burgess et al. 2018, "Understanding
    disentangling in β-VAE"), registered as ``beta_vae_capacity``:

    .. math::
        \ell_b = \mathrm{recon}_b + \gamma\,\lvert \mathrm{KL}_b - C \rvert

    with the terms of ``elbo`` (per-sample sums over data and latent dimensions;
    ``logvar`` clamped to [-30, 20]). ``per_sample=True`` (default) is the
    paper's per-datapoint objective (and pythae's ``DisentangledBetaVAE``);
    ``per_sample=False`` uses the batch-mean KL, :math:`\gamma\lvert\frac1B\sum_b
    \mathrm{KL}_b - C\rvert`, as disentanglement_lib does (a batch-level term
    added to every sample). ``reduction``: ``"mean"`` over the batch (default),
    ``"sum"``, or ``"none"`` (the bare ``[B]`` tensor, for direct calls).

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
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    gamma = check_number(NAME, "gamma", gamma)
    capacity = check_number(NAME, "capacity", capacity, minimum=0.0)
    capacity = scheduled_value(capacity, capacity_schedule, step, loss=NAME, name="capacity")
    if not isinstance(per_sample, bool):
        raise LossParameterError(f"loss {NAME!r}: per_sample must be a bool, got {per_sample!r}")
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
    kl = terms.kl
    kl_mean = kl.mean()
    penalty = (kl - capacity).abs() if per_sample else (kl_mean - capacity).abs()
    out = reduce_per_sample(terms.recon + gamma * penalty, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "kl": kl_mean.detach(),
            "capacity": full_like_scalar(capacity, out).detach(),
            "capacity_gap": (kl_mean - capacity).detach(),
        },
        "auxiliary": {"kl_per_dim": terms.kl_per_dim.mean(0).detach()},
    }
