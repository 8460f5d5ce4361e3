"""Validation and normalisation of what a loss returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import LossResultError
from losses_core._types import LossReturn

_RESULT_KEYS = frozenset({"loss", "metrics", "auxiliary"})


def _check_loss_tensor(name: str, value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.ndim != 0:
            raise LossResultError(
                f"loss {name!r} returned {where} of shape {tuple(value.shape)}; expected a "
                f"0-dim (scalar) tensor. Reduce it (e.g. .mean() or .sum()); per-element results "
                f"(reduction='none') come from calling the loss function directly, not the registry."
            )
        if not value.is_floating_point():
            raise LossResultError(
                f"loss {name!r} returned {where} of dtype {value.dtype}; expected a floating dtype"
            )
        return value
    if isinstance(value, (float, int)):
        raise LossResultError(
            f"loss {name!r} returned {where} as a Python {type(value).__name__} ({value!r}); "
            f"expected a 0-dim tensor. A Python number (for example from .item()) breaks "
            f"autograd: return the tensor itself."
        )
    raise LossResultError(
        f"loss {name!r} returned {where} of type {type(value).__name__}; expected a 0-dim floating tensor"
    )


def check_result(name: str, out: Any) -> None:
    """Raise :class:`LossResultError` unless ``out`` is a valid loss result."""
    if isinstance(out, torch.Tensor):
        _check_loss_tensor(name, out, "a tensor")
    elif isinstance(out, Mapping):
        _check_mapping(name, out)
    else:
        _check_loss_tensor(name, out, "a value")


def _check_mapping(name: str, out: Mapping[str, Any]) -> None:
    if "loss" not in out:
        raise LossResultError(
            f"loss {name!r} returned a mapping without a 'loss' key (keys: {sorted(map(str, out))}); "
            f"expected {{'loss': tensor, 'metrics': {{...}}, 'auxiliary': {{...}}}}"
        )
    extra = set(out) - _RESULT_KEYS
    if extra:
        raise LossResultError(
            f"loss {name!r} returned unexpected key(s) {sorted(map(str, extra))}; a result may only "
            f"have 'loss', 'metrics' and 'auxiliary' (put other outputs in 'auxiliary')"
        )
    _check_loss_tensor(name, out["loss"], "'loss'")
    for key in ("metrics", "auxiliary"):
        value = out.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise LossResultError(
                f"loss {name!r} returned {key!r} of type {type(value).__name__}; expected a mapping"
            )


def normalize_result(name: str, out: Any) -> LossReturn:
    """Validate ``out`` and return a fresh ``{"loss", "metrics", "auxiliary"}`` dict."""
    check_result(name, out)
    if isinstance(out, torch.Tensor):
        return {"loss": out, "metrics": {}, "auxiliary": {}}
    return {
        "loss": out["loss"],
        "metrics": dict(out.get("metrics") or {}),
        "auxiliary": dict(out.get("auxiliary") or {}),
    }
