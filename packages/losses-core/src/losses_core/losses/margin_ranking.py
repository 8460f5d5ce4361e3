"""Margin ranking loss with torch's semantics."""

from __future__ import annotations

from typing import Any

import torch

from losses_core import LossReturn
from losses_core._registry import register_loss
from losses_core.inputs import Input
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32

__all__ = ["margin_ranking"]


def margin_ranking_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B]`` score pairs and ±1 targets."""
    x1 = torch.randn(batch_size, dtype=dtype, requires_grad=True)
    x2 = torch.randn(batch_size, dtype=dtype, requires_grad=True)
    target = torch.where(torch.rand(batch_size) > 0.5, 1.0, -1.0).to(dtype)
    return {"input1": x1, "input2": x2}, {"target": target}, {"margin": 0.1}


@register_loss(
    inputs=[
        Input("input1", "model_output", dtype="float", doc="scores x1, any shape"),
        Input("input2", "model_output", like="input1", dtype="float", doc="scores x2, the shape of x1"),
        Input("target", "targets", like="input1", doc="1 where x1 should rank above x2, -1 where below"),
    ],
    example_inputs=margin_ranking_example,
)
def margin_ranking(
    input1: torch.Tensor,
    input2: torch.Tensor,
    target: torch.Tensor,
    *,
    margin: float = 0.0,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Margin ranking loss on pairs of scores, as torch's MarginRankingLoss.

    Element-wise, with :math:`y \in \{1, -1\}` saying whether :math:`x_1`
    should rank above (1) or below (-1) :math:`x_2`:

    .. math:: \ell = \max\bigl(0, -y (x_1 - x_2) + \mathrm{margin}\bigr)

    Default ``margin=0.0``. float16 and bfloat16 scores are computed in
    float32.

    - ``reduction="mean"`` (default): mean over all elements (0 connected to
      the graph for empty inputs); ``"sum"``: sum; ``"none"``: the
      element-wise losses, input shape, as a bare tensor.

    Metrics: ``accuracy`` (fraction of elements with :math:`y (x_1 - x_2) >
    0`) and ``active_fraction`` (fraction with a positive loss).
    """
    diff = at_least_float32(input1) - at_least_float32(input2)
    signed = target.to(diff.dtype) * diff
    per_element = (margin - signed).clamp_min(0.0)
    if reduction == "none":
        return per_element
    with torch.no_grad():
        accuracy = reduce((signed > 0).to(diff.dtype), "mean")
        active = reduce((per_element > 0).to(diff.dtype), "mean")
    return loss_result(
        reduce(per_element, reduction), metrics={"accuracy": accuracy, "active_fraction": active}
    )
