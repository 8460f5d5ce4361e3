"""The callable that ``LOSSES[name]`` returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from losses_core._call import call_with_hooks, raise_if_bad_parameters
from losses_core._errors import UnknownLossError
from losses_core._manager import HOOKS
from losses_core._registry import LossEntry
from losses_core._result import check_result
from losses_core._types import LossOutput


class RegisteredLoss:
    """A registered loss, callable exactly like the function it wraps.

    ``handle(model_output, targets, **params)`` returns what the loss
    returns. The result is validated (a 0-dim floating tensor or a valid
    ``LossReturn`` mapping). When pre- or post-loss hooks are registered they
    run around the call; a loss that returns a bare tensor still returns a
    bare tensor (the hooks' view is the normalised dict), one that returns a
    mapping returns the normalised mapping. Handles pickle by qualified name.
    """

    __slots__ = ("_entry", "_fn", "_name")

    def __init__(self, entry: LossEntry) -> None:
        self._entry = entry
        self._fn = entry.function
        self._name = entry.name

    def __call__(self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any) -> LossOutput:
        if HOOKS.active:
            entry = self._entry
            result, bare = call_with_hooks(
                self._name, entry.provider, self._fn, entry.signature, model_output, targets, params
            )
            return result["loss"] if bare else result
        try:
            out = self._fn(model_output, targets, **params)
        except TypeError as exc:
            raise_if_bad_parameters(self._name, self._entry.signature, exc, params)
            raise
        check_result(self._name, out)
        return out  # type: ignore[no-any-return]

    # -- introspection -----------------------------------------------------
    @property
    def entry(self) -> LossEntry:
        """The registry entry: name, provider, version, aliases, signature."""
        return self._entry

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return self._entry.provider

    @property
    def version(self) -> str | None:
        return self._entry.version

    @property
    def qualified_name(self) -> str:
        return self._entry.qualified_name

    @property
    def function(self) -> Callable[..., Any]:
        """The registered function or callable instance itself."""
        return self._fn

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self._fn

    @property
    def doc(self) -> str | None:
        """The loss's docstring (its formula and reduction convention)."""
        return inspect.getdoc(self._fn)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._fn)

    def __repr__(self) -> str:
        return f"<loss {self._entry.qualified_name}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_handle, (self._entry.qualified_name, self._fn))


def _rebuild_handle(qualified_name: str, fn: Callable[..., Any]) -> RegisteredLoss:
    from losses_core._mapping import LOSSES
    from losses_core._runtime import REGISTRY

    try:
        return LOSSES[qualified_name]
    except UnknownLossError:
        name, _, provider = qualified_name.rpartition("@")
        entry = REGISTRY.create_entry(name, fn, provider=provider, version=None)
        return RegisteredLoss(entry)
