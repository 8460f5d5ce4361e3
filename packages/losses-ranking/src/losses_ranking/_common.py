"""Small helpers shared by every loss of the package: parameter checks,
reductions, graph-connected zeros and dtype handling."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from losses_core._errors import LossParameterError
from losses_core.reduction import check_reduction, safe_divide

__all__ = [
    "as_float",
    "check_choice",
    "check_optional_int",
    "check_positive",
    "check_reduction",
    "compute_dtype",
    "detached",
    "reduce",
    "safe_divide",
]


def check_positive(loss: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise :class:`LossParameterError` unless ``value`` is a positive (or
    non-negative, with ``allow_zero``) number."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok:
        expected = "a number >= 0" if allow_zero else "a number > 0"
        raise LossParameterError(f"loss {loss!r}: {name} must be {expected}, got {value!r}")


def check_choice(loss: str, name: str, value: object, choices: Sequence[object]) -> None:
    """Raise :class:`LossParameterError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise LossParameterError(f"loss {loss!r}: {name} must be one of {allowed}, got {value!r}")


def check_optional_int(loss: str, name: str, value: int | None, *, minimum: int = 1) -> None:
    """Raise :class:`LossParameterError` unless ``value`` is ``None`` or an int >= ``minimum``."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise LossParameterError(f"loss {loss!r}: {name} must be None or an int >= {minimum}, got {value!r}")


def as_float(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as 0/1 floats. Going through a ``uint8`` view is several
    times faster on CPU than converting the bool tensor directly."""
    return mask.view(torch.uint8).to(dtype)


def compute_dtype(x: torch.Tensor) -> torch.Tensor:
    """``x`` in at least float32: half-precision inputs are computed in float32
    (sorting, log-sum-exp and cumulative sums lose too much in bfloat16); the
    gradient flows back to ``x`` in its own dtype."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def detached(x: torch.Tensor) -> torch.Tensor:
    """A metric value: detached, no host synchronisation."""
    return x.detach()


def reduce(values: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` to per-item ``values`` that are already 0 where
    ``mask`` is false: ``"mean"`` divides the sum by the number of selected
    items (a graph-connected zero when there is none), ``"sum"`` sums,
    ``"none"`` returns ``values``."""
    if reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    return total / mask.sum().clamp_min(1).to(total.dtype)
