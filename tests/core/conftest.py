"""Fixtures for losses-core's unit tests: runtime registrations and hook
plugins made by a test are undone after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from losses_core.testing import isolated_registry


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    with isolated_registry():
        yield
