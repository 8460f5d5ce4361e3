"""Calling a loss: hooks around it, parameter errors that name the loss."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import torch

from losses_core._errors import LossParameterError
from losses_core._hookstate import HOOKS
from losses_core._result import normalize_result
from losses_core._signature import LossSignature
from losses_core._types import LossReturn


class LossCall:
    """One loss call, as seen by the pre- and post-loss hooks.

    ``name`` and ``provider`` identify the loss; ``model_output``, ``targets``
    and ``params`` are what the loss will be (or was) called with and may be
    replaced by pre-loss hooks; ``result`` is the normalised
    :class:`~losses_core.LossReturn`, set before the post-loss hooks run and
    replaceable by them.
    """

    __slots__ = ("model_output", "name", "params", "provider", "result", "targets")

    def __init__(
        self,
        name: str,
        provider: str,
        model_output: Mapping[str, Any],
        targets: Mapping[str, Any],
        params: dict[str, Any],
    ) -> None:
        self.name = name
        self.provider = provider
        self.model_output = model_output
        self.targets = targets
        self.params = params
        self.result: LossReturn | None = None

    def __repr__(self) -> str:
        return f"LossCall(name={self.name!r}, provider={self.provider!r}, params={self.params!r})"


def call_with_hooks(
    name: str,
    provider: str,
    fn: Callable[..., Any],
    signature: LossSignature,
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    params: dict[str, Any],
) -> tuple[LossReturn, bool]:
    """Run the pre-loss hooks, the loss and the post-loss hooks.

    Returns the normalised result and whether the loss itself returned a
    bare tensor.
    """
    from losses_core._manager import MANAGER, run_loss_hook

    call = LossCall(name, provider, model_output, targets, params)
    if HOOKS.pre:
        run_loss_hook(MANAGER.hook.losses_pre_loss, call)
    try:
        out = fn(call.model_output, call.targets, **call.params)
    except TypeError as exc:
        raise_if_bad_parameters(name, signature, exc, call.params)
        raise
    result = normalize_result(name, out)
    if HOOKS.post:
        call.result = result
        run_loss_hook(MANAGER.hook.losses_post_loss, call)
        result = normalize_result(name, call.result)
    return result, isinstance(out, torch.Tensor)


def raise_if_bad_parameters(
    name: str, signature: LossSignature, exc: TypeError, params: Mapping[str, Any]
) -> None:
    """Turn a ``TypeError`` raised while binding a loss's arguments into a
    :class:`LossParameterError` naming the loss; return if it is anything else."""
    tb = exc.__traceback__
    if tb is None or tb.tb_next is not None or "argument" not in str(exc):
        return
    unknown = [p for p in params if p not in signature.parameters]
    if unknown and signature.checks_names:
        bad_parameters(name, signature, unknown)
    raise LossParameterError(f"loss {name!r} cannot be called with these parameters: {exc}") from exc


def bad_parameters(name: str, signature: LossSignature, unknown: list[str]) -> NoReturn:
    """Raise :class:`LossParameterError` for ``unknown`` parameter names."""
    accepted = sorted(signature.parameters)
    parts = []
    for param in unknown:
        close = difflib.get_close_matches(param, accepted, n=1)
        parts.append(f"{param!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise LossParameterError(
        f"loss {name!r} does not accept parameter(s) {', '.join(parts)}; it accepts: "
        f"{', '.join(accepted) or 'no parameters'}"
    )
