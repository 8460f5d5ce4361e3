"""The callable that ``LOSSES[name]`` returns.

A handle is a plain function (a closure), not an instance of a class with
``__call__``: Python calls functions through a fast path, and the registry
call has to cost at most a few percent more than calling the loss directly.
Handles pickle by reference, as ``losses_core._handle.<qualified name>``; this
module's ``__getattr__`` looks the name up again in the unpickling process.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from losses_core._call import call_with_hooks, raise_if_bad_parameters
from losses_core._hookstate import HOOKS
from losses_core._registry import LossEntry
from losses_core._result import check_result
from losses_core._types import LossOutput

_Tensor = torch.Tensor
_DOT = "\u00b7"  # stands for "." in a handle's __qualname__, which pickle splits on "."


class RegisteredLoss(Protocol):
    """What ``LOSSES[name]`` returns: a function that calls the loss.

    ``handle(model_output, targets, **params)`` returns what the loss
    returns. The result is validated (a 0-dim floating tensor or a valid
    ``LossReturn`` mapping); on the plain hot path (no keyword parameters, a
    tensor result) the first result is checked in full and later ones only
    for being tensors. When pre- or post-loss hooks are registered they
    run around the call; a loss that returns a bare tensor still returns a
    bare tensor (the hooks see the normalised dict), one that returns a
    mapping returns the normalised mapping.

    Attributes: ``entry`` (the registry entry: name, provider, version,
    aliases, signature), ``name``, ``provider``, ``version``,
    ``qualified_name``, ``function`` (the registered callable itself).
    """

    entry: LossEntry
    name: str
    provider: str
    version: str | None
    qualified_name: str
    function: Callable[..., Any]

    def __call__(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any
    ) -> LossOutput: ...


def make_handle(entry: LossEntry) -> RegisteredLoss:
    """Build the handle of ``entry``."""
    fn = entry.function
    name = entry.name
    provider = entry.provider
    signature = entry.signature

    plain_checked = False  # a plain call's tensor result has passed the full check

    def handle(model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any) -> LossOutput:
        nonlocal plain_checked
        if params or HOOKS.active:
            return slow_call(model_output, targets, params)
        # Plain call (no parameters, no hooks): the hot path. An empty
        # **params is not forwarded (that takes a slower call path), and once
        # a tensor result has passed the full check, later tensor results are
        # only checked to be tensors (their shape and dtype follow from the
        # same code and parameters; torch's backward rejects a non-scalar).
        try:
            out = fn(model_output, targets)
        except TypeError as exc:
            raise_if_bad_parameters(name, signature, exc, params)
            raise
        if type(out) is _Tensor and plain_checked:
            return out
        check_result(name, out)
        if type(out) is _Tensor:
            plain_checked = True
        return out  # type: ignore[no-any-return]

    def slow_call(
        model_output: Mapping[str, Any], targets: Mapping[str, Any], params: dict[str, Any]
    ) -> LossOutput:
        """Calls with parameters or hooks: every result checked in full."""
        if HOOKS.active:
            result, bare = call_with_hooks(name, provider, fn, signature, model_output, targets, params)
            return result["loss"] if bare else result
        try:
            out = fn(model_output, targets, **params)
        except TypeError as exc:
            raise_if_bad_parameters(name, signature, exc, params)
            raise
        check_result(name, out)
        return out  # type: ignore[no-any-return]

    handle.__name__ = name
    handle.__qualname__ = entry.qualified_name.replace(".", _DOT)
    handle.__module__ = __name__
    handle.__doc__ = inspect.getdoc(fn)
    attributes = handle.__dict__
    attributes["__wrapped__"] = fn
    attributes["entry"] = entry
    attributes["name"] = name
    attributes["provider"] = provider
    attributes["version"] = entry.version
    attributes["qualified_name"] = entry.qualified_name
    attributes["function"] = fn
    return handle  # type: ignore[return-value]


def __getattr__(attribute: str) -> Any:
    """Unpickle a handle: ``losses_core._handle.<name@provider>``."""
    if "@" not in attribute:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    from losses_core._mapping import LOSSES

    return LOSSES[attribute.replace(_DOT, ".")]
