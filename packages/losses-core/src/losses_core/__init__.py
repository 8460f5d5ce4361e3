"""losses-core: the loss-function protocol, the plugin registry, hooks and config.

The public API::

    from losses_core import LOSSES, register_loss, resolve_loss

    LOSSES["mse"](model_output, targets)            # what the loss returns
    loss_fn = resolve_loss("token_ce", ignore_index=-100)
    loss_fn(outputs, batch)["loss"]                  # always a LossReturn dict

Plugins are found through the ``losses.plugins`` entry-point group, lazily on
first use; see :mod:`losses_core.hookspecs` for the hooks.

Attributes are imported on first access (PEP 562), so ``import losses_core``
costs almost nothing until the registry is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core._version import __version__
from losses_core.lazy import export_lazily

if TYPE_CHECKING:
    from losses_core._call import LossCall, RegisteredLoss
    from losses_core._errors import (
        ConfigError,
        HookError,
        LossConflictError,
        LossEnvironmentError,
        LossError,
        LossInputError,
        LossParameterError,
        LossRegistrationError,
        LossResultError,
        MissingInputError,
        NonFiniteLossError,
        UnknownLossError,
    )
    from losses_core._hooks import hookimpl, register_hooks, unregister_hooks, use_hooks
    from losses_core._listing import LossInfo, PluginInfo, list_losses, list_plugins
    from losses_core._mapping import LOSSES
    from losses_core._names import ENTRY_POINT_GROUP
    from losses_core._plugins import PluginFailure
    from losses_core._registry import LossEntry, LossRegistrar, register_loss
    from losses_core._resolve import ResolvedLoss, resolve_loss
    from losses_core._types import LossFunction, LossOutput, LossReturn
    from losses_core.builtin_hooks import MetricsCollector, NonFiniteGuard
    from losses_core.config import load_config, loss_from_config
    from losses_core.inputs import Input
    from losses_core.module import LossModule
    from losses_core.params import Range

_EXPORTS = {
    "ENTRY_POINT_GROUP": "_names",
    "LOSSES": "_mapping",
    "ConfigError": "_errors",
    "HookError": "_errors",
    "Input": "inputs",
    "LossCall": "_call",
    "LossConflictError": "_errors",
    "LossEntry": "_registry",
    "LossEnvironmentError": "_errors",
    "LossError": "_errors",
    "LossFunction": "_types",
    "LossInfo": "_listing",
    "LossInputError": "_errors",
    "LossModule": "module",
    "LossOutput": "_types",
    "LossParameterError": "_errors",
    "LossRegistrar": "_registry",
    "LossRegistrationError": "_errors",
    "LossResultError": "_errors",
    "LossReturn": "_types",
    "MetricsCollector": "builtin_hooks",
    "MissingInputError": "_errors",
    "NonFiniteGuard": "builtin_hooks",
    "NonFiniteLossError": "_errors",
    "PluginFailure": "_plugins",
    "PluginInfo": "_listing",
    "Range": "params",
    "RegisteredLoss": "_call",
    "ResolvedLoss": "_resolve",
    "UnknownLossError": "_errors",
    "hookimpl": "_hooks",
    "list_losses": "_listing",
    "list_plugins": "_listing",
    "load_config": "config",
    "loss_from_config": "config",
    "register_hooks": "_hooks",
    "register_loss": "_registry",
    "resolve_loss": "_resolve",
    "unregister_hooks": "_hooks",
    "use_hooks": "_hooks",
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "LOSSES",
    "ConfigError",
    "HookError",
    "Input",
    "LossCall",
    "LossConflictError",
    "LossEntry",
    "LossEnvironmentError",
    "LossError",
    "LossFunction",
    "LossInfo",
    "LossInputError",
    "LossModule",
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
    "Range",
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


export_lazily(__name__, _EXPORTS)
