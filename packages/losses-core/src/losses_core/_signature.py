"""Inspection of loss signatures at registration time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from losses_core._errors import LossRegistrationError

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class LossSignature(NamedTuple):
    """The keyword parameters a loss accepts after its two inputs.

    ``parameters`` maps each named keyword parameter to its
    :class:`inspect.Parameter`; ``var_keyword`` says whether the loss also
    takes ``**kwargs``; ``known`` is false when the signature could not be
    read (some C callables), in which case nothing can be checked.
    """

    parameters: Mapping[str, inspect.Parameter]
    var_keyword: bool
    known: bool = True

    @property
    def checks_names(self) -> bool:
        """Whether unknown parameter names can be detected.

        A loss with named parameters rejects any other name, even when it also
        takes ``**kwargs`` (seed-style losses swallow typos there). A loss whose
        only parameters are ``**kwargs`` reads them itself, so any name passes.
        """
        return self.known and (bool(self.parameters) or not self.var_keyword)

    def required(self) -> list[str]:
        """Names of keyword parameters without a default."""
        return [n for n, p in self.parameters.items() if p.default is inspect.Parameter.empty]


def inspect_loss_signature(name: str, fn: Callable[..., Any]) -> LossSignature:
    """Check that ``fn`` can be called as ``fn(model_output, targets, **params)``.

    :raises LossRegistrationError: ``fn`` is not callable, cannot take two
        positional inputs, or has further parameters that cannot be passed by
        keyword.
    """
    if not callable(fn):
        raise LossRegistrationError(
            f"cannot register loss {name!r}: expected a function or callable instance, "
            f"got {type(fn).__name__}"
        )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return LossSignature(parameters={}, var_keyword=True, known=False)
    params = list(sig.parameters.values())
    positional = 0
    index = 0
    while index < len(params) and positional < 2:
        kind = params[index].kind
        if kind in _POSITIONAL:
            positional += 1
            index += 1
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            positional = 2
            index += 1
        else:
            break
    if positional < 2:
        raise LossRegistrationError(
            f"cannot register loss {name!r}: {_describe(fn)} must accept two positional "
            f"inputs (model_output, targets) followed by keyword parameters; its signature "
            f"is {sig}"
        )
    keyword: dict[str, inspect.Parameter] = {}
    var_keyword = False
    for param in params[index:]:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif param.kind in _KEYWORD:
            keyword[param.name] = param
        elif param.default is inspect.Parameter.empty:
            raise LossRegistrationError(
                f"cannot register loss {name!r}: parameter {param.name!r} of {_describe(fn)} "
                f"is positional-only and has no default, so it cannot come from config; "
                f"its signature is {sig}"
            )
    return LossSignature(parameters=keyword, var_keyword=var_keyword)


def _describe(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{qualname}"
