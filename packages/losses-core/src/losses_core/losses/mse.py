"""Mean squared error with an optional mask or weights."""

from __future__ import annotations

from typing import Any

import torch

from losses_core import LossInputError
from losses_core._registry import register_loss
from losses_core.inputs import Input
from losses_core.reduction import Reduction, reduce

__all__ = ["mse"]


def mse_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B, 3]`` predictions and targets."""
    pred = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    return {"predictions": pred}, {"target": torch.randn(batch_size, 3, dtype=dtype)}, {}


@register_loss(
    aliases=("MSE",),
    inputs=[
        Input("predictions", "model_output", dtype="float", doc="predictions, any shape"),
        Input("target", "targets", like="predictions", doc="targets, the predictions' shape"),
        Input(
            "mask",
            "targets",
            optional=True,
            doc="bool or float weights whose shape prefixes or broadcasts to the predictions'",
        ),
    ],
    example_inputs=mse_example,
)
def mse(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Mean squared error.

    With :math:`e_i = (\hat y_i - y_i)^2` over every element and weights
    :math:`w` (a mask is 0/1 weights, all 1 without one):

    - ``reduction="mean"`` (default): :math:`\sum_i w_i e_i / \sum_i w_i`;
      0 (connected to the graph, never NaN) when every weight is 0.
    - ``reduction="sum"``: :math:`\sum_i w_i e_i`.
    - ``reduction="none"``: the element-wise :math:`w_i e_i`, shape of the input.

    Without a mask this equals ``torch.nn.functional.mse_loss``.
    """
    error = (predictions - target).square()
    if mask is None:
        return reduce(error, reduction)
    return reduce(error, reduction, _align(mask, error))


def _align(mask: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """``mask`` reshaped so that a prefix shape (``[B]`` for ``[B, T, D]``) broadcasts."""
    if mask.ndim <= error.ndim and mask.shape == error.shape[: mask.ndim]:
        mask = mask.reshape(mask.shape + (1,) * (error.ndim - mask.ndim))
    try:
        torch.broadcast_shapes(mask.shape, error.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        raise LossInputError(
            f"mse: input 'mask' has shape {tuple(mask.shape)}, which neither prefixes nor "
            f"broadcasts to the predictions' shape {tuple(error.shape)}"
        ) from None
    return mask
