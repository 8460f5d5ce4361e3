"""Pieces shared by the ELBO-family losses."""

from __future__ import annotations

import torch

__all__ = ["detached", "full_like_scalar", "reduce_per_sample"]


def reduce_per_sample(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    """``mean`` over the batch, ``sum``, or ``none`` (the ``[B]`` tensor itself)."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def detached(t: torch.Tensor) -> torch.Tensor:
    """A detached copy for metrics (no host synchronisation)."""
    return t.detach()


def full_like_scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    """A 0-dim tensor holding the Python number ``value``, on ``like``'s device and dtype."""
    return torch.full((), value, dtype=like.dtype, device=like.device)
