"""Types and constants of the loss-function protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias, TypedDict, Union, runtime_checkable

import torch

from losses_core._names import ENTRY_POINT_GROUP, PROJECT_NAME

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "LossFunction", "LossOutput", "LossReturn"]


class LossReturn(TypedDict, total=False):
    """The normalised result of a loss.

    ``loss`` is a 0-dim floating tensor that carries the autograd graph.
    ``metrics`` maps names to values worth logging (0-dim tensors, detached by
    convention, or Python numbers). ``auxiliary`` carries anything else the
    loss wants to hand back (per-sample losses, indices, intermediate tensors).
    :func:`losses_core.resolve_loss` always returns all three keys.
    """

    loss: torch.Tensor
    metrics: dict[str, Any]
    auxiliary: dict[str, Any]


LossOutput: TypeAlias = Union[torch.Tensor, LossReturn, Mapping[str, Any]]  # noqa: UP007
"""What a loss function may return: a 0-dim floating tensor or a
:class:`LossReturn`-shaped mapping."""


@runtime_checkable
class LossFunction(Protocol):
    """The loss protocol: ``fn(model_output, targets, **params) -> LossOutput``.

    ``model_output`` is the dict returned by the model's ``forward``;
    ``targets`` is the dict of targets from the batch; keyword parameters come
    from code or config. Functions and callable instances both qualify.
    """

    def __call__(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any
    ) -> LossOutput: ...
