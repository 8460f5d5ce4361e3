"""Loss signatures: the keyword parameters a loss accepts, their checks, and
the comparison of a call's parameters with them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from losses_core._errors import LossParameterError, LossRegistrationError
from losses_core._names import close_matches
from losses_core.params import Checker, annotation_checker, describe_annotation

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)

Validator = Callable[[Any], None]
"""``validator(value)`` raises ``ValueError``/``TypeError`` for a bad value."""


class LossSignature:
    """The keyword parameters a loss accepts after its two inputs.

    ``parameters`` maps each named keyword parameter to its
    :class:`inspect.Parameter`; ``var_keyword`` says whether the loss also
    takes ``**kwargs``; ``known`` is false when the signature could not be
    read (some C callables), in which case nothing can be checked.
    ``checkers`` hold the type check of each annotated parameter and
    ``validators`` the loss's own checks of structured parameters.
    """

    __slots__ = ("annotations", "checkers", "known", "parameters", "required", "validators", "var_keyword")

    def __init__(
        self,
        parameters: Mapping[str, inspect.Parameter],
        var_keyword: bool,
        known: bool = True,
        annotations: Mapping[str, Any] | None = None,
        validators: Mapping[str, Validator] | None = None,
    ) -> None:
        self.parameters = dict(parameters)
        self.var_keyword = var_keyword
        self.known = known
        self.annotations = dict(annotations or {})
        self.checkers: dict[str, Checker] = {n: annotation_checker(a) for n, a in self.annotations.items()}
        self.validators = dict(validators or {})
        self.required = frozenset(
            n for n, p in self.parameters.items() if p.default is inspect.Parameter.empty
        )

    @property
    def checks_names(self) -> bool:
        """Whether unknown parameter names can be detected.

        A loss with named parameters rejects any other name, even when it also
        takes ``**kwargs`` (losses written with a catch-all ``**kwargs`` would
        otherwise swallow typos). A loss whose only parameters are
        ``**kwargs`` reads them itself, so any name passes.
        """
        return self.known and (bool(self.parameters) or not self.var_keyword)

    def describe(self, name: str) -> str:
        """``name: type = default`` of one parameter, for listings."""
        param = self.parameters[name]
        text = name
        if name in self.annotations:
            text += f": {describe_annotation(self.annotations[name])}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        return text

    def problems(
        self, loss: str, params: Mapping[str, Any], *, complete: bool = True, check_names: bool = True
    ) -> list[str]:
        """Every problem with ``params``: unknown names (with suggestions;
        unless ``check_names`` is false), missing required parameters (when
        ``complete``), wrong types and values rejected by a validator."""
        found: list[str] = []
        if check_names and self.checks_names:
            unknown = [p for p in params if p not in self.parameters]
            if unknown:
                found.append(unknown_message(loss, self, unknown))
        if complete and self.required:
            missing = sorted(self.required - set(params))
            if missing:
                found.append(
                    f"loss {loss!r}: missing required parameter(s) {', '.join(map(repr, missing))} "
                    f"({'; '.join(self.describe(m) for m in missing)})"
                )
        for pname, value in params.items():
            checker = self.checkers.get(pname)
            problem = checker(value) if checker is not None else None
            if problem is None and value is not None and pname in self.validators:
                try:
                    self.validators[pname](value)
                except (ValueError, TypeError) as exc:
                    problem = str(exc)
            if problem is not None:
                found.append(f"loss {loss!r}: parameter {pname!r} {_phrase(problem)}")
        return found

    def check(
        self, loss: str, params: Mapping[str, Any], *, complete: bool = True, check_names: bool = True
    ) -> None:
        """Raise :class:`LossParameterError` listing every problem with ``params``."""
        problems = self.problems(loss, params, complete=complete, check_names=check_names)
        if problems:
            raise LossParameterError("; ".join(problems))


def _phrase(problem: str) -> str:
    return problem if problem.startswith(("expects", "must", "item", "entry")) else f"is invalid: {problem}"


def unknown_message(loss: str, signature: LossSignature, unknown: list[str]) -> str:
    """``loss 'x' does not accept parameter(s) 'betta' (did you mean 'beta'?)...``"""
    accepted = sorted(signature.parameters)
    parts = []
    for param in unknown:
        close = close_matches(param, accepted, n=1)
        parts.append(f"{param!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (
        f"loss {loss!r} does not accept parameter(s) {', '.join(parts)}; it accepts: "
        f"{', '.join(accepted) or 'no parameters'}"
    )


def inspect_loss_signature(
    name: str, fn: Callable[..., Any], validators: Mapping[str, Validator] | None = None
) -> LossSignature:
    """Check that ``fn`` can be called as ``fn(model_output, targets, **params)``
    and read its keyword parameters and their annotations.

    :raises LossRegistrationError: ``fn`` is not callable, cannot take two
        positional inputs, has further parameters that cannot be passed by
        keyword, or has a validator for a parameter it does not take.
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
            f"cannot register loss {name!r}: {describe_callable(fn)} must accept two positional "
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
                f"cannot register loss {name!r}: parameter {param.name!r} of {describe_callable(fn)} "
                f"is positional-only and has no default, so it cannot come from config; "
                f"its signature is {sig}"
            )
    return keyword_signature(name, keyword, var_keyword, _annotations(fn, keyword), validators)


def keyword_signature(
    name: str,
    keyword: Mapping[str, inspect.Parameter],
    var_keyword: bool,
    annotations: Mapping[str, Any],
    validators: Mapping[str, Validator] | None,
) -> LossSignature:
    """The :class:`LossSignature` of keyword parameters whose annotations are
    resolved, after checking that every validator names one of them."""
    for pname in validators or {}:
        if pname not in keyword:
            raise LossRegistrationError(
                f"cannot register loss {name!r}: validator for {pname!r}, which is not one of its "
                f"parameters ({', '.join(keyword) or 'none'})"
            )
    return LossSignature(keyword, var_keyword, annotations=annotations, validators=validators)


def _annotations(fn: Callable[..., Any], keyword: Mapping[str, inspect.Parameter]) -> dict[str, Any]:
    """The resolved annotations of the keyword parameters; an unannotated
    parameter whose default is a bool, int, float or str takes its default's
    type; an annotation that cannot be resolved is left out (anything passes)."""
    target: Any = inspect.unwrap(fn, stop=lambda f: hasattr(f, "__signature__"))
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = type(target).__call__ if callable(target) else None
    found: dict[str, Any] = {}
    for pname, param in keyword.items():
        if param.annotation is not inspect.Parameter.empty:
            resolved = resolve_annotation(target, param.annotation)
            if resolved is not None:
                found[pname] = resolved
        elif (inferred := inferred_annotation(param)) is not inspect.Parameter.empty:
            found[pname] = inferred
    return found


def inferred_annotation(param: inspect.Parameter) -> Any:
    """The type of an unannotated parameter's default when it is a bool, int,
    float or str (a float accepts an int), else ``inspect.Parameter.empty``."""
    return _INFERRED.get(type(param.default), inspect.Parameter.empty)


def resolve_annotation(fn: Any, annotation: Any) -> Any:
    """``annotation`` evaluated in ``fn``'s module when it is a string
    (``from __future__ import annotations``); ``None`` if it cannot be."""
    if not isinstance(annotation, str):
        return annotation
    namespace = getattr(inspect.unwrap(fn), "__globals__", None) if fn is not None else None
    try:
        return eval(annotation, dict(namespace or {}))
    except Exception:
        return None


_INFERRED: dict[type, Any] = {bool: bool, int: int, float: float, str: str}


def describe_callable(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function or callable instance."""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{qualname}"
