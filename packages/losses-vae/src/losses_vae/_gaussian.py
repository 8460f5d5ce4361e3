"""Diagonal-Gaussian helpers: log-variance clamping, closed-form KL, log densities.

``logvar`` is clamped to ``[LOGVAR_MIN, LOGVAR_MAX] = [-30, 20]`` before it is
exponentiated (the convention of diffusers' ``DiagonalGaussianDistribution``):
``exp(20)`` ~ 4.9e8 and ``exp(30)`` ~ 1.1e13 stay far from float32/bfloat16
overflow, so extreme-but-finite encoder outputs never give inf or NaN. The
clamp has zero gradient outside the range, like diffusers'.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "LOGVAR_MAX",
    "LOGVAR_MIN",
    "LOG_2PI",
    "clamp_logvar",
    "gaussian_kl_per_dim",
    "log_normal",
    "log_standard_normal",
]

LOGVAR_MIN = -30.0
LOGVAR_MAX = 20.0
LOG_2PI = math.log(2.0 * math.pi)


def clamp_logvar(logvar: torch.Tensor) -> torch.Tensor:
    """``logvar`` clamped to ``[-30, 20]``."""
    return logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`\mathrm{KL}(\mathcal N(\mu, e^{v}) \,\|\, \mathcal N(0, 1))
    = \tfrac12(\mu^2 + e^{v} - v - 1)`, computed as ``0.5 * (mu² + expm1(v) - v)``
    (no cancellation for small ``v``). ``logvar`` must already be clamped."""
    return 0.5 * (mu.square() + torch.expm1(logvar) - logvar)


def log_normal(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`\log \mathcal N(x; \mu, e^{v}) = -\tfrac12(\log 2\pi + v + (x-\mu)^2 e^{-v})`
    (broadcasting). ``logvar`` must already be clamped."""
    return -0.5 * (LOG_2PI + logvar + (x - mu).square() * torch.exp(-logvar))


def log_standard_normal(x: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`\log \mathcal N(x; 0, 1) = -\tfrac12(\log 2\pi + x^2)`."""
    return -0.5 * (LOG_2PI + x.square())
