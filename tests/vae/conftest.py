"""Fixtures shared by the VAE tests: float64 batches of a Gaussian-posterior VAE
and the per-sample reference terms of its ELBO."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

Batch = tuple[dict[str, Any], dict[str, Any]]


@pytest.fixture
def posterior_batch() -> Callable[..., Batch]:
    """A factory of random batches (default 5 samples, float64): ``model_output``
    ``predictions`` ``[batch, 6]``, ``mu`` and ``logvar`` ``[batch, 4]``
    (leaves that require grad) and ``targets`` ``target`` ``[batch, 6]``."""

    def make(batch: int = 5, seed: int = 0, dtype: torch.dtype = torch.float64) -> Batch:
        d, z = 6, 4
        g = torch.Generator().manual_seed(seed)
        out = {
            "predictions": torch.randn(batch, d, generator=g, dtype=dtype, requires_grad=True),
            "mu": torch.randn(batch, z, generator=g, dtype=dtype, requires_grad=True),
            "logvar": (0.5 * torch.randn(batch, z, generator=g, dtype=dtype)).requires_grad_(),
        }
        return out, {"target": torch.randn(batch, d, generator=g, dtype=dtype)}

    return make


@pytest.fixture
def sampled_posterior_batch() -> Callable[..., Batch]:
    """A factory of random float64 batches (default 7 samples): ``model_output``
    ``predictions`` ``[batch, 5]``, ``mu``, ``logvar``, a posterior sample
    ``z`` (leaves that require grad) and prior draws ``z_prior`` ``[batch,
    3]``; ``targets`` ``target`` ``[batch, 5]``."""

    def make(batch: int = 7, seed: int = 0) -> Batch:
        d, z = 5, 3
        g = torch.Generator().manual_seed(seed)
        mu = torch.randn(batch, z, generator=g, dtype=torch.float64)
        logvar = 0.5 * torch.randn(batch, z, generator=g, dtype=torch.float64)
        sample = mu + torch.randn(batch, z, generator=g, dtype=torch.float64) * torch.exp(0.5 * logvar)
        out = {
            "predictions": torch.randn(batch, d, generator=g, dtype=torch.float64, requires_grad=True),
            "mu": mu.requires_grad_(),
            "logvar": logvar.requires_grad_(),
            "z": sample.requires_grad_(),
            "z_prior": torch.randn(batch, z, generator=g, dtype=torch.float64),
        }
        return out, {"target": torch.randn(batch, d, generator=g, dtype=torch.float64)}

    return make


@pytest.fixture
def gaussian_recon_kl() -> Callable[[dict[str, Any], dict[str, Any]], tuple[torch.Tensor, torch.Tensor]]:
    """``recon_kl(model_output, targets)``: the per-sample unit-variance Gaussian
    NLL (``torch.distributions``) and closed-form KL to N(0, I), each ``[B]``."""

    def recon_kl(out: dict[str, Any], tg: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        recon = -torch.distributions.Normal(out["predictions"], 1.0).log_prob(tg["target"]).sum(1)
        kl = (0.5 * (out["mu"] ** 2 + out["logvar"].exp() - out["logvar"] - 1)).sum(1)
        return recon, kl

    return recon_kl
