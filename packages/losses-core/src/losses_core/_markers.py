"""The pluggy markers of the ``losses`` project."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "losses"
"""The pluggy project name; also the prefix of the entry-point group."""

ENTRY_POINT_GROUP = "losses.plugins"
"""The entry-point group that installed distributions use to provide plugins."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate functions of a plugin module or
methods of a plugin object with ``@hookimpl`` (``@hookimpl(tryfirst=True)``
and the other pluggy options work too)."""
