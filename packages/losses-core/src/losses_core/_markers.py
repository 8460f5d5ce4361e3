"""The hook markers of the ``losses`` project, and the scan that finds a
plugin's hook implementations without importing pluggy.

``hookimpl`` writes exactly the attribute pluggy's own ``HookimplMarker``
writes, so pluggy treats marked functions as its own; defining it here keeps
pluggy out of ``import losses_core`` and out of the first lookup until some
plugin actually implements a pre- or post-loss hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, TypeVar, overload

PROJECT_NAME = "losses"
"""The pluggy project name."""

ENTRY_POINT_GROUP = "losses.plugins"
"""The entry-point group that installed distributions use to provide plugins."""

IMPL_ATTRIBUTE = f"{PROJECT_NAME}_impl"

F = TypeVar("F", bound=Callable[..., Any])


class HookimplMarker:
    """Marks hook implementations; compatible with ``pluggy.HookimplMarker("losses")``.

    Use as ``@hookimpl`` or with pluggy's options:
    ``@hookimpl(tryfirst=True)``, ``trylast``, ``wrapper``, ``hookwrapper``,
    ``optionalhook``, ``specname``.
    """

    @overload
    def __call__(self, function: F) -> F: ...

    @overload
    def __call__(
        self,
        function: None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> Callable[[F], F]: ...

    def __call__(
        self,
        function: F | None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> F | Callable[[F], F]:
        options = {
            "wrapper": wrapper,
            "hookwrapper": hookwrapper,
            "optionalhook": optionalhook,
            "tryfirst": tryfirst,
            "trylast": trylast,
            "specname": specname,
        }

        def mark(func: F) -> F:
            setattr(func, IMPL_ATTRIBUTE, options)
            return func

        return mark if function is None else mark(function)


hookimpl = HookimplMarker()
"""Marker for hook implementations: decorate functions of a plugin module or
methods of a plugin object with ``@hookimpl``."""


def hook_implementations(plugin: object) -> dict[str, list[Callable[..., Any]]]:
    """The hook implementations of ``plugin``, by hook name, as pluggy finds them."""
    found: dict[str, list[Callable[..., Any]]] = {}
    if isinstance(plugin, ModuleType):
        items: Iterable[tuple[str, Any]] = list(vars(plugin).items())
    else:
        items = _attributes(plugin)
    for attribute, value in items:
        if not inspect.isroutine(value):
            continue
        options = getattr(value, IMPL_ATTRIBUTE, None)
        if isinstance(options, dict):
            found.setdefault(options.get("specname") or attribute, []).append(value)
    return found


def _attributes(plugin: object) -> Iterator[tuple[str, Any]]:
    for attribute in dir(plugin):
        try:
            yield attribute, getattr(plugin, attribute)
        except Exception:
            continue
