"""Environment variables that control plugin loading.

``LOSSES_DISABLE_PLUGIN_AUTOLOAD``
    Set to ``1`` (or ``true``/``yes``/``on``) to load no plugin from the
    ``losses.plugins`` entry-point group. Built-in losses and runtime
    registrations still work.
``LOSSES_LOAD_PLUGINS``
    Comma-separated allowlist of distribution names to load. Set but empty
    means load none.
``LOSSES_DISABLE_PLUGINS``
    Comma-separated blocklist of distribution names not to load.
``LOSSES_TRACE_PLUGINS``
    Set to ``1`` to print plugin loading and every hook call to stderr.
``LOSSES_CONFIG_ALLOW_IMPORT``
    Set to ``0`` to forbid ``"package.module:attr"`` specs in config files.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from losses_core._registry import normalize_distribution

DISABLE_AUTOLOAD = "LOSSES_DISABLE_PLUGIN_AUTOLOAD"
LOAD_PLUGINS = "LOSSES_LOAD_PLUGINS"
DISABLE_PLUGINS = "LOSSES_DISABLE_PLUGINS"
TRACE_PLUGINS = "LOSSES_TRACE_PLUGINS"
CONFIG_ALLOW_IMPORT = "LOSSES_CONFIG_ALLOW_IMPORT"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (``1/true/yes/on``, ``0/false/no/off``)."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={value!r}: expected one of 1/0, true/false, yes/no, on/off"
    )


def _names(value: str) -> frozenset[str]:
    return frozenset(normalize_distribution(n.strip()) for n in value.split(",") if n.strip())


class PluginControls(NamedTuple):
    """The plugin-loading settings read from the environment."""

    autoload: bool = True
    allow: frozenset[str] | None = None
    block: frozenset[str] = frozenset()
    trace: bool = False

    @classmethod
    def from_environment(cls) -> PluginControls:
        allow_raw = os.environ.get(LOAD_PLUGINS)
        return cls(
            autoload=not env_flag(DISABLE_AUTOLOAD),
            allow=None if allow_raw is None else _names(allow_raw),
            block=_names(os.environ.get(DISABLE_PLUGINS, "")),
            trace=env_flag(TRACE_PLUGINS),
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
