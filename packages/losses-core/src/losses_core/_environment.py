"""Environment variables that control plugin loading.

``LOSSES_DISABLE_PLUGIN_AUTOLOAD``
    ``1`` (or ``true``/``yes``/``on``) loads no plugin from the
    ``losses.plugins`` entry-point group. Built-in losses and runtime
    registrations still work. ``0``/``false``/``no``/``off`` or unset: load them.
``LOSSES_LOAD_PLUGINS``
    Comma-separated allowlist of distribution names to load. Set but empty
    means load none.
``LOSSES_DISABLE_PLUGINS``
    Comma-separated blocklist of distribution names not to load.
``LOSSES_TRACE_PLUGINS``
    ``1`` prints plugin loading and every hook call to stderr.
``LOSSES_CONFIG_ALLOW_IMPORT``
    ``0`` forbids ``"package.module:attr"`` specs in config files.

Every value is checked when plugins are first discovered: an invalid one
raises :class:`losses_core.LossEnvironmentError` naming the variable and the
accepted values, and nothing is cached, so fixing it and retrying works.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from losses_core._errors import LossEnvironmentError
from losses_core._names import close_matches, is_distribution_name, normalize_distribution

DISABLE_AUTOLOAD = "LOSSES_DISABLE_PLUGIN_AUTOLOAD"
LOAD_PLUGINS = "LOSSES_LOAD_PLUGINS"
DISABLE_PLUGINS = "LOSSES_DISABLE_PLUGINS"
TRACE_PLUGINS = "LOSSES_TRACE_PLUGINS"
CONFIG_ALLOW_IMPORT = "LOSSES_CONFIG_ALLOW_IMPORT"

FLAGS = (DISABLE_AUTOLOAD, TRACE_PLUGINS, CONFIG_ALLOW_IMPORT)
NAME_LISTS = (LOAD_PLUGINS, DISABLE_PLUGINS)
KNOWN = (*FLAGS, *NAME_LISTS)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
FLAG_VALUES = "1/0, true/false, yes/no or on/off (any case), or empty for the default"
NAME_LIST_VALUES = "comma-separated distribution names such as 'losses-vae,losses-sae'"


def env_flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Read a boolean environment variable.

    :raises LossEnvironmentError: the value is not one of :data:`FLAG_VALUES`.
    """
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise LossEnvironmentError(f"environment variable {name}={value!r} is invalid: expected {FLAG_VALUES}")


def env_names(name: str, environ: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """Read a comma-separated list of distribution names (``None`` if unset).

    :raises LossEnvironmentError: an item is not a distribution name.
    """
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    bad = [item for item in items if item and not is_distribution_name(item)]
    if bad:
        raise LossEnvironmentError(
            f"environment variable {name}={value!r} is invalid: {', '.join(map(repr, bad))} is not a "
            f"distribution name; expected {NAME_LIST_VALUES}"
        )
    return frozenset(normalize_distribution(item) for item in items if item)


def unknown_variables(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """``LOSSES_*`` variables that no control reads, each with a close known name."""
    found: dict[str, str | None] = {}
    for key in sorted(os.environ if environ is None else environ):
        if key.startswith("LOSSES_") and key not in KNOWN:
            close = close_matches(key, list(KNOWN), n=1, cutoff=0.7)
            found[key] = close[0] if close else None
    return found


class PluginControls:
    """The plugin-loading settings read from the environment."""

    __slots__ = ("allow", "allow_import", "autoload", "block", "trace")

    def __init__(
        self,
        autoload: bool = True,
        allow: frozenset[str] | None = None,
        block: frozenset[str] = frozenset(),
        trace: bool = False,
        allow_import: bool = True,
    ) -> None:
        self.autoload = autoload
        self.allow = allow
        self.block = block
        self.trace = trace
        self.allow_import = allow_import

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PluginControls:
        """Read and check every control.

        :raises LossEnvironmentError: one of them has an invalid value.
        """
        return cls(
            autoload=not env_flag(DISABLE_AUTOLOAD, environ=environ),
            allow=env_names(LOAD_PLUGINS, environ),
            block=env_names(DISABLE_PLUGINS, environ) or frozenset(),
            trace=env_flag(TRACE_PLUGINS, environ=environ),
            allow_import=env_flag(CONFIG_ALLOW_IMPORT, default=True, environ=environ),
        )

    def skip_reason(self, distribution: str) -> str | None:
        """Why ``distribution`` is not loaded, or ``None`` if it is."""
        if not self.autoload:
            return f"plugin autoloading is disabled ({DISABLE_AUTOLOAD})"
        if self.allow is not None and distribution not in self.allow:
            return f"not in {LOAD_PLUGINS}"
        if distribution in self.block:
            return f"listed in {DISABLE_PLUGINS}"
        return None
