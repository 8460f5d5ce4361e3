"""Parameter checks derived from a loss's type annotations.

Core validates every parameter a loss receives against the annotation of its
keyword parameter, in ``resolve_loss``, in config loading, in ``losses check``
and on every call of a loss that declares its inputs, so that a wrong value
fails before training starts, with a message naming the loss and parameter::

    def focal(logits, labels, *, gamma: Annotated[float, Range(ge=0)] = 2.0,
              alpha: float | Sequence[float] | None = 0.25,
              mode: Literal["binary", "softmax"] = "binary"): ...

Understood: ``bool``, ``int`` (not ``bool``), ``float`` (``int`` accepted,
NaN rejected), ``str``, ``None``, ``Literal[...]``, unions and ``Optional``,
``Sequence[T]``/``list[T]``/``tuple[T, ...]``/``tuple[A, B]`` (not a string;
every item checked), ``Mapping[K, V]``/``dict[K, V]``, ``Callable``,
``torch.Tensor`` and other classes (``isinstance``), and
``Annotated[T, Range(...)]`` for bounds. ``Any`` and annotations that cannot
be resolved accept anything.

Structured parameters (a schedule mapping, say) get a validator: a function
``validator(value) -> None`` that raises ``ValueError`` or ``TypeError`` with
a message; pass ``validators={"beta_schedule": check_schedule}`` to
:func:`losses_core.register_loss`.

This is a small checker rather than typeguard, beartype or pydantic: the
first two check a sample of a collection's items and accept a ``str`` where
``Sequence[float]`` is asked for, and pydantic costs more to import than the
rest of losses-core together.
"""

from __future__ import annotations

import collections.abc as cabc
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from losses_core._errors import capped_repr

__all__ = ["Checker", "Range", "annotation_checker", "describe_annotation"]

Checker = Callable[[Any], "str | None"]
"""``checker(value)`` returns ``None`` when ``value`` fits, else why not."""


@dataclass(frozen=True)
class Range:
    """Bounds for a number parameter: ``Annotated[float, Range(ge=0)]``.

    :param ge: value ``>= ge``; :param gt: value ``> gt``;
    :param le: value ``<= le``; :param lt: value ``< lt``.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is out of range, or ``None``."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if self.ge is not None and not value >= self.ge:
            return f"must be >= {self.ge}, got {capped_repr(value)}"
        if self.gt is not None and not value > self.gt:
            return f"must be > {self.gt}, got {capped_repr(value)}"
        if self.le is not None and not value <= self.le:
            return f"must be <= {self.le}, got {capped_repr(value)}"
        if self.lt is not None and not value < self.lt:
            return f"must be < {self.lt}, got {capped_repr(value)}"
        return None

    def __str__(self) -> str:
        parts = [
            f"{op} {bound}"
            for bound, op in ((self.ge, ">="), (self.gt, ">"), (self.le, "<="), (self.lt, "<"))
            if bound is not None
        ]
        return ", ".join(parts)


def describe_annotation(annotation: Any) -> str:
    """A readable form of ``annotation``: ``float | Sequence[float] | None``."""
    if annotation is Any or annotation is None or annotation is type(None):
        return "None" if annotation is not Any else "Any"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = describe_annotation(args[0])
        bounds = [str(a) for a in args[1:] if isinstance(a, Range)]
        return f"{inner} ({'; '.join(bounds)})" if bounds else inner
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe_annotation(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if args:
            return f"{name}[{', '.join('...' if a is Ellipsis else describe_annotation(a) for a in args)}]"
        return str(name)
    if isinstance(annotation, type):
        return annotation.__name__ if annotation.__module__ == "builtins" else annotation.__qualname__
    return str(annotation).replace("typing.", "")


def _type_name(value: Any) -> str:
    return type(value).__name__


_SHOWN = (str, int, float, bool, type(None))


def _shown(value: Any) -> str:
    """``float 0.5``: the type, and the value (its :func:`capped_repr`) when
    it is a plain scalar or a short list of them (a tensor's repr would read
    its data, which also breaks a compiled graph)."""
    if isinstance(value, _SHOWN):
        return f"{_type_name(value)} {capped_repr(value)}"
    if isinstance(value, (list, tuple)) and len(value) <= 8 and all(isinstance(v, _SHOWN) for v in value):
        return f"{_type_name(value)} {capped_repr(value)}"
    return _type_name(value)


def annotation_checker(annotation: Any) -> Checker:
    """Compile ``annotation`` into a :data:`Checker`."""
    if annotation is Any or annotation is typing.Any or isinstance(annotation, (str, typing.ForwardRef)):
        return _accept
    if annotation is None or annotation is type(None):
        return lambda v: None if v is None else f"expects None, got {_shown(v)}"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = annotation_checker(args[0])
        ranges = [a for a in args[1:] if isinstance(a, Range)]
        if not ranges:
            return inner

        def check_annotated(value: Any) -> str | None:
            problem = inner(value)
            if problem is None:
                for bound in ranges:
                    problem = bound.problem(value)
                    if problem:
                        return problem
            return problem

        return check_annotated
    if origin in (typing.Union, types.UnionType):
        return _union(annotation, [annotation_checker(a) for a in args])
    if origin is typing.Literal:
        return _literal(args)
    if origin is not None:
        return _generic(annotation, origin, args)
    if annotation is bool:
        return lambda v: None if isinstance(v, bool) else _expected("a bool", v)
    if annotation is int:
        return lambda v: None if isinstance(v, int) and not isinstance(v, bool) else _expected("an int", v)
    if annotation is float:
        return _float
    if annotation is str:
        return lambda v: None if isinstance(v, str) else _expected("a string", v)
    if isinstance(annotation, type):
        label = describe_annotation(annotation)
        return lambda v: None if isinstance(v, annotation) else _expected(label, v)
    return _accept


def _accept(value: Any) -> None:
    return None


def _expected(label: str, value: Any) -> str:
    return f"expects {label}, got {_shown(value)}"


def _float(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _expected("a number", value)
    if isinstance(value, float) and math.isnan(value):
        return "expects a number, got nan"
    return None


def _union(annotation: Any, checkers: list[Checker]) -> Checker:
    label = describe_annotation(annotation)

    def check(value: Any) -> str | None:
        problems = []
        for checker in checkers:
            problem = checker(value)
            if problem is None:
                return None
            problems.append(problem)
        # an alternative whose type fits but whose bounds or choices do not
        # says more than the union's label ("must be > 0, got -1.0")
        for problem in problems:
            if problem.startswith("must be"):
                return problem
        return _expected(label, value)

    return check


def _literal(choices: tuple[Any, ...]) -> Checker:
    text = ", ".join(repr(c) for c in choices)

    def check(value: Any) -> str | None:
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return None
        return f"must be one of {text}, got {_shown(value)}"

    return check


def _generic(annotation: Any, origin: Any, args: tuple[Any, ...]) -> Checker:
    label = describe_annotation(annotation)
    if origin in (list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return _fixed_tuple(label, [annotation_checker(a) for a in args])
        item = annotation_checker(args[0]) if args else _accept
        kind: Any = cabc.Set if origin in (set, frozenset, cabc.Set) else cabc.Sequence

        def check_sequence(value: Any) -> str | None:
            if isinstance(value, (str, bytes)) or not isinstance(value, kind):
                return _expected(label, value)
            for index, element in enumerate(value):
                problem = item(element)
                if problem:
                    return f"item {index}: {problem}"
            return None

        return check_sequence
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        key_check = annotation_checker(args[0]) if args else _accept
        value_check = annotation_checker(args[1]) if len(args) > 1 else _accept

        def check_mapping(value: Any) -> str | None:
            if not isinstance(value, cabc.Mapping):
                return _expected(label, value)
            for k, v in value.items():
                problem = key_check(k) or value_check(v)
                if problem:
                    return f"entry {capped_repr(k)}: {problem}"
            return None

        return check_mapping
    if origin is cabc.Callable:
        return lambda v: None if callable(v) else _expected("a callable", v)
    if isinstance(origin, type):
        return lambda v: None if isinstance(v, origin) else _expected(label, v)
    return _accept


def _fixed_tuple(label: str, checkers: list[Checker]) -> Checker:
    def check(value: Any) -> str | None:
        if isinstance(value, (str, bytes)) or not isinstance(value, cabc.Sequence):
            return _expected(label, value)
        if len(value) != len(checkers):
            return f"expects {label} ({len(checkers)} items), got {len(value)} items"
        for index, (checker, element) in enumerate(zip(checkers, value, strict=True)):
            problem = checker(element)
            if problem:
                return f"item {index}: {problem}"
        return None

    return check
