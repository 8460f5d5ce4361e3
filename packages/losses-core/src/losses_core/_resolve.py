"""``resolve_loss``: from a name, callable or dotted path to a callable that
always returns a :class:`LossReturn`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from losses_core._call import bad_parameters, call_with_hooks
from losses_core._errors import LossParameterError, UnknownLossError
from losses_core._names import RUNTIME_PROVIDER
from losses_core._registry import LossEntry
from losses_core._runtime import REGISTRY, lookup
from losses_core._types import LossReturn


def import_object(spec: str) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted)."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise UnknownLossError(f"invalid dotted path {spec!r}: expected 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownLossError(f"cannot import module {module_name!r} for loss {spec!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownLossError(
                f"module {module_name!r} has no attribute {attr_path!r} (loss {spec!r})"
            ) from None
    return obj


def entry_for_spec(spec: str | Callable[..., Any]) -> LossEntry:
    """The registry entry for a name, or an unregistered entry for a callable
    or a ``"module:attr"`` path."""
    if isinstance(spec, str):
        if ":" in spec:
            fn = import_object(spec)
            return REGISTRY.create_entry(spec.replace(":", "."), fn, provider=RUNTIME_PROVIDER, version=None)
        return lookup(spec)
    if callable(spec):
        name = getattr(spec, "__name__", None) or type(spec).__name__
        return REGISTRY.create_entry(name, spec, provider=RUNTIME_PROVIDER, version=None)
    raise UnknownLossError(
        f"cannot resolve a loss from {type(spec).__name__} {spec!r}: expected a registered name, "
        f"a 'package.module:attr' path or a callable"
    )


def check_parameters(entry: LossEntry, params: Mapping[str, Any], *, strict: bool = True) -> None:
    """Check parameter names (when ``strict``) and simple types against the loss.

    A loss with named keyword parameters rejects names it does not declare,
    even if it also takes ``**kwargs``; a loss whose only parameters are
    ``**kwargs`` accepts any name. Values are checked against the type of the
    parameter's default when that is a bool, int, float or str.

    :raises LossParameterError: listing every problem found.
    """
    problems = parameter_problems(entry, params, strict=strict)
    if problems:
        raise LossParameterError("; ".join(problems))


def parameter_problems(entry: LossEntry, params: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """Every problem :func:`check_parameters` would report, as messages."""
    problems: list[str] = []
    signature = entry.signature
    if strict and signature.checks_names:
        unknown = [p for p in params if p not in signature.parameters]
        if unknown:
            try:
                bad_parameters(entry.name, signature, unknown)
            except LossParameterError as exc:
                problems.append(str(exc))
    for pname, value in params.items():
        param = signature.parameters.get(pname)
        if param is None:
            continue
        problem = type_mismatch(param.default, value)
        if problem:
            problems.append(f"loss {entry.name!r}: parameter {pname!r} {problem}")
    return problems


def type_mismatch(default: Any, value: Any) -> str | None:
    """Why ``value`` cannot stand in for a parameter whose default is ``default``."""
    if default is None or value is None:
        return None
    expected: tuple[type, ...]
    if isinstance(default, bool):
        expected, label = (bool,), "a bool"
    elif isinstance(default, int):
        expected, label = (int,), "an int"
    elif isinstance(default, float):
        expected, label = (int, float), "a number"
    elif isinstance(default, str):
        expected, label = (str,), "a string"
    else:
        return None
    if isinstance(value, bool) and bool not in expected:
        return f"expects {label} (default {default!r}), got bool {value!r}"
    if not isinstance(value, expected):
        return f"expects {label} (default {default!r}), got {type(value).__name__} {value!r}"
    return None


class ResolvedLoss:
    """A loss with default parameters bound; calls return a :class:`LossReturn`.

    ``resolved(model_output, targets, **overrides)`` merges ``overrides`` over
    the bound defaults, runs the hooks and the loss, and returns
    ``{"loss", "metrics", "auxiliary"}`` whatever the loss returned.
    Instances pickle (by name for registered losses, by reference for
    callables) and so work in spawned DataLoader workers and DDP.
    """

    __slots__ = ("_entry", "_spec", "defaults")

    def __init__(self, spec: str | Callable[..., Any], entry: LossEntry, defaults: dict[str, Any]) -> None:
        self._spec = spec
        self._entry = entry
        self.defaults = defaults

    @property
    def name(self) -> str:
        return self._entry.name

    @property
    def provider(self) -> str:
        return self._entry.provider

    @property
    def function(self) -> Callable[..., Any]:
        return self._entry.function

    @property
    def entry(self) -> LossEntry:
        return self._entry

    def __call__(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **overrides: Any
    ) -> LossReturn:
        params = {**self.defaults, **overrides} if overrides else dict(self.defaults)
        entry = self._entry
        result, _ = call_with_hooks(
            entry.name, entry.provider, entry.function, entry.signature, model_output, targets, params
        )
        return result

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"ResolvedLoss({self._entry.qualified_name}{', ' if params else ''}{params})"

    def __reduce__(self) -> tuple[Any, ...]:
        spec = self._spec if isinstance(self._spec, str) else self._entry.function
        return (_rebuild, (spec, self.defaults))


def _rebuild(spec: str | Callable[..., Any], defaults: dict[str, Any]) -> ResolvedLoss:
    return resolve_loss(spec, **defaults)


def resolve_loss(spec: str | Callable[..., Any], /, **defaults: Any) -> ResolvedLoss:
    """Resolve ``spec`` to a callable loss with ``defaults`` bound.

    :param spec: a registered name or alias (``"token_ce"``), a qualified
        name (``"focal@losses-foo"``), a dotted path
        (``"my_package.losses:custom_loss"``, imported now), or a callable.
    :param defaults: keyword parameters bound now; per-call keyword arguments
        override them. Names are checked against the loss's named parameters
        (see :func:`check_parameters`).
    :returns: a :class:`ResolvedLoss` whose calls return
        ``{"loss": tensor, "metrics": {...}, "auxiliary": {...}}``.
    :raises UnknownLossError: unknown name or unimportable path.
    :raises LossParameterError: a default the loss does not accept.
    """
    entry = entry_for_spec(spec)
    check_parameters(entry, defaults)
    return ResolvedLoss(spec, entry, dict(defaults))
