"""Reduction helpers for loss implementations (public: plugins may use them).

``check_reduction`` validates a ``reduction`` argument with an error naming
the loss; ``safe_divide`` divides without ever producing NaN, returning a
zero connected to the autograd graph where the denominator is 0 (the
empty-selection convention of every first-party loss).
"""

from __future__ import annotations

import torch

from losses_core._errors import LossParameterError

__all__ = ["REDUCTIONS", "check_reduction", "safe_divide"]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(loss: str, reduction: str) -> None:
    """Raise :class:`LossParameterError` unless ``reduction`` is mean/sum/none."""
    if reduction not in REDUCTIONS:
        raise LossParameterError(
            f"loss {loss!r}: reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}"
        )


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, or ``numerator * 0`` (a zero that keeps the
    graph) where the denominator is 0. Never NaN, in value or gradient."""
    safe = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator != 0, numerator / safe, numerator * 0)
