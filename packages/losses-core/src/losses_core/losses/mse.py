"""Mean squared error with optional mask or weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import LossInputError
from losses_core.inputs import check_same_shape, optional_tensor, require_tensor
from losses_core.reduction import check_reduction, safe_divide

__all__ = ["mse"]


def mse(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    weight_key: str | None = "mask",
) -> torch.Tensor:
    r"""Mean squared error, registered as ``mse``.

    With :math:`e_i = (\hat y_i - y_i)^2` over every element:

    - ``reduction="mean"``: :math:`\frac{1}{N}\sum_i e_i`; with weights
      :math:`w` (a mask is 0/1 weights): :math:`\sum_i w_i e_i / \sum_i w_i`,
      and 0 (connected to the graph, never NaN) when every weight is 0.
    - ``reduction="sum"``: :math:`\sum_i w_i e_i`.
    - ``reduction="none"``: the element-wise :math:`w_i e_i`, shape of the input.

    Without weights this equals ``torch.nn.functional.mse_loss``.

    :param model_output: ``model_output[prediction_key]``, any shape.
    :param targets: ``targets[target_key]``, same shape; ``targets[weight_key]``
        optional, used when present: a bool or float tensor whose shape is a
        prefix of the prediction's (``[B]`` or ``[B, T]`` for ``[B, T, D]``) or
        broadcastable to it. Pass ``weight_key=None`` to ignore it.
    """
    check_reduction("mse", reduction)
    pred = require_tensor(model_output, prediction_key, loss="mse", source="model_output", floating=True)
    target = require_tensor(targets, target_key, loss="mse", source="targets")
    check_same_shape(
        pred, target, loss="mse", names=(f"model_output[{prediction_key!r}]", f"targets[{target_key!r}]")
    )
    error = (pred - target).square()
    weight = optional_tensor(targets, weight_key, loss="mse", source="targets")
    if weight is None:
        if reduction == "mean":
            return error.mean()
        return error.sum() if reduction == "sum" else error
    weight = _align_weight(weight, error, weight_key)
    weighted = error * weight
    if reduction == "none":
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return total
    return safe_divide(total, weight.expand_as(error).sum())


def _align_weight(weight: torch.Tensor, error: torch.Tensor, key: str | None) -> torch.Tensor:
    if weight.ndim > error.ndim:
        raise LossInputError(
            f"mse: targets[{key!r}] has shape {tuple(weight.shape)}, more dimensions than the "
            f"predictions {tuple(error.shape)}"
        )
    if weight.shape == error.shape[: weight.ndim]:
        weight = weight.reshape(weight.shape + (1,) * (error.ndim - weight.ndim))
    try:
        torch.broadcast_shapes(weight.shape, error.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        raise LossInputError(
            f"mse: targets[{key!r}] has shape {tuple(weight.shape)}, which neither prefixes nor "
            f"broadcasts to the predictions' shape {tuple(error.shape)}"
        ) from None
    return weight.to(error.dtype)
