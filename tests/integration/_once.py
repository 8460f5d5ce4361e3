"""Work done once per test session, whichever pytest-xdist worker asks first.

Session fixtures are per worker under pytest-xdist, so each worker would
build the wheels and the environments, and run every probe, again. Instead,
each piece of work has a key: the first worker to claim it (an atomic
``mkdir``) does it and publishes its JSON result in a directory that every
worker of the session shares; the others wait for that file. Without xdist
the directory is the session's own temporary directory.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WAIT_LIMIT_S = 900.0


class OnceError(AssertionError):
    """The worker that did the work failed; the message is its error."""


class Once:
    """Claims, results and waits under one shared directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_session(cls, factory: pytest.TempPathFactory) -> Once:
        base = factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            base = base.parent  # the controller's directory, shared by the workers
        return cls(base / "integration-once")

    def directory(self, key: str) -> Path:
        """A directory for the work of ``key`` (to be written by its claimant only)."""
        path = self.root / f"{key}.d"
        path.mkdir(exist_ok=True)
        return path

    def claim(self, key: str) -> bool:
        """Whether this worker is the first to ask for ``key``."""
        try:
            (self.root / f"{key}.claim").mkdir()
        except FileExistsError:
            return False
        return True

    def publish(self, key: str, value: Any = None, error: str | None = None) -> None:
        data = {"error": error} if error is not None else {"value": value}
        temporary = self.root / f"{key}.json.{os.getpid()}"
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.root / f"{key}.json")

    def wait(self, key: str) -> Any:
        """The published result of ``key``; raise :class:`OnceError` if its work failed."""
        path = self.root / f"{key}.json"
        deadline = time.monotonic() + WAIT_LIMIT_S
        delay = 0.01
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result for {key!r} after {WAIT_LIMIT_S} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        data = json.loads(path.read_text(encoding="utf-8"))
        if "error" in data:
            raise OnceError(f"{key}: {data['error']}")
        return data["value"]

    def run_if_first(self, key: str, work: Callable[[], Any]) -> Any:
        """``work()`` (a JSON value, published) if this worker is the first to
        ask for ``key``, else :data:`ELSEWHERE` at once."""
        if not self.claim(key):
            return ELSEWHERE
        try:
            value = work()
        except BaseException as exc:
            self.publish(key, error="".join(traceback.format_exception(exc)))
            raise
        self.publish(key, value)
        return value

    def run(self, key: str, work: Callable[[], Any]) -> Any:
        """``work()`` if this worker is the first to ask for ``key``, else the first one's result."""
        value = self.run_if_first(key, work)
        return self.wait(key) if value is ELSEWHERE else value


ELSEWHERE = object()
"""Another worker does the work: wait for its result."""
