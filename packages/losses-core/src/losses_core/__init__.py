"""losses-core: the loss-function protocol, the plugin registry, hooks and config.

The public API::

    from losses_core import LOSSES, register_loss, resolve_loss

    LOSSES["mse"](model_output, targets)            # what the loss returns
    loss_fn = resolve_loss("token_ce", ignore_index=-100)
    loss_fn(outputs, batch)["loss"]                  # always a LossReturn dict

Plugins are found through the ``losses.plugins`` entry-point group, lazily on
first use; see :mod:`losses_core.hookspecs` for the hooks.
"""

from __future__ import annotations

from losses_core._call import LossCall
from losses_core._discovery import PluginFailure
from losses_core._errors import (
    ConfigError,
    HookError,
    LossConflictError,
    LossError,
    LossInputError,
    LossParameterError,
    LossRegistrationError,
    LossResultError,
    MissingInputError,
    NonFiniteLossError,
    UnknownLossError,
)
from losses_core._handle import RegisteredLoss
from losses_core._listing import LossInfo, PluginInfo, list_losses, list_plugins
from losses_core._manager import register_hooks, unregister_hooks, use_hooks
from losses_core._mapping import LOSSES
from losses_core._markers import ENTRY_POINT_GROUP, hookimpl
from losses_core._registry import LossEntry, LossRegistrar
from losses_core._resolve import ResolvedLoss, resolve_loss
from losses_core._runtime import register_loss
from losses_core._types import LossFunction, LossOutput, LossReturn
from losses_core._version import __version__
from losses_core.builtin_hooks import MetricsCollector, NonFiniteGuard
from losses_core.config import load_config, loss_from_config

__all__ = [
    "ENTRY_POINT_GROUP",
    "LOSSES",
    "ConfigError",
    "HookError",
    "LossCall",
    "LossConflictError",
    "LossEntry",
    "LossError",
    "LossFunction",
    "LossInfo",
    "LossInputError",
    "LossOutput",
    "LossParameterError",
    "LossRegistrar",
    "LossRegistrationError",
    "LossResultError",
    "LossReturn",
    "MetricsCollector",
    "MissingInputError",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PluginFailure",
    "PluginInfo",
    "RegisteredLoss",
    "ResolvedLoss",
    "UnknownLossError",
    "__version__",
    "hookimpl",
    "list_losses",
    "list_plugins",
    "load_config",
    "loss_from_config",
    "register_hooks",
    "register_loss",
    "resolve_loss",
    "unregister_hooks",
    "use_hooks",
]
