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

A spec is checked before training starts (``resolve_loss``, config loading,
``losses check``, and every call) by :func:`check_schedule`: an unknown
schedule or key (``warmup_step`` for ``warmup_steps`` is reported with a
suggestion), a missing key and a value of the wrong type or range are errors
naming the loss and the parameter.

``step`` may be a Python number (>= 0) or a 0-dim tensor. Under
``torch.compile`` pass a tensor (``torch.tensor(global_step)``): the schedule
is then computed with tensor ops and a new step does not recompile (a Python
int is a constant to the compiler, so every new value recompiles). A tensor
step's value is not validated (that would synchronise with the device).

Spec names: ``"constant"`` (factor 1), ``"linear_warmup"`` (alias
``"linear"``) with :func:`linear_warmup`'s parameters, and ``"cyclical"`` with
:func:`cyclical_annealing`'s parameters. Burgess et al.'s capacity schedule
``linear_capacity(step, c_max, T)`` is ``capacity: c_max`` with
``capacity_schedule: {schedule: linear_warmup, warmup_steps: T}``.
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

import torch

from losses_core import LossParameterError
from losses_core.params import Checker, Range, annotation_checker

__all__ = [
    "SCHEDULES",
    "Step",
    "check_schedule",
    "constant",
    "cyclical_annealing",
    "linear_capacity",
    "linear_warmup",
    "scheduled_value",
]


Step = Union[int, float, torch.Tensor]  # noqa: UP007
"""A training step: a Python number >= 0, or a 0-dim tensor (see the module docstring)."""


def _check_step(step: Step) -> None:
    if isinstance(step, torch.Tensor):
        return  # checking a tensor's value would synchronise with the device
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not step >= 0:
        raise ValueError(f"step must be a number >= 0 or a 0-dim tensor, got {step!r}")


def constant(step: Step) -> float:
    """Always 1.0 (the unscheduled factor)."""
    _check_step(step)
    return 1.0


def linear_warmup(
    step: Step,
    warmup_steps: Annotated[float, Range(ge=0)],
    start: float = 0.0,
    stop: float = 1.0,
) -> Any:
    r"""Linear warm-up: :math:`\mathrm{start} + (\mathrm{stop}-\mathrm{start})
    \min(1, t / T)`, then ``stop`` for ``t >= T``; ``warmup_steps=0`` gives ``stop``
    from the start. With the defaults this is the KL warm-up :math:`\beta_t = \min(1, t/T)`
    (Bowman et al. 2016; Sønderby et al. 2016). A float, or a 0-dim tensor for a
    tensor ``step``."""
    _check_step(step)
    _check_arguments("linear_warmup", {"warmup_steps": warmup_steps, "start": start, "stop": stop})
    if warmup_steps == 0:
        return float(stop)
    if isinstance(step, torch.Tensor):
        return start + (stop - start) * torch.clamp(step / warmup_steps, max=1.0)
    return float(start + (stop - start) * min(1.0, step / warmup_steps))


def cyclical_annealing(
    step: Step,
    total_steps: Annotated[int, Range(ge=1)],
    n_cycles: Annotated[int, Range(ge=1)] = 4,
    ratio: Annotated[float, Range(gt=0, le=1)] = 0.5,
    start: float = 0.0,
    stop: float = 1.0,
) -> Any:
    r"""Cyclical annealing of Fu et al. 2019 ("Cyclical annealing schedule: a
    simple approach to mitigating KL vanishing", NAACL), as their published
    ``frange_cycle_linear(n_iter, start, stop, n_cycle, ratio)`` computes it.

    With :math:`T` = ``total_steps``, :math:`M` = ``n_cycles``, :math:`R` =
    ``ratio`` and the (possibly fractional) period :math:`P = T/M`, cycle
    :math:`c = 0, \dots, M-1` starts at step :math:`s_c = \lfloor c\,T/M \rfloor`.
    At step :math:`t < T`, in the last cycle that has started
    (:math:`c = \max\{c : s_c \le t\}`) and at offset :math:`i = t - s_c`:

    .. math::
        \beta_t = \mathrm{start} + (\mathrm{stop}-\mathrm{start})\,
        \min\Big(1, \frac{i}{P R}\Big) = \mathrm{start} + (\mathrm{stop}-\mathrm{start})\,
        \min\Big(1, \frac{i\,M}{R\,T}\Big)

    i.e. a linear ramp from ``start`` over the first :math:`P R` steps of each
    cycle, then ``stop`` for the rest of the cycle; from ``t >= T`` on the
    value stays ``stop`` (annealing finished; the reference's array ends at
    :math:`T`). A fractional ``step`` is placed by :math:`\lfloor t\rfloor`
    and interpolated on the ramp.

    Why this convention: when :math:`T` is not a multiple of :math:`M` the
    paper's equation, :math:`\tau = \mathrm{mod}(t-1, \lceil T/M\rceil)/(T/M)`,
    and the authors' code disagree. The equation repeats cycles of
    :math:`\lceil T/M\rceil` steps, so the last cycle is cut short (for
    :math:`T=10, M=3`: cycles of 4, 4 and 2 steps); the code keeps exactly
    :math:`M` cycles whose integer starts :math:`\lfloor cT/M\rfloor` spread the
    remainder (3, 3 and 4 steps) and measures the ramp in steps from each
    start. We follow the code, which is what users port and compare against;
    for :math:`T` a multiple of :math:`M` the two agree. The starts are
    computed in exact integer arithmetic: the code's ``int(i + c * period)``
    with a floating-point ``period`` lands one step early when :math:`cT/M` is
    a whole number that the float product rounds down (e.g. :math:`T=30,
    M=22, c=11`: step 14 instead of 15), an artefact not reproduced here.
    The hold value is ``stop`` (the code fills its array with ``np.ones``,
    which is ``stop`` for the default ``stop=1``).

    ``start <= stop`` is required: the code's ramp loop does not run for
    ``start > stop`` (it returns a constant), so a decreasing cycle has no
    reference to follow. A float, or a 0-dim tensor for a tensor ``step``.
    """
    _check_step(step)
    _check_arguments(
        "cyclical",
        {"total_steps": total_steps, "n_cycles": n_cycles, "ratio": ratio, "start": start, "stop": stop},
    )
    if start > stop:
        raise ValueError(f"start ({start!r}) must be <= stop ({stop!r}): cyclical annealing ramps up")
    ramp_steps = ratio * total_steps  # i / (P R) = i * M / (R T)
    if isinstance(step, torch.Tensor):
        whole = (torch.floor(step) if step.is_floating_point() else step).to(torch.int64)
        cycles = torch.div((whole + 1) * n_cycles - 1, total_steps, rounding_mode="floor")
        starts = torch.div(cycles.clamp(max=n_cycles - 1) * total_steps, n_cycles, rounding_mode="floor")
        dtype = step.dtype if step.is_floating_point() else torch.get_default_dtype()
        offsets = step.to(dtype) - starts.to(dtype)
        value = start + (stop - start) * torch.clamp(offsets * n_cycles / ramp_steps, max=1.0)
        return torch.where(step >= total_steps, torch.full_like(value, stop), value)
    if step >= total_steps:
        return float(stop)
    cycle = min(n_cycles - 1, ((math.floor(step) + 1) * n_cycles - 1) // total_steps)
    offset = float(step) - (cycle * total_steps) // n_cycles
    return float(start + (stop - start) * min(1.0, offset * n_cycles / ramp_steps))


def linear_capacity(step: Step, c_max: float, iteration_threshold: float) -> Any:
    r"""The capacity :math:`C(t) = \min(C_{max}, C_{max}\, t / T)` of Burgess et al.
    2018 (disentanglement_lib's ``anneal(c_max, step, iteration_threshold)``);
    ``iteration_threshold=0`` gives ``c_max``."""
    return c_max * linear_warmup(step, iteration_threshold)


SCHEDULES: Mapping[str, Callable[..., Any]] = {
    "constant": constant,
    "linear_warmup": linear_warmup,
    "linear": linear_warmup,
    "cyclical": cyclical_annealing,
}
"""Spec name -> factor function; a spec's other keys are the function's
parameters after ``step`` (checked against its annotations)."""


def _parameter_specs(fn: Callable[..., Any]) -> dict[str, tuple[Checker, bool]]:
    """``{parameter: (checker, required)}`` of a schedule function, after ``step``."""
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]
    return {p.name: (annotation_checker(hints[p.name]), p.default is inspect.Parameter.empty) for p in params}


_SPECS_CACHE: dict[str, dict[str, tuple[Checker, bool]]] = {}


def _specs(schedule: str) -> dict[str, tuple[Checker, bool]]:
    """A schedule's parameter specs, read from its annotations on first use
    (resolving them costs ~1 ms, which importing a loss should not pay)."""
    specs = _SPECS_CACHE.get(schedule)
    if specs is None:
        specs = _SPECS_CACHE[schedule] = _parameter_specs(SCHEDULES[schedule])
    return specs


def _check_arguments(schedule: str, arguments: Mapping[str, Any]) -> None:
    """Raise ``TypeError``/``ValueError`` for an argument that does not fit its annotation."""
    specs = _specs(schedule)
    for key, value in arguments.items():
        problem = specs[key][0](value)
        if problem is not None:
            error = TypeError if problem.startswith("expects") else ValueError
            raise error(f"{key!r} {problem}")


def _describe(schedule: str) -> str:
    specs = _specs(schedule)
    if not specs:
        return "no other keys"
    return ", ".join(f"{key}{' (required)' if required else ''}" for key, (_, required) in specs.items())


def check_schedule(spec: Any) -> None:
    """Validate a schedule spec (``None`` means no schedule).

    The validator of every ``*_schedule`` parameter of the losses-vae losses:
    a mapping ``{"schedule": <name>, **parameters}`` naming one of
    :data:`SCHEDULES`, with the function's required parameters, no unknown
    key (a close match is suggested) and values of the annotated types and
    ranges.

    :raises TypeError: not a mapping, or a value of the wrong type.
    :raises ValueError: an unknown schedule or key, a missing key, or a value
        out of range.
    """
    if spec is None:
        return
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"expects a mapping like {{'schedule': 'linear_warmup', 'warmup_steps': 1000}}, "
            f"got {type(spec).__name__} {spec!r}"
        )
    names = ", ".join(repr(name) for name in SCHEDULES)
    if "schedule" not in spec:
        raise ValueError(f"needs a 'schedule' key naming one of {names}; got keys {sorted(map(str, spec))}")
    kind = spec["schedule"]
    if not isinstance(kind, str) or kind not in SCHEDULES:
        close = difflib.get_close_matches(str(kind), list(SCHEDULES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown schedule {kind!r}{hint}; the schedules are {names}")
    specs = _specs(kind)
    arguments = {key: value for key, value in spec.items() if key != "schedule"}
    unknown = [key for key in arguments if key not in specs]
    if unknown:
        parts = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), list(specs), n=1)
            parts.append(repr(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"unknown key(s) {', '.join(parts)} for schedule {kind!r}, which takes {_describe(kind)}"
        )
    missing = [key for key, (_, required) in specs.items() if required and key not in arguments]
    if missing:
        raise ValueError(
            f"schedule {kind!r} needs {', '.join(map(repr, missing))}; it takes {_describe(kind)}"
        )
    _check_arguments(kind, arguments)
    SCHEDULES[kind](0, **arguments)  # the function's own cross-parameter checks


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
    :param schedule: ``None`` (``value`` is used as is) or a spec
        ``{"schedule": <name>, **parameters}`` (see :func:`check_schedule`).
    :param step: the current training step (a number or a 0-dim tensor);
        required when ``schedule`` is set.
    :param loss: the loss's name, for error messages.
    :param name: the coefficient's name; the spec is parameter ``<name>_schedule``.
    :returns: a float, or a 0-dim tensor when ``step`` is a tensor.
    :raises LossParameterError: an invalid spec, a schedule without ``step``,
        or a step that is not a number >= 0 or a 0-dim tensor.
    """
    if schedule is None:
        return value
    parameter = f"{name}_schedule"
    try:
        check_schedule(schedule)
    except (TypeError, ValueError) as exc:
        raise LossParameterError(f"loss {loss!r}: parameter {parameter!r} is invalid: {exc}") from None
    if step is None:
        raise LossParameterError(
            f"loss {loss!r}: parameter {parameter!r} is set, so the loss needs the current step: "
            f"call it with step=<int or 0-dim tensor>"
        )
    if isinstance(step, torch.Tensor) and step.ndim != 0:
        raise LossParameterError(
            f"loss {loss!r}: parameter 'step' must be a number or a 0-dim tensor, "
            f"got shape {tuple(step.shape)}"
        )
    kwargs = {key: v for key, v in schedule.items() if key != "schedule"}
    try:
        factor = SCHEDULES[schedule["schedule"]](step, **kwargs)
    except ValueError as exc:
        raise LossParameterError(f"loss {loss!r}: parameter 'step' is invalid: {exc}") from None
    return value * factor
