"""Division that never produces NaN (a private helper; losses-core's equivalent is private to it)."""

from __future__ import annotations

import torch

__all__ = ["safe_divide"]


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator`` where the denominator is non-zero, else
    ``numerator * 0`` (a zero that keeps the graph). Never NaN, in value or
    gradient."""
    nonzero = denominator != 0
    safe = torch.where(nonzero, denominator, torch.ones_like(denominator))
    return torch.where(nonzero, numerator / safe, numerator * 0)
