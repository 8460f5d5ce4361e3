"""Helpers for loss implementations: fetch and check entries of
``model_output`` and ``targets`` with errors that name the loss, the key and
what was expected.

These checks look only at Python-side metadata (presence, ``ndim``, dtype,
static shapes), never at tensor values, so they cost no host synchronisation
and trace cleanly under ``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from losses_core._errors import LossInputError, MissingInputError

__all__ = ["check_same_shape", "optional_tensor", "require_tensor"]


def _describe_keys(mapping: Mapping[str, Any]) -> str:
    keys = sorted(str(k) for k in mapping)
    return ", ".join(repr(k) for k in keys) if keys else "no keys"


def require_tensor(
    mapping: Mapping[str, Any],
    key: str,
    *,
    loss: str,
    source: str,
    ndim: int | Sequence[int] | None = None,
    floating: bool | None = None,
) -> torch.Tensor:
    """Return ``mapping[key]``, checked to be a tensor.

    :param mapping: ``model_output`` or ``targets``.
    :param key: the entry the loss needs.
    :param loss: the loss's registered name, for the error message.
    :param source: ``"model_output"`` or ``"targets"``, for the error message.
    :param ndim: the allowed number(s) of dimensions, if constrained.
    :param floating: require a floating (``True``) or integer/bool (``False``)
        dtype, if given.
    :raises MissingInputError: the key is missing (a ``KeyError``).
    :raises LossInputError: the value is not a tensor or has the wrong
        ``ndim``/dtype (a ``ValueError``).
    """
    if not isinstance(mapping, Mapping):
        raise LossInputError(
            f"{loss}: {source} must be a mapping (dict) of tensors, got {type(mapping).__name__}"
        )
    if key not in mapping or mapping[key] is None:
        raise MissingInputError(
            f"{loss}: {source}[{key!r}] is required but missing; {source} has {_describe_keys(mapping)}"
        )
    value = mapping[key]
    if not isinstance(value, torch.Tensor):
        raise LossInputError(f"{loss}: {source}[{key!r}] must be a torch.Tensor, got {type(value).__name__}")
    _check_tensor(value, key, loss=loss, source=source, ndim=ndim, floating=floating)
    return value


def optional_tensor(
    mapping: Mapping[str, Any],
    key: str | None,
    *,
    loss: str,
    source: str,
    ndim: int | Sequence[int] | None = None,
    floating: bool | None = None,
) -> torch.Tensor | None:
    """Like :func:`require_tensor`, but return ``None`` when ``key`` is
    ``None`` or absent (or maps to ``None``)."""
    if key is None or key not in mapping or mapping[key] is None:
        return None
    return require_tensor(mapping, key, loss=loss, source=source, ndim=ndim, floating=floating)


def _check_tensor(
    value: torch.Tensor,
    key: str,
    *,
    loss: str,
    source: str,
    ndim: int | Sequence[int] | None,
    floating: bool | None,
) -> None:
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            expected = " or ".join(str(n) for n in allowed)
            raise LossInputError(
                f"{loss}: {source}[{key!r}] must have {expected} dimension(s), got shape {tuple(value.shape)}"
            )
    if floating is True and not value.is_floating_point():
        raise LossInputError(f"{loss}: {source}[{key!r}] must have a floating dtype, got {value.dtype}")
    if floating is False and value.is_floating_point():
        raise LossInputError(
            f"{loss}: {source}[{key!r}] must have an integer or bool dtype, got {value.dtype}"
        )


def check_same_shape(a: torch.Tensor, b: torch.Tensor, *, loss: str, names: tuple[str, str]) -> None:
    """Raise :class:`LossInputError` unless ``a`` and ``b`` have the same shape.

    :param names: how to call the two tensors in the message, for example
        ``("model_output['predictions']", "targets['target']")``.
    """
    if a.shape != b.shape:
        raise LossInputError(
            f"{loss}: {names[0]} has shape {tuple(a.shape)} but {names[1]} has shape "
            f"{tuple(b.shape)}; they must match"
        )
