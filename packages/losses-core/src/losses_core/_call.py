"""The call path: what ``LOSSES[name](...)`` and a resolved loss do.

Every call (a registry call through a handle, or a resolved loss):

1. compares the parameters' names with the loss's declared parameters
   (unknown names get a did-you-mean; missing required parameters are
   named) and checks their values against the annotations; a loss that
   declares its inputs does this itself, for direct calls too;
2. runs the pre-loss hooks, the loss and the post-loss hooks, if any are
   registered (hooks see the normalised ``{"loss", "metrics", "auxiliary"}``);
3. checks the result: a 0-dim floating tensor, or a mapping whose ``"loss"``
   is one. A registry call returns the 0-dim ``loss``; a resolved loss
   returns the normalised mapping. Both are the same with or without hooks.

A handle is a plain function (a closure), not an instance of a class with
``__call__``: Python calls functions through a fast path, and the registry
call has to cost at most a few percent more than calling the loss directly.
Handles pickle by reference (see :mod:`losses_core._mapping`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from losses_core._declaration import declaration_of, own_code
from losses_core._errors import LossResultError
from losses_core._hooks import HOOKS, post_hook_names, run_hook
from losses_core._registry import LossEntry
from losses_core._types import LossOutput, LossReturn

_Tensor = torch.Tensor
_FLOATING = frozenset(
    dtype
    for dtype in (
        getattr(torch, name, None)
        for name in (
            "float16",
            "bfloat16",
            "float32",
            "float64",
            "float8_e4m3fn",
            "float8_e4m3fnuz",
            "float8_e5m2",
            "float8_e5m2fnuz",
            "float8_e8m0fnu",
            "float4_e2m1fn_x2",
        )
    )
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point
)
"""Every floating dtype: ``dtype in _FLOATING`` is cheaper than ``is_floating_point()``."""
_RESULT_KEYS = frozenset({"loss", "metrics", "auxiliary"})


class LossCall:
    """One loss call, as seen by the pre- and post-loss hooks.

    ``name`` and ``provider`` identify the loss; ``label`` is the label of
    the composite term the call computes (``"recon_b"``: the prefix of the
    term's keys in the composite's ``metrics``), or ``None`` for a call that
    is not a term of a composite loss; ``model_output``, ``targets`` and
    ``params`` are what the loss will be (or was) called with and may be
    replaced by pre-loss hooks; ``result`` is the normalised
    :class:`~losses_core.LossReturn`, set before the post-loss hooks run and
    replaceable by them.
    """

    __slots__ = ("label", "model_output", "name", "params", "provider", "result", "targets")

    def __init__(
        self,
        name: str,
        provider: str,
        model_output: Mapping[str, Any],
        targets: Mapping[str, Any],
        params: dict[str, Any],
        label: str | None = None,
    ) -> None:
        self.name = name
        self.provider = provider
        self.model_output = model_output
        self.targets = targets
        self.params = params
        self.label = label
        self.result: LossReturn | None = None

    def __repr__(self) -> str:
        label = "" if self.label is None else f", label={self.label!r}"
        return f"LossCall(name={self.name!r}, provider={self.provider!r}{label}, params={self.params!r})"


# -- results -------------------------------------------------------------------------
def _check_loss_tensor(who: str, value: Any, where: str) -> None:
    if isinstance(value, torch.Tensor):
        if value.ndim != 0:
            raise LossResultError(
                f"{who} returned {where} of shape {tuple(value.shape)}; expected a "
                f"0-dim (scalar) tensor. Reduce it (e.g. .mean() or .sum()); per-element results "
                f"(reduction='none') come from calling the loss function directly, not the registry."
            )
        if not value.is_floating_point():
            raise LossResultError(f"{who} returned {where} of dtype {value.dtype}; expected a floating dtype")
        return
    if isinstance(value, (float, int)):
        raise LossResultError(
            f"{who} returned {where} as a Python {type(value).__name__} ({value!r}); "
            f"expected a 0-dim tensor. A Python number (for example from .item()) breaks "
            f"autograd: return the tensor itself."
        )
    raise LossResultError(
        f"{who} returned {where} of type {type(value).__name__}; expected a 0-dim floating tensor"
    )


def check_result(who: str, out: Any) -> None:
    """Raise :class:`LossResultError` unless ``out`` is a valid loss result.

    :param who: names the culprit in the message (``"loss 'mse'"``).
    """
    if not isinstance(out, Mapping):
        _check_loss_tensor(who, out, "a tensor" if isinstance(out, torch.Tensor) else "a value")
        return
    if "loss" not in out:
        raise LossResultError(
            f"{who} returned a mapping without a 'loss' key (keys: {sorted(map(str, out))}); "
            f"expected {{'loss': tensor, 'metrics': {{...}}, 'auxiliary': {{...}}}}"
        )
    extra = out.keys() - _RESULT_KEYS
    if extra:
        raise LossResultError(
            f"{who} returned unexpected key(s) {sorted(map(str, extra))}; a result may only "
            f"have 'loss', 'metrics' and 'auxiliary' (put other outputs in 'auxiliary')"
        )
    _check_loss_tensor(who, out["loss"], "'loss'")
    for key in ("metrics", "auxiliary"):
        value = out.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise LossResultError(
                f"{who} returned {key!r} of type {type(value).__name__}; expected a mapping"
            )


def normalize_result(who: str, out: Any) -> LossReturn:
    """Validate ``out`` and return a fresh ``{"loss", "metrics", "auxiliary"}`` dict."""
    if type(out) is _Tensor and out.ndim == 0 and out.is_floating_point():
        return {"loss": out, "metrics": {}, "auxiliary": {}}
    check_result(who, out)
    if not isinstance(out, Mapping):
        return {"loss": out, "metrics": {}, "auxiliary": {}}
    return {
        "loss": out["loss"],
        "metrics": dict(out.get("metrics") or {}),
        "auxiliary": dict(out.get("auxiliary") or {}),
    }


def _is_normal(result: Any) -> bool:
    """Whether ``result`` is a plain normalised result (the common case, checked cheaply)."""
    if type(result) is not dict or len(result) != 3:
        return False
    loss = result.get("loss")
    return (
        type(loss) is _Tensor
        and loss.ndim == 0
        and loss.is_floating_point()
        and type(result.get("metrics")) is dict
        and type(result.get("auxiliary")) is dict
    )


def loss_value(name: str, out: Any) -> torch.Tensor:
    """The 0-dim loss of a result (a tensor, or a mapping's ``"loss"``), checked."""
    if type(out) is _Tensor and not out.ndim and out.dtype in _FLOATING:
        return out
    who = f"loss {name!r}"
    check_result(who, out)
    return out if not isinstance(out, Mapping) else out["loss"]  # type: ignore[no-any-return]


# -- calls -----------------------------------------------------------------------------
def call_with_hooks(
    entry: LossEntry,
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    params: dict[str, Any],
    check_names: bool = True,
    label: str | None = None,
) -> LossReturn:
    """Run the pre-loss hooks, check the parameters, run the loss and the
    post-loss hooks; return the normalised result.

    ``label`` is the composite term's label the hooks see as ``call.label``.
    A post-loss hook that leaves an invalid result is named in the error.
    """
    name = entry.name
    call = LossCall(name, entry.provider, model_output, targets, params, label)
    if HOOKS.has_pre:
        run_hook("losses_pre_loss", HOOKS.pre, call)
    if not entry.declared and (call.params or entry.signature.required):
        entry.signature.check(name, call.params, check_names=check_names)
    result = normalize_result(
        f"loss {name!r}", entry.function(call.model_output, call.targets, **call.params)
    )
    if not HOOKS.has_post:
        return result
    call.result = result
    implementations = HOOKS.post
    if implementations is None:
        run_hook("losses_post_loss", None, call)
        if _is_normal(call.result):
            return call.result
        return normalize_result(f"the losses_post_loss hooks ({', '.join(post_hook_names())})", call.result)
    for implementation in implementations:
        run_hook("losses_post_loss", (implementation,), call)
        if not _is_normal(call.result):
            who = f"hook 'losses_post_loss' of plugin {implementation[1]!r} (loss {name!r})"
            call.result = normalize_result(who, call.result)
    return call.result


def call_resolved(
    entry: LossEntry,
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    params: dict[str, Any],
    check_names: bool = True,
    label: str | None = None,
) -> LossReturn:
    """A resolved loss's call: the normalised result, with or without hooks.

    ``check_names=False`` (a config loaded with ``strict=False``) lets names
    the loss does not declare through to its ``**kwargs``; ``label`` names
    the composite term the call computes, for the hooks."""
    if HOOKS.active:
        return call_with_hooks(entry, model_output, targets, params, check_names, label)
    if not entry.declared and (params or entry.signature.required):
        entry.signature.check(entry.name, params, check_names=check_names)
    return normalize_result(f"loss {entry.name!r}", entry.function(model_output, targets, **params))


class RegisteredLoss(Protocol):
    """What ``LOSSES[name]`` returns: a function that calls the loss.

    ``handle(model_output, targets, **params)`` returns the loss as a 0-dim
    floating tensor, checked on every call: the loss's own tensor, or the
    ``"loss"`` of the mapping it returns. Parameters are checked before the
    call. When pre- or post-loss hooks are registered they run around the
    call and see the normalised ``{"loss", "metrics", "auxiliary"}``.

    Attributes: ``entry`` (the registry entry: name, provider, version,
    aliases, signature, inputs), ``name``, ``provider``, ``version``,
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
    ) -> torch.Tensor: ...


def make_handle(entry: LossEntry, module: str, qualname: str) -> RegisteredLoss:
    """Build the handle of ``entry``, published as ``module.qualname``."""
    fn = entry.function
    name = entry.name
    signature = entry.signature
    checks_parameters = not entry.declared
    required = bool(signature.required)
    hooks = HOOKS
    declaration = declaration_of(fn)
    if declaration is not None:
        compute, fetch = declaration.compute, declaration.fetch

    def plain_handle(
        model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any
    ) -> LossOutput:
        if params or hooks.active or required:
            return slow_call(model_output, targets, params)
        # Plain call: the hot path. An empty **params is not forwarded (that
        # takes a slower call path); the result is checked in full.
        out = fn(model_output, targets)
        if type(out) is _Tensor and not out.ndim and out.dtype in _FLOATING:
            return out
        return loss_value(name, out)

    def declared_handle(
        model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **params: Any
    ) -> LossOutput:
        # A loss that declares its inputs: the plain call fetches them and
        # calls the function of tensors itself, as the loss's own protocol
        # function would (one Python frame fewer on the hot path).
        if params or hooks.active or required:
            return slow_call(model_output, targets, params)
        out = compute(*fetch(model_output, targets, None))
        if type(out) is _Tensor and not out.ndim and out.dtype in _FLOATING:
            return out
        return loss_value(name, out)

    def slow_call(
        model_output: Mapping[str, Any], targets: Mapping[str, Any], params: dict[str, Any]
    ) -> LossOutput:
        if hooks.active:
            return call_with_hooks(entry, model_output, targets, params)["loss"]
        if checks_parameters:
            signature.check(name, params)
        return loss_value(name, fn(model_output, targets, **params))

    handle = plain_handle if declaration is None else declared_handle
    handle.__code__ = own_code(handle.__code__, name)
    handle.__name__ = name
    handle.__qualname__ = qualname
    handle.__module__ = module
    handle.__doc__ = inspect.getdoc(fn)
    attributes = handle.__dict__
    attributes["__wrapped__"] = fn
    attributes["entry"] = entry
    attributes["name"] = name
    attributes["provider"] = entry.provider
    attributes["version"] = entry.version
    attributes["qualified_name"] = entry.qualified_name
    attributes["function"] = fn
    return handle  # type: ignore[return-value]
