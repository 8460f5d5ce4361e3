"""Validation of loss parameters (Python-side values only, never tensors)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from losses_core import LossParameterError
from losses_core.reduction import REDUCTIONS, check_reduction

__all__ = ["REDUCTIONS", "check_choice", "check_int", "check_number", "check_reduction"]


def check_number(
    loss: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """Return ``value`` as a float, or raise :class:`LossParameterError`.

    :param minimum: the smallest allowed value (inclusive), if any.
    :param strictly_positive: require ``value > 0``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LossParameterError(f"loss {loss!r}: {name} must be a finite number, got {value!r}")
    if strictly_positive and value <= 0:
        raise LossParameterError(f"loss {loss!r}: {name} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise LossParameterError(f"loss {loss!r}: {name} must be >= {minimum}, got {value!r}")
    return float(value)


def check_int(loss: str, name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LossParameterError(f"loss {loss!r}: {name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise LossParameterError(f"loss {loss!r}: {name} must be >= {minimum}, got {value!r}")
    return value


def check_choice(loss: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise."""
    if not isinstance(value, str) or value not in choices:
        raise LossParameterError(
            f"loss {loss!r}: {name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        )
    return value
