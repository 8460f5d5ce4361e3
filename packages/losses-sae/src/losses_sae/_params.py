"""Checks of parameter values; each raises :class:`losses_core.LossParameterError`
naming the loss, the parameter and what was expected."""

from __future__ import annotations

import math
from collections.abc import Sequence

from losses_core import LossParameterError

__all__ = [
    "check_choice",
    "check_nonnegative",
    "check_positive",
    "check_positive_int",
    "check_reduction",
]

REDUCTIONS = ("mean", "sum", "none")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: float) -> bool:
    # comparisons rather than math.isfinite, which torch.compile cannot trace on symbolic floats
    return -math.inf < value < math.inf


def check_nonnegative(loss: str, name: str, value: object) -> float:
    """``value`` as a float, or raise unless it is a finite number >= 0."""
    if not _is_number(value) or not _is_finite(value) or value < 0:  # type: ignore[arg-type,operator]
        raise LossParameterError(
            f"loss {loss!r}: parameter {name!r} must be a finite number >= 0, got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def check_positive(loss: str, name: str, value: object) -> float:
    """``value`` as a float, or raise unless it is a finite number > 0."""
    if not _is_number(value) or not _is_finite(value) or value <= 0:  # type: ignore[arg-type,operator]
        raise LossParameterError(
            f"loss {loss!r}: parameter {name!r} must be a finite number > 0, got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def check_positive_int(loss: str, name: str, value: object) -> int:
    """``value``, or raise unless it is an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LossParameterError(f"loss {loss!r}: parameter {name!r} must be an int >= 1, got {value!r}")
    return value


def check_choice(loss: str, name: str, value: object, choices: Sequence[str]) -> str:
    """``value``, or raise unless it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise LossParameterError(
            f"loss {loss!r}: parameter {name!r} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


def check_reduction(loss: str, reduction: object) -> str:
    """``reduction``, or raise unless it is ``"mean"``, ``"sum"`` or ``"none"``."""
    return check_choice(loss, "reduction", reduction, REDUCTIONS)
