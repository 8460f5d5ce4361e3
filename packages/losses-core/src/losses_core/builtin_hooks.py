"""Opt-in hook plugins shipped with losses-core.

Register them with :func:`losses_core.register_hooks` or scope them with
:func:`losses_core.use_hooks`::

    from losses_core import MetricsCollector, NonFiniteGuard, use_hooks

    collector = MetricsCollector()
    with use_hooks(NonFiniteGuard(), collector):
        ...train...
    print(collector.summary())
"""

from __future__ import annotations

from typing import Any

import torch

from losses_core._call import LossCall
from losses_core._errors import NonFiniteLossError
from losses_core._hooks import hookimpl

__all__ = ["MetricsCollector", "NonFiniteGuard"]


class NonFiniteGuard:
    """Raise :class:`NonFiniteLossError` when a loss (and optionally a metric)
    is NaN or infinite, naming the loss, its provider and its parameters.

    The check reads the value on the host, so it synchronises with an
    accelerator and is a graph break under ``torch.compile``; use it while
    debugging or in eager training.
    """

    def __init__(self, *, check_metrics: bool = False) -> None:
        self.check_metrics = check_metrics

    @hookimpl(trylast=True)
    def losses_post_loss(self, call: LossCall) -> None:
        assert call.result is not None
        values = {"loss": call.result["loss"]}
        if self.check_metrics:
            values.update(
                {
                    f"metrics[{k!r}]": v
                    for k, v in call.result["metrics"].items()
                    if isinstance(v, torch.Tensor)
                }
            )
        for where, value in values.items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise NonFiniteLossError(
                    f"loss {call.name!r} ({call.provider}) produced a non-finite {where}: "
                    f"{value.detach().cpu().tolist()} with params {call.params!r}"
                )

    def __repr__(self) -> str:
        return f"NonFiniteGuard(check_metrics={self.check_metrics})"


class MetricsCollector:
    """Accumulate each loss's value and metrics across calls.

    Values are summed as detached tensors on their own device, so collecting
    costs no host synchronisation; :meth:`summary` returns the means as
    Python floats (one synchronisation), :meth:`reset` starts over (call it
    at the start of each epoch).
    """

    def __init__(self) -> None:
        self._sums: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    @hookimpl(trylast=True)
    def losses_post_loss(self, call: LossCall) -> None:
        assert call.result is not None
        sums = self._sums.setdefault(call.name, {})
        counts = self._counts.setdefault(call.name, {})
        items = {"loss": call.result["loss"], **call.result["metrics"]}
        for key, value in items.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    continue
                value = value.detach().reshape(())
            elif not isinstance(value, (int, float)):
                continue
            sums[key] = sums[key] + value if key in sums else value
            counts[key] = counts.get(key, 0) + 1

    def summary(self) -> dict[str, dict[str, float]]:
        """``{loss_name: {"loss": mean, metric: mean, ...}}`` since the last reset."""
        return {
            name: {key: float(total) / self._counts[name][key] for key, total in sums.items()}
            for name, sums in self._sums.items()
        }

    def reset(self) -> None:
        """Forget everything collected so far."""
        self._sums.clear()
        self._counts.clear()

    def __repr__(self) -> str:
        return f"MetricsCollector(losses={sorted(self._sums)})"
