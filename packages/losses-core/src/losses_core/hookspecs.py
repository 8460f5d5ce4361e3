"""The hook specifications of the ``losses`` plugin system.

Every hook of the project is declared here. Plugins implement them with
:data:`losses_core.hookimpl`; implementations may accept any subset of a hook's
arguments (pluggy's opt-in arguments). Hooks are called in pluggy order: last
registered first, adjusted by ``tryfirst``/``trylast``.

Hooks
=====

``losses_register(register)``
    Called once for each plugin when it is loaded (at discovery for plugins
    from the ``losses.plugins`` entry-point group, at
    :func:`losses_core.register_hooks` for plugins registered at runtime).
    The plugin calls ``register(name, loss, inputs=..., aliases=(),
    example_inputs=None, validators=None)`` for each loss it provides; each
    loss is attributed to the plugin's distribution and version. Most plugins
    do not need it: a ``@register_loss`` decorator next to each loss registers
    it when the entry point's module is imported. The hook is the dynamic
    path, for losses known only at import time (for example, only when an
    optional dependency is installed).

``losses_pre_loss(call)``
    Called before every loss call made through ``LOSSES`` or a resolved loss
    (not for a loss function called directly).
    ``call`` is a :class:`losses_core.LossCall`: it carries ``name``,
    ``provider``, ``label`` (the label of the composite term the call
    computes, ``None`` outside a composite loss), ``model_output``,
    ``targets`` and ``params``. An implementation may replace any of
    ``call.model_output``, ``call.targets`` or ``call.params`` (or mutate
    them); later implementations and the loss itself see the change.

``losses_post_loss(call)``
    Called after every loss call made through ``LOSSES`` or a resolved loss.
    ``call.result`` holds the loss's result normalised to a
    :class:`losses_core.LossReturn` (``loss``, ``metrics``, ``auxiliary``).
    An implementation may replace ``call.result`` (for example scale the
    loss) or augment it (add metrics), or raise (for example on a non-finite
    loss). The result is validated again after each implementation; an
    invalid one is reported with the hook's plugin.

An exception raised by an implementation names the hook and its plugin: a
:class:`~losses_core.HookError` chained to the original, or the original
:class:`~losses_core.LossError` with a note. Plain implementations are called
directly from a cached list in pluggy's order; when some implementation is a
``wrapper``/``hookwrapper``, or ``LOSSES_TRACE_PLUGINS`` is set (pluggy's
tracing prints every call), the call goes through pluggy's hook caller.

Hook calls are skipped entirely while no implementation of the pre- or
post-loss hook is registered, so they cost nothing until used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from losses_core._names import PROJECT_NAME

if TYPE_CHECKING:
    from losses_core._call import LossCall
    from losses_core._registry import LossRegistrar

__all__ = ["losses_post_loss", "losses_pre_loss", "losses_register"]

_F = TypeVar("_F", bound=Callable[..., Any])


def hookspec(function: _F) -> _F:
    """Mark a hook specification, exactly as ``pluggy.HookspecMarker("losses")``
    does (pluggy itself is not imported until some plugin implements a hook)."""
    setattr(
        function,
        f"{PROJECT_NAME}_spec",
        {"firstresult": False, "historic": False, "warn_on_impl": None, "warn_on_impl_args": None},
    )
    return function


@hookspec
def losses_register(register: LossRegistrar) -> None:
    """Register the losses this plugin provides.

    :param register: call ``register(name, loss, *, inputs=None, aliases=(),
        example_inputs=None, validators=None, override=False)`` once per
        loss, with the arguments of :func:`losses_core.register_loss`.
        ``loss`` is a function or callable instance following the loss
        protocol ``loss(model_output, targets, **params)``, or, with
        ``inputs``, a function of the declared input tensors.
        ``example_inputs`` is an optional factory ``(batch_size, dtype) ->
        (model_output, targets, params)`` used by the conformance checker.
    """


@hookspec
def losses_pre_loss(call: LossCall) -> None:
    """Inspect or change a loss call before the loss runs.

    :param call: the call about to happen (``call.label`` names the
        composite term it computes, if any). Replace or mutate
        ``call.model_output``, ``call.targets`` or ``call.params`` to change
        what the loss receives. The return value is ignored.
    """


@hookspec
def losses_post_loss(call: LossCall) -> None:
    """Inspect, augment or replace the result of a loss call.

    :param call: the finished call; ``call.result`` is the normalised
        :class:`~losses_core.LossReturn`. Assign a new mapping to
        ``call.result`` or add entries to ``call.result["metrics"]``. Raise to
        reject the result. The return value is ignored.
    """
