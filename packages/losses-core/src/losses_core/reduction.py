"""Reduction for loss authors: one convention for every loss.

``reduce(values, reduction, mask=None)`` turns per-element (or per-sample)
losses into the result: ``"mean"`` over the selected elements, ``"sum"``, or
``"none"`` (the values themselves, zero where the mask excludes them). An
empty selection gives 0, connected to the autograd graph, never NaN.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import torch

__all__ = ["REDUCTIONS", "Reduction", "reduce", "safe_divide"]

Reduction: TypeAlias = Literal["mean", "sum", "none"]
"""The ``reduction`` parameter of a loss; annotate it with this type and core
checks the value."""

REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """``numerator / denominator``, or ``numerator * 0`` (a zero that keeps the
    graph) where the denominator is 0. Never NaN, in value or gradient."""
    nonzero = denominator != 0
    safe = torch.where(nonzero, denominator, torch.ones_like(denominator))
    return torch.where(nonzero, numerator / safe, numerator * 0)


def reduce(values: torch.Tensor, reduction: Reduction, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Reduce ``values`` by ``reduction``, over the elements ``mask`` selects.

    - ``"mean"``: :math:`\sum_i m_i v_i / \sum_i m_i` (plain mean without a
      mask); 0 connected to the graph when nothing is selected.
    - ``"sum"``: :math:`\sum_i m_i v_i`.
    - ``"none"``: :math:`m_i v_i`, the shape of ``values``.

    :param values: per-element losses, any shape.
    :param reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    :param mask: bool or float weights broadcastable to ``values`` (a float
        mask weighs elements; the mean divides by the summed weights).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduction!r}")
    if mask is None:
        if reduction == "mean":
            return values.mean() if values.numel() else values.sum() * 0
        if reduction == "sum":
            return values.sum()
        return values
    weights = mask.to(values.dtype)
    weighted = values * weights
    if reduction == "none":
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return total
    return safe_divide(total, weights.expand_as(weighted).sum())
