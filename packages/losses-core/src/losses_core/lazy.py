"""Lazy package ``__init__`` files for plugins (PEP 562).

losses-core imports the module of one loss when that loss is looked up, so a
plugin package's ``__init__.py`` must not import its loss modules. It still
exports them, importing each on first access::

    from typing import TYPE_CHECKING

    from losses_core.lazy import export_lazily

    if TYPE_CHECKING:  # what type checkers and IDEs see
        from losses_foo.foo_huber import foo_huber

    __all__ = ["foo_huber"]
    export_lazily(__name__, {"foo_huber": "foo_huber"})

``losses_foo.foo_huber`` is then the function, imported from the submodule
``losses_foo.foo_huber`` on first access, and stays the function after the
submodule is imported (the import system sets the package attribute of a
submodule's name to the submodule; the package puts the export back).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["export_lazily"]

_EXPORTS = "__lazy_exports__"
_SUBMODULES = "__lazy_submodules__"


class LazyPackage(types.ModuleType):
    """A package whose exports are imported on first access."""

    def __getattr__(self, name: str) -> Any:
        exports: Mapping[str, str] = self.__dict__.get(_EXPORTS, {})
        if name in self.__dict__.get(_SUBMODULES, ()):
            value: Any = importlib.import_module(f"{self.__name__}.{name}")
        elif name in exports:
            value = getattr(importlib.import_module(f"{self.__name__}.{exports[name]}"), name)
        else:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def __dir__(self) -> list[str]:
        return list(self.__dict__.get("__all__", ()))

    def __setattr__(self, name: str, value: Any) -> None:
        exports: Mapping[str, str] = self.__dict__.get(_EXPORTS, {})
        if isinstance(value, types.ModuleType) and exports.get(name) == name:
            value = getattr(value, name)  # a submodule named like its export: keep the export
        super().__setattr__(name, value)


def export_lazily(module: str, exports: Mapping[str, str], submodules: Iterable[str] = ()) -> None:
    """Make the package ``module`` (pass ``__name__``) export lazily.

    :param exports: ``{name: submodule}``: ``package.name`` is the attribute
        ``name`` of ``package.submodule``, imported on first access.
    :param submodules: names that are submodules themselves (``package.metrics``).
    """
    package = sys.modules[module]
    package.__dict__[_EXPORTS] = dict(exports)
    package.__dict__[_SUBMODULES] = frozenset(submodules)
    package.__class__ = LazyPackage
