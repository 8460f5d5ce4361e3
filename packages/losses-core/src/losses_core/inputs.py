"""Declared inputs: what a loss reads from ``model_output`` and ``targets``.

A loss declares its inputs once, next to its function, with :class:`Input`::

    @register_loss(
        inputs=[
            Input("logits", "model_output", shape="... V", dtype="float"),
            Input("labels", "targets", shape="...", dtype="int"),
        ]
    )
    def token_ce(logits, labels, *, ignore_index: int = -100): ...

Core fetches each input from its mapping, checks it and passes it to the
function positionally; a missing or malformed input raises an error that
names the loss, the declared input, the caller's key and what was expected.
Callers whose dicts use other key names map them once, with
``keys={"logits": "lm_logits"}`` (a parameter of every loss that declares
inputs, also accepted by ``resolve_loss`` and in config under ``keys:``).

Every check looks at Python-side metadata only (presence, ``ndim``, dtype,
sizes), never at tensor values, so it costs no host synchronisation and traces
cleanly under ``torch.compile``.

Shapes are written as space-separated dimensions: a name (``B``, ``T``,
``V``) binds a size that must agree across every input of the call, an
integer is an exact size, ``_`` is any size and ``...`` any number of
dimensions (at most once). ``"B T V | N V"`` accepts either layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from losses_core._errors import LossInputError, LossRegistrationError, MissingInputError

__all__ = ["Fetcher", "Input", "InputDtype", "InputSource", "fetch_inputs"]

InputSource = Literal["model_output", "targets"]
"""Which of the two mappings an input comes from."""

InputDtype = Literal["float", "int", "bool", "int_or_bool", "any"]
"""The dtype family an input must have: floating, integer, bool, integer or
bool (labels and masks), or anything."""

_DTYPE_TEXT = {
    "float": "a floating dtype",
    "int": "an integer dtype",
    "bool": "dtype torch.bool",
    "int_or_bool": "an integer or bool dtype",
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Input:
    """One input of a loss.

    :param name: the input's name: the function's positional parameter that
        receives it, and the name callers map their own keys onto.
    :param source: ``"model_output"`` or ``"targets"``.
    :param shape: the expected layout (see the module docs), or ``None`` for
        any shape; alternatives are separated by ``|``; an empty one (``""``,
        or ``"N |"`` for ``[N]`` or 0-dim) is a 0-dim tensor.
    :param dtype: the dtype family (:data:`InputDtype`); default ``"any"``.
    :param optional: when true, a missing (or ``None``) entry passes ``None``.
    :param like: the name of an earlier input whose shape this one must equal.
    :param key: the key read by default when it differs from ``name``.
    :param tensor: ``False`` for an input that is not a tensor (passed as is).
    :param doc: one line for ``losses show`` and the docs.
    """

    name: str
    source: InputSource
    shape: str | None = None
    dtype: InputDtype = "any"
    optional: bool = False
    like: str | None = None
    key: str | None = None
    tensor: bool = True
    doc: str = ""
    layouts: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise LossRegistrationError(f"invalid input name {self.name!r}: expected an identifier")
        if self.source not in ("model_output", "targets"):
            raise LossRegistrationError(
                f"input {self.name!r}: source must be 'model_output' or 'targets', got {self.source!r}"
            )
        if self.dtype not in ("float", "int", "bool", "int_or_bool", "any"):
            raise LossRegistrationError(
                f"input {self.name!r}: dtype must be one of float, int, bool, int_or_bool, any; "
                f"got {self.dtype!r}"
            )
        for flag in ("optional", "tensor"):
            if not isinstance(getattr(self, flag), bool):
                raise LossRegistrationError(
                    f"input {self.name!r}: {flag} must be True or False, got {getattr(self, flag)!r}"
                )
        if not self.tensor and (self.dtype != "any" or self.shape is not None or self.like is not None):
            raise LossRegistrationError(
                f"input {self.name!r}: dtype, shape and like describe tensors; an input declared "
                f"tensor=False cannot have them"
            )
        object.__setattr__(self, "layouts", _parse_shape(self.name, self.shape))

    @property
    def default_key(self) -> str:
        """The key read when the caller maps nothing: ``key`` or ``name``."""
        return self.key or self.name

    def describe(self) -> str:
        """``targets['labels']: int [B T]``: one line for listings and docs."""
        parts = [f"{self.source}[{self.default_key!r}]"]
        if self.dtype != "any":
            parts.append(self.dtype)
        if self.shape:
            parts.append(f"[{self.shape}]")
        if self.optional:
            parts.append("(optional)")
        return " ".join(parts)


def _parse_shape(name: str, shape: str | None) -> tuple[tuple[str, ...], ...]:
    if shape is None:
        return ()
    layouts = []
    for alternative in shape.split("|"):
        dims = tuple(alternative.split())  # an empty alternative is a 0-dim tensor
        if dims.count("...") > 1:
            raise LossRegistrationError(f"input {name!r}: shape {shape!r} has '...' more than once")
        for dim in dims:
            if dim not in ("...", "_") and not dim.isdigit() and not _NAME.match(dim):
                raise LossRegistrationError(f"input {name!r}: invalid dimension {dim!r} in shape {shape!r}")
        layouts.append(dims)
    return tuple(layouts)


Fetcher = Callable[[Any, Any, "Mapping[str, str] | None"], list[Any]]
"""``fetch(model_output, targets, keys)`` returns the declared inputs in order."""


def fetch_inputs(loss: str, inputs: Sequence[Input]) -> Fetcher:
    """Build the function that fetches and checks ``inputs`` for ``loss``.

    ``fetch(model_output, targets, keys)`` returns the inputs' values in
    declaration order; ``keys`` maps input names to the caller's keys.

    :raises MissingInputError: a required input is missing (a ``KeyError``).
    :raises LossInputError: an input is not a tensor, has the wrong dtype,
        number of dimensions or sizes (a ``ValueError``).
    """
    names = [i.name for i in inputs]
    for position, spec in enumerate(inputs):
        if spec.like is not None and spec.like not in names[:position]:
            raise LossRegistrationError(
                f"loss {loss!r}: input {spec.name!r} is declared like={spec.like!r}, which is not "
                f"an earlier input ({', '.join(names[:position]) or 'none'})"
            )
        if spec.like is not None and not inputs[names.index(spec.like)].tensor:
            raise LossRegistrationError(
                f"loss {loss!r}: input {spec.name!r} is declared like={spec.like!r}, which is not a tensor"
            )
    if len(set(names)) != len(names):
        raise LossRegistrationError(f"loss {loss!r}: input names must be unique, got {names}")
    plan = [
        (
            spec,
            spec.source == "model_output",
            spec.default_key,
            spec.tensor,
            spec.dtype,
            spec.layouts,
            None if spec.like is None else names.index(spec.like),
        )
        for spec in inputs
    ]
    has_dims = any(spec.layouts for spec in inputs)
    tensor_type = torch.Tensor

    def fetch(model_output: Any, targets: Any, keys: Mapping[str, str] | None) -> list[Any]:
        if not isinstance(model_output, Mapping) or not isinstance(targets, Mapping):
            _raise_not_mapping(loss, model_output, targets)
        values: list[Any] = []
        dims: dict[str, tuple[int, Input, str]] | None = {} if has_dims else None
        for spec, from_output, default_key, tensor, dtype, layouts, like in plan:
            key = default_key if keys is None else keys.get(spec.name, default_key)
            mapping = model_output if from_output else targets
            value = mapping.get(key)
            if value is None:
                if spec.optional:
                    values.append(None)
                    continue
                _raise_missing(loss, spec, key, mapping)
            if tensor:
                if not isinstance(value, tensor_type):
                    raise LossInputError(
                        f"{loss}: input {spec.name!r} ({spec.source}[{key!r}]) must be a "
                        f"torch.Tensor, got {type(value).__name__}"
                    )
                if dtype != "any":
                    _check_dtype(loss, spec, key, value)
                if layouts:
                    assert dims is not None
                    _check_layout(loss, spec, key, value, dims)
                if like is not None:
                    other = values[like]
                    if other is not None and other.shape != value.shape:
                        raise LossInputError(
                            f"{loss}: input {spec.name!r} ({spec.source}[{key!r}]) has shape "
                            f"{tuple(value.shape)} but input {inputs[like].name!r} has shape "
                            f"{tuple(other.shape)}; they must match"
                        )
            values.append(value)
        return values

    return fetch


def _raise_not_mapping(loss: str, model_output: Any, targets: Any) -> None:
    for what, value in (("model_output", model_output), ("targets", targets)):
        if not isinstance(value, Mapping):
            raise LossInputError(
                f"{loss}: {what} must be a mapping (dict) of inputs, got {type(value).__name__}"
            )


def _raise_missing(loss: str, spec: Input, key: str, mapping: Mapping[str, Any]) -> None:
    present = sorted(str(k) for k in mapping)
    has = ", ".join(repr(k) for k in present) if present else "no keys"
    mapped = "" if key == spec.default_key else f" (mapped by keys={{{spec.name!r}: {key!r}}})"
    hint = (
        f"; if it lives under another key, pass keys={{{spec.name!r}: '<your key>'}}"
        if key == spec.default_key
        else ""
    )
    raise MissingInputError(
        f"{loss}: input {spec.name!r} is required at {spec.source}[{key!r}]{mapped} but is missing; "
        f"{spec.source} has {has}{hint}"
    )


def _check_dtype(loss: str, spec: Input, key: str, value: torch.Tensor) -> None:
    dtype = spec.dtype
    if dtype == "float":
        ok = value.is_floating_point()
    elif dtype == "bool":
        ok = value.dtype == torch.bool
    else:
        ok = not value.is_floating_point() and not value.is_complex()
        if dtype == "int":
            ok = ok and value.dtype != torch.bool
    if not ok:
        raise LossInputError(
            f"{loss}: input {spec.name!r} ({spec.source}[{key!r}]) must have {_DTYPE_TEXT[dtype]}, "
            f"got {value.dtype}"
        )


def _check_layout(
    loss: str, spec: Input, key: str, value: torch.Tensor, dims: dict[str, tuple[int, Input, str]]
) -> None:
    shape = value.shape
    for layout in spec.layouts:
        bound = _match(layout, shape)
        if bound is not None:
            break
    else:
        expected = " or ".join(f"[{' '.join(layout)}]" for layout in spec.layouts)
        raise LossInputError(
            f"{loss}: input {spec.name!r} ({spec.source}[{key!r}]) must have shape {expected}, "
            f"got {tuple(shape)}"
        )
    for dim, size in bound:
        seen = dims.get(dim)
        if seen is None:
            dims[dim] = (size, spec, key)
        elif seen[0] != size:
            other, other_key = seen[1], seen[2]
            raise LossInputError(
                f"{loss}: dimension {dim} is {size} in input {spec.name!r} ({spec.source}[{key!r}], "
                f"shape {tuple(shape)}) but {seen[0]} in input {other.name!r} "
                f"({other.source}[{other_key!r}]); they must match"
            )


def _match(layout: tuple[str, ...], shape: torch.Size) -> list[tuple[str, int]] | None:
    """The named sizes ``shape`` binds under ``layout``, or ``None`` if it does not fit."""
    ndim = len(shape)
    if "..." in layout:
        split = layout.index("...")
        head, tail = layout[:split], layout[split + 1 :]
        if ndim < len(head) + len(tail):
            return None
        pairs = list(zip(head, shape[: len(head)], strict=True))
        pairs += zip(tail, shape[ndim - len(tail) :], strict=True)
    else:
        if ndim != len(layout):
            return None
        pairs = list(zip(layout, shape, strict=True))
    bound: list[tuple[str, int]] = []
    for dim, size in pairs:
        if dim == "_":
            continue
        if dim.isdigit():
            if int(dim) != size:
                return None
            continue
        bound.append((dim, int(size)))
    return bound
