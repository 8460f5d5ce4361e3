"""Pieces shared by the ELBO-family losses."""

from __future__ import annotations

import torch

__all__ = ["full_like_scalar", "reduce_per_sample"]


def reduce_per_sample(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    """``mean`` over the batch, ``sum``, or ``none`` (the ``[B]`` tensor itself)."""
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def full_like_scalar(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A detached 0-dim tensor holding ``value`` (a number, or a 0-dim tensor from a
    schedule), on ``like``'s device and dtype."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(dtype=like.dtype, device=like.device)
    return torch.full((), value, dtype=like.dtype, device=like.device)
