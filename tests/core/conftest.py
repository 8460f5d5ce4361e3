"""Fixtures for losses-core's unit tests: runtime registrations and hook
plugins made by a test are undone after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from losses_core._manager import MANAGER
from losses_core._runtime import REGISTRY, ensure_loaded


@pytest.fixture(autouse=True)
def isolated_registry() -> Iterator[None]:
    ensure_loaded()
    entries_before = set(REGISTRY.entries())
    plugins_before = {id(p) for p in MANAGER.get_plugins()}
    yield
    for entry in REGISTRY.entries():
        if entry not in entries_before:
            REGISTRY.remove_entry(entry)
    for plugin in list(MANAGER.get_plugins()):
        if id(plugin) not in plugins_before:
            MANAGER.unregister(plugin)
    for entry in entries_before:
        if entry not in set(REGISTRY.entries()):
            REGISTRY.add(entry)
