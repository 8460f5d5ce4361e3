"""Results for loss authors: the result builder and the finiteness check.

``loss_result(loss, metrics=..., auxiliary=...)`` builds the
``{"loss", "metrics", "auxiliary"}`` mapping every loss returns when it has
more to say than its value; metric tensors are detached, so logging them never
holds the graph alive. ``check_finite`` rejects NaN and infinity with an error
naming the loss and the value, and stays inside a ``torch.compile`` graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core._errors import NonFiniteLossError
from losses_core._types import LossReturn

__all__ = ["check_finite", "loss_result"]


def loss_result(
    loss: torch.Tensor,
    metrics: Mapping[str, Any] | None = None,
    auxiliary: Mapping[str, Any] | None = None,
) -> LossReturn:
    """The normalised result of a loss.

    :param loss: the 0-dim loss (or the per-element losses of
        ``reduction="none"`` when called directly).
    :param metrics: values worth logging; tensors are detached here.
    :param auxiliary: anything else handed back (kept as given).
    """
    detached = {
        key: value.detach() if isinstance(value, torch.Tensor) else value
        for key, value in (metrics or {}).items()
    }
    return {"loss": loss, "metrics": detached, "auxiliary": dict(auxiliary or {})}


def check_finite(loss: str, value: torch.Tensor, what: str = "loss") -> torch.Tensor:
    """Return ``value``; raise :class:`NonFiniteLossError` if any element is NaN or infinite.

    In eager mode the check reads one bool on the host (a synchronisation on
    an accelerator). Under ``torch.compile`` it becomes an in-graph assertion
    (``torch._assert_async``), so the graph does not break.
    """
    if not value.is_floating_point() and not value.is_complex():
        return value
    finite = torch.isfinite(value).all()
    if _compiling():
        torch._assert_async(finite, f"{loss}: non-finite {what}")
        return value
    if not bool(finite):
        raise NonFiniteLossError(f"loss {loss!r} produced a non-finite {what}: {_summary(value)}")
    return value


def _summary(value: torch.Tensor) -> str:
    if value.numel() == 1:
        return repr(value.detach().cpu().item())
    nan = int(torch.isnan(value).sum())
    inf = int(torch.isinf(value).sum())
    return f"{nan} NaN and {inf} infinite of {value.numel()} elements (shape {tuple(value.shape)})"


def _compiling() -> bool:
    # torch.compiler.is_compiling() is the public test, but importing
    # torch.compiler loads torch._dynamo (over a second); dynamo is loaded
    # whenever something is being compiled, so only then is it asked.
    import sys

    compiler = sys.modules.get("torch.compiler")
    return compiler is not None and bool(compiler.is_compiling())
