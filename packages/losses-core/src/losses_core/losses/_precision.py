"""Precision policy shared by the built-in losses."""

from __future__ import annotations

import torch

__all__ = ["at_least_float32"]

LOW_PRECISION = (torch.float16, torch.bfloat16)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` upcast to float32 when it is float16 or bfloat16, else ``x``
    itself: log-sum-exps, sums and distances lose too much in half precision.
    The gradient flows back to ``x`` in its own dtype."""
    return x.float() if x.dtype in LOW_PRECISION else x
