"""Coefficient schedules: pure functions of the training step.

No loss keeps a counter. A loss whose coefficient can be scheduled takes the
coefficient itself (``beta``, ``capacity``), an optional schedule *spec* and
the current ``step``; the coefficient actually used is::

    coefficient * factor(step)       # factor from the spec, see scheduled_value

From YAML::

    loss:
      class: beta_vae
      params:
        beta: 4.0
        beta_schedule: {schedule: cyclical, total_steps: 100000, n_cycles: 4, ratio: 0.5}

and at every training step pass the step with the call (it overrides nothing
else): ``loss_fn(model_output, targets, step=global_step)``. From code, either
do the same or compute the coefficient yourself with the functions below and
pass it directly: ``beta=cyclical_annealing(step, 100000) * 4.0``.

``step`` may be a Python int or a 0-dim tensor. Under ``torch.compile`` pass a
tensor (``torch.tensor(global_step)``): the schedule is then computed with
tensor ops and a new step does not recompile (a Python int is a constant to
the compiler, so every new value recompiles). A tensor step's value is not
validated (that would synchronise with the device).

Spec names: ``"constant"`` (factor 1), ``"linear_warmup"`` (alias
``"linear"``) with :func:`linear_warmup`'s parameters, and ``"cyclical"`` with
:func:`cyclical_annealing`'s parameters. Burgess et al.'s capacity schedule
``linear_capacity(step, c_max, T)`` is ``capacity: c_max`` with
``capacity_schedule: {schedule: linear_warmup, warmup_steps: T}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Union

import torch

from losses_core import LossParameterError

__all__ = [
    "SCHEDULES",
    "constant",
    "cyclical_annealing",
    "linear_capacity",
    "linear_warmup",
    "scheduled_value",
]


Step = Union[int, float, torch.Tensor]  # noqa: UP007
"""A training step: a Python number, or a 0-dim tensor (see the module docstring)."""


def _is_tensor(step: object) -> bool:
    return isinstance(step, torch.Tensor)


def _check_step(step: Step) -> None:
    if _is_tensor(step):
        return  # checking a tensor's value would synchronise with the device
    if isinstance(step, bool) or not isinstance(step, (int, float)) or step < 0:
        raise ValueError(f"step must be a non-negative number or a 0-dim tensor, got {step!r}")


def _check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        raise ValueError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}"
        )


def constant(step: Step) -> float:
    """Always 1.0 (the unscheduled factor)."""
    _check_step(step)
    return 1.0


def linear_warmup(step: Step, warmup_steps: float, start: float = 0.0, stop: float = 1.0) -> Any:
    r"""Linear warm-up: :math:`\mathrm{start} + (\mathrm{stop}-\mathrm{start})
    \min(1, t / T)`, then ``stop`` for ``t >= T``; ``warmup_steps=0`` gives ``stop``
    from the start. With the defaults this is the KL warm-up :math:`\beta_t = \min(1, t/T)`
    (Bowman et al. 2016; Sønderby et al. 2016). A float, or a 0-dim tensor for a
    tensor ``step``."""
    _check_step(step)
    _check_positive("warmup_steps", warmup_steps, allow_zero=True)
    if warmup_steps == 0:
        return float(stop)
    if isinstance(step, torch.Tensor):
        return start + (stop - start) * torch.clamp(step / warmup_steps, max=1.0)
    return float(start + (stop - start) * min(1.0, step / warmup_steps))


def cyclical_annealing(
    step: Step,
    total_steps: float,
    n_cycles: int = 4,
    ratio: float = 0.5,
    start: float = 0.0,
    stop: float = 1.0,
) -> Any:
    r"""Cyclical annealing of Fu et al. 2019 ("Cyclical annealing schedule: a
    simple approach to mitigating KL vanishing", their
    ``frange_cycle_linear(n_iter, start, stop, n_cycle, ratio)``).

    ``total_steps`` is split into ``n_cycles`` cycles of length
    :math:`P = \mathrm{total\_steps}/n_{cycles}`; within a cycle, at position
    :math:`\tau = (t \bmod P)/P`, the value rises linearly from ``start`` to
    ``stop`` over the first ``ratio`` of the cycle and holds ``stop`` for the rest:
    :math:`\mathrm{start} + (\mathrm{stop}-\mathrm{start})\min(1, \tau/R)`.
    From ``t >= total_steps`` on it stays at ``stop`` (annealing finished).
    A float, or a 0-dim tensor for a tensor ``step``.
    """
    _check_step(step)
    _check_positive("total_steps", total_steps)
    if isinstance(n_cycles, bool) or not isinstance(n_cycles, int) or n_cycles < 1:
        raise ValueError(f"n_cycles must be an int >= 1, got {n_cycles!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
    period = total_steps / n_cycles
    if isinstance(step, torch.Tensor):
        position = torch.remainder(step, period) / period
        value = start + (stop - start) * torch.clamp(position / ratio, max=1.0)
        return torch.where(step >= total_steps, torch.full_like(value, stop), value)
    if step >= total_steps:
        return float(stop)
    tau = math.fmod(step, period) / period
    return float(start + (stop - start) * min(1.0, tau / ratio))


def linear_capacity(step: Step, c_max: float, iteration_threshold: float) -> Any:
    r"""The capacity :math:`C(t) = \min(C_{max}, C_{max}\, t / T)` of Burgess et al.
    2018 (disentanglement_lib's ``anneal(c_max, step, iteration_threshold)``);
    ``iteration_threshold=0`` gives ``c_max``."""
    return c_max * linear_warmup(step, iteration_threshold)


SCHEDULES: Mapping[str, tuple[Callable[..., float], frozenset[str], frozenset[str]]] = {
    "constant": (constant, frozenset(), frozenset()),
    "linear_warmup": (linear_warmup, frozenset({"warmup_steps"}), frozenset({"start", "stop"})),
    "linear": (linear_warmup, frozenset({"warmup_steps"}), frozenset({"start", "stop"})),
    "cyclical": (
        cyclical_annealing,
        frozenset({"total_steps"}),
        frozenset({"n_cycles", "ratio", "start", "stop"}),
    ),
}
"""Spec name -> (factor function, required parameters, optional parameters)."""


def scheduled_value(
    value: float,
    schedule: Mapping[str, Any] | None,
    step: Step | None,
    *,
    loss: str,
    name: str,
) -> Any:
    """The coefficient ``value`` scaled by the schedule ``schedule`` at ``step``.

    :param value: the coefficient (``beta``, ``capacity``, ...).
    :param schedule: ``None`` (``value`` is used as is) or a mapping
        ``{"schedule": <name>, **parameters}`` naming one of :data:`SCHEDULES`.
    :param step: the current training step (a number or a 0-dim tensor);
        required when ``schedule`` is set.
    :returns: a float, or a 0-dim tensor when ``step`` is a tensor.
    :param loss: the loss's name, for error messages.
    :param name: the coefficient's parameter name, for error messages.
    :raises LossParameterError: an unknown schedule, a missing/unknown/invalid
        schedule parameter, or a schedule without ``step``.
    """
    if schedule is None:
        return value
    where = f"loss {loss!r}: {name}_schedule"
    if not isinstance(schedule, Mapping):
        raise LossParameterError(
            f"{where} must be a mapping like {{'schedule': 'linear_warmup', 'warmup_steps': 1000}}, "
            f"got {schedule!r}"
        )
    kind = schedule.get("schedule")
    if not isinstance(kind, str) or kind not in SCHEDULES:
        raise LossParameterError(
            f"{where}: 'schedule' must be one of {', '.join(repr(k) for k in SCHEDULES)}, got {kind!r}"
        )
    fn, required, optional = SCHEDULES[kind]
    kwargs = {k: v for k, v in schedule.items() if k != "schedule"}
    unknown = sorted(set(kwargs) - required - optional)
    if unknown:
        raise LossParameterError(
            f"{where}: unknown parameter(s) {unknown} for schedule {kind!r}; it takes "
            f"{sorted(required | optional) or 'no parameters'}"
        )
    missing = sorted(required - set(kwargs))
    if missing:
        raise LossParameterError(f"{where}: schedule {kind!r} needs {missing}")
    if step is None:
        raise LossParameterError(
            f"{where} is set, so the loss needs the current step: call it with step=<int or 0-dim tensor>"
        )
    if isinstance(step, torch.Tensor) and step.ndim != 0:
        raise LossParameterError(
            f"{where}: step must be a number or a 0-dim tensor, got shape {tuple(step.shape)}"
        )
    try:
        factor = fn(step, **kwargs)
    except ValueError as exc:
        raise LossParameterError(f"{where}: {exc}") from None
    return value * factor
