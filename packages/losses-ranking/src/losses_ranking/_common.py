"""Small helpers shared by every loss of the package: parameter checks,
reductions, graph-connected zeros and dtype handling."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from losses_core._errors import LossParameterError
from losses_core.losses._reduction import check_reduction, safe_divide

__all__ = [
    "check_choice",
    "check_positive",
    "check_reduction",
    "compute_dtype",
    "detached",
    "masked_mean",
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


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is true; a graph-connected zero when
    nothing is selected (never NaN, in value or gradient)."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return safe_divide(total, mask.sum().to(total.dtype))


def reduce(values: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` to per-item ``values``, counting only ``mask``:
    ``"mean"`` is :func:`masked_mean`, ``"sum"`` the masked sum, ``"none"``
    the values with unselected items set to 0."""
    zeroed = torch.where(mask, values, torch.zeros_like(values))
    if reduction == "none":
        return zeroed
    if reduction == "sum":
        return zeroed.sum()
    return safe_divide(zeroed.sum(), mask.sum().to(values.dtype))
