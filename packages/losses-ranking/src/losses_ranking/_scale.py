"""The learnable logit scale (and bias) of CLIP and SigLIP."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import LossInputError, LossParameterError
from losses_core.inputs import optional_tensor, require_tensor
from losses_ranking._common import compute_dtype


def read_scalar(
    model_output: Mapping[str, Any], key: str | None, *, loss: str, required: bool
) -> torch.Tensor | None:
    """A scalar (0-dim or one-element) floating entry of ``model_output``, as 0-dim."""
    if key is None:
        return None
    value: torch.Tensor | None
    if required:
        value = require_tensor(model_output, key, loss=loss, source="model_output", floating=True)
    else:
        value = optional_tensor(model_output, key, loss=loss, source="model_output", floating=True)
    if value is None:
        return None
    if value.numel() != 1:
        raise LossInputError(
            f"{loss}: model_output[{key!r}] must be a scalar (one element), got shape {tuple(value.shape)}"
        )
    return compute_dtype(value.reshape(()))


def logit_scale(raw: torch.Tensor, *, loss: str, log_space: bool, max_scale: float | None) -> torch.Tensor:
    """The multiplicative scale: ``exp(raw)`` when ``log_space`` (CLIP's
    parameterisation), else ``raw`` itself (open_clip passes it already
    exponentiated); capped at ``max_scale`` when given (CLIP's 100)."""
    if max_scale is not None and not max_scale > 0:
        raise LossParameterError(f"loss {loss!r}: max_logit_scale must be > 0 or None, got {max_scale!r}")
    if log_space:
        if max_scale is not None:
            raw = raw.clamp(max=math.log(max_scale))
        return raw.exp()
    return raw if max_scale is None else raw.clamp(max=max_scale)
