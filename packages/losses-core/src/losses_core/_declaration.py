"""Losses that declare their inputs: the protocol function built around a
function of tensors."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from losses_core._errors import LossRegistrationError
from losses_core._signature import (
    LossSignature,
    Validator,
    describe_callable,
    inferred_annotation,
    keyword_signature,
    resolve_annotation,
)
from losses_core.inputs import Fetcher, Input, fetch_inputs

KEYS_PARAMETER = "keys"
"""The parameter through which callers map their keys onto declared inputs."""

DECLARATION_ATTRIBUTE = "__loss_declaration__"


class Declaration:
    """What a loss declares next to its function: inputs, parameters and the
    function of tensors (``compute``) that the protocol function calls."""

    __slots__ = ("compute", "fetch", "inputs", "name", "protocol", "signature")

    def __init__(
        self,
        name: str,
        inputs: tuple[Input, ...],
        compute: Callable[..., Any],
        signature: LossSignature,
        fetch: Fetcher,
    ) -> None:
        self.name = name
        self.inputs = inputs
        self.compute = compute
        self.signature = signature
        self.fetch = fetch
        """``fetch(model_output, targets, keys)``: the inputs, checked, in order."""
        self.protocol: Callable[..., Any] | None = None
        """The protocol function built around ``compute``."""

    def __repr__(self) -> str:
        return f"Declaration({self.name!r}, inputs={[i.name for i in self.inputs]})"


def own_code(code: types.CodeType, name: str) -> types.CodeType:
    """A copy of ``code`` named ``name``: every loss built from the same
    closure gets a code object of its own, so that ``torch.compile`` keeps a
    cache (and a recompile limit) per loss instead of one shared by all."""
    return code.replace(co_name=name)


def declaration_of(fn: object) -> Declaration | None:
    """The :class:`Declaration` of a loss built by :func:`declare`, else ``None``."""
    found = getattr(fn, DECLARATION_ATTRIBUTE, None)
    # a functools.wraps decorator copies the attribute onto its wrapper, which
    # is a loss of its own (it may change the result or the parameters)
    if isinstance(found, Declaration) and found.protocol is fn:
        return found
    return None


def declare(
    name: str,
    compute: Callable[..., Any],
    inputs: Sequence[Input],
    validators: Mapping[str, Validator] | None = None,
) -> Callable[..., Any]:
    """Build the protocol function ``loss(model_output, targets, /, **params)``
    of a function of tensors.

    ``compute``'s leading positional parameters receive the inputs, in the
    order and with the names of ``inputs``; its keyword-only parameters are
    the loss's parameters. The protocol function fetches and checks the
    inputs (mapping the caller's ``keys``), checks the parameters against
    their annotations and validators, and returns what ``compute`` returns.
    """
    inputs = tuple(inputs)
    if not all(isinstance(i, Input) for i in inputs):
        raise LossRegistrationError(
            f"cannot register loss {name!r}: inputs must be losses_core.Input objects"
        )
    parameters = _check_compute(name, compute, inputs)
    if KEYS_PARAMETER in parameters or KEYS_PARAMETER in (validators or {}):
        raise LossRegistrationError(
            f"cannot register loss {name!r}: a loss that declares inputs cannot have a parameter named "
            f"{KEYS_PARAMETER!r} (it maps the caller's keys onto the inputs)"
        )
    input_names = tuple(i.name for i in inputs)
    keyword = [
        *(p.replace(annotation=_resolved(compute, p)) for p in parameters.values()),
        inspect.Parameter(
            KEYS_PARAMETER, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Mapping[str, str] | None
        ),
    ]
    fetch = fetch_inputs(name, inputs)

    def check_keys(keys: Any) -> None:
        if not isinstance(keys, Mapping) or not all(isinstance(v, str) for v in keys.values()):
            raise ValueError(f"expects a mapping of input names to keys, got {keys!r}")
        unknown = [k for k in keys if k not in input_names]
        if unknown:
            raise ValueError(
                f"names no declared input: {', '.join(map(repr, unknown))}; the inputs are "
                f"{', '.join(input_names) or 'none'}"
            )

    signature = keyword_signature(
        name,
        {p.name: p for p in keyword},
        False,
        {p.name: p.annotation for p in keyword if p.annotation is not inspect.Parameter.empty},
        {**(validators or {}), KEYS_PARAMETER: check_keys},
    )
    required = bool(signature.required)

    def loss(model_output: Any, targets: Any, /, **params: Any) -> Any:
        if params:
            signature.check(name, params)
            keys = params.pop(KEYS_PARAMETER, None)
            return compute(*fetch(model_output, targets, keys), **params)
        if required:
            signature.check(name, params)
        return compute(*fetch(model_output, targets, None))

    functools.update_wrapper(loss, compute)
    loss.__code__ = own_code(loss.__code__, compute.__name__)
    del loss.__dict__["__wrapped__"]  # the protocol signature below is the loss's; compute stays reachable
    loss.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "model_output", inspect.Parameter.POSITIONAL_ONLY, annotation=Mapping[str, Any]
            ),
            inspect.Parameter("targets", inspect.Parameter.POSITIONAL_ONLY, annotation=Mapping[str, Any]),
            *keyword,
        ]
    )
    declaration = Declaration(name, inputs, compute, signature, fetch)
    declaration.protocol = loss
    setattr(loss, DECLARATION_ATTRIBUTE, declaration)
    loss.compute = compute  # type: ignore[attr-defined]
    return loss


def _check_compute(
    name: str, compute: Callable[..., Any], inputs: tuple[Input, ...]
) -> dict[str, inspect.Parameter]:
    """``compute``'s keyword-only parameters, after checking that its
    positional parameters are exactly the declared inputs."""
    if not callable(compute):
        raise LossRegistrationError(
            f"cannot register loss {name!r}: expected a function, got {type(compute).__name__}"
        )
    signature = inspect.signature(compute)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    expected = [i.name for i in inputs]
    if [p.name for p in positional] != expected:
        raise LossRegistrationError(
            f"cannot register loss {name!r}: the positional parameters of {describe_callable(compute)} "
            f"({', '.join(p.name for p in positional) or 'none'}) must be its declared inputs, in order "
            f"({', '.join(expected) or 'none'}); put parameters after '*'"
        )
    for param, spec in zip(positional, inputs, strict=True):
        if spec.optional and param.default is inspect.Parameter.empty:
            raise LossRegistrationError(
                f"cannot register loss {name!r}: optional input {spec.name!r} needs a default "
                f"(= None) in {describe_callable(compute)}"
            )
    return {p.name: p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _resolved(compute: Callable[..., Any], param: inspect.Parameter) -> Any:
    if param.annotation is inspect.Parameter.empty:
        return inferred_annotation(param)
    resolved = resolve_annotation(compute, param.annotation)
    return inspect.Parameter.empty if resolved is None else resolved
