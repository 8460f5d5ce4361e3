"""Margin ranking loss with torch's semantics (seed built-in ``margin_ranking``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core.inputs import check_same_shape, require_tensor
from losses_ranking._common import check_reduction, compute_dtype, detached

__all__ = ["margin_ranking"]


def margin_ranking(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    margin: float = 0.0,
    reduction: str = "mean",
    input1_key: str = "input1",
    input2_key: str = "input2",
    target_key: str = "target",
) -> dict[str, Any] | torch.Tensor:
    r"""Margin ranking loss, registered as ``margin_ranking`` (seed 002's built-in).

    Element-wise, with :math:`y \in \{1, -1\}` saying whether :math:`x_1`
    should rank above (1) or below (-1) :math:`x_2`:

    .. math:: \ell = \max\bigl(0, -y (x_1 - x_2) + \mathrm{margin}\bigr)

    exactly ``torch.nn.MarginRankingLoss(margin)`` (default ``margin=0``).

    - ``reduction="mean"`` (default): mean over all elements; ``"sum"``: sum;
      ``"none"``: the element-wise losses (bare tensor, input shape).

    Inputs: ``model_output[input1_key]`` and ``model_output[input2_key]``
    (floating, same shape), ``targets[target_key]`` (same shape, ±1).
    Metrics: ``accuracy`` (fraction of elements with :math:`y (x_1 - x_2) > 0`)
    and ``active_fraction`` (fraction with a positive loss).
    """
    name = "margin_ranking"
    check_reduction(name, reduction)
    x1 = require_tensor(model_output, input1_key, loss=name, source="model_output", floating=True)
    x2 = require_tensor(model_output, input2_key, loss=name, source="model_output", floating=True)
    y = require_tensor(targets, target_key, loss=name, source="targets")
    check_same_shape(
        x1, x2, loss=name, names=(f"model_output[{input1_key!r}]", f"model_output[{input2_key!r}]")
    )
    check_same_shape(x1, y, loss=name, names=(f"model_output[{input1_key!r}]", f"targets[{target_key!r}]"))
    diff = compute_dtype(x1) - compute_dtype(x2)
    signed = y.to(diff.dtype) * diff
    per_element = (margin - signed).clamp_min(0.0)
    if reduction == "none":
        return per_element
    value = per_element.mean() if reduction == "mean" else per_element.sum()
    return {
        "loss": value,
        "metrics": {
            "accuracy": detached((signed > 0).to(diff.dtype).mean()),
            "active_fraction": detached((per_element > 0).to(diff.dtype).mean()),
        },
        "auxiliary": {},
    }
