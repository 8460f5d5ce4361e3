"""The learnable logit scale (and bias) of CLIP and SigLIP."""

from __future__ import annotations

import math

import torch

from losses_core import LossInputError
from losses_core.tensors import at_least_float32

__all__ = ["as_scalar", "effective_scale"]


def as_scalar(loss: str, name: str, value: torch.Tensor) -> torch.Tensor:
    """A one-element input (0-dim, ``[1]``, ...) as a 0-dim tensor of at least float32.

    :raises LossInputError: ``value`` has more than one element.
    """
    if value.numel() != 1:
        raise LossInputError(
            f"{loss}: input {name!r} must be a scalar (one element), got shape {tuple(value.shape)}"
        )
    return at_least_float32(value.reshape(()))


def effective_scale(raw: torch.Tensor, *, log_space: bool, max_scale: float | None) -> torch.Tensor:
    """The multiplicative scale: ``exp(raw)`` when ``log_space`` (CLIP's
    parameterisation), else ``raw`` itself (open_clip passes it already
    exponentiated); capped at ``max_scale`` when given (CLIP's 100)."""
    if log_space:
        if max_scale is not None:
            raw = raw.clamp(max=math.log(max_scale))
        return raw.exp()
    return raw if max_scale is None else raw.clamp(max=max_scale)
