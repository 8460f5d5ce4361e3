"""Lazy, deterministic, failure-tolerant loading of ``losses.plugins`` entry points."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from losses_core._environment import PluginControls
from losses_core._markers import ENTRY_POINT_GROUP
from losses_core._names import normalize_distribution

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint


class PluginFailure(NamedTuple):
    """A plugin that could not be loaded: its import or its hook raised."""

    distribution: str
    version: str | None
    entry_point: str
    error: str
    traceback: str

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.distribution}{version} (entry point {self.entry_point}): {self.error}"


class PluginRecord(NamedTuple):
    """A plugin distribution found in the ``losses.plugins`` group."""

    distribution: str
    version: str | None
    entry_point: str
    plugin_name: str | None
    status: str  # "loaded", "failed" or "skipped"
    reason: str | None = None
    hooks: tuple[str, ...] = ()


class LoadResult(NamedTuple):
    """What loading one entry point produced."""

    plugin_name: str | None
    hooks: tuple[str, ...]


class _Candidate(NamedTuple):
    distribution: str
    version: str | None
    entry_point: EntryPoint


def find_entry_points() -> list[_Candidate]:
    """The group's entry points, one per (distribution, name), sorted by
    normalised distribution name then entry-point name."""
    from importlib.metadata import entry_points

    seen: dict[tuple[str, str], _Candidate] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        raw_name = dist.name if dist is not None else ep.name
        name = normalize_distribution(raw_name)
        version = dist.version if dist is not None else None
        seen.setdefault((name, ep.name), _Candidate(name, version, ep))
    return [seen[key] for key in sorted(seen)]


class PluginLoader:
    """Loads plugins once per process, on first need, under a lock.

    ``load_one`` is given each candidate in order and does the actual
    registering, undoing its own partial work if it raises; a candidate whose
    load raises is recorded as a :class:`PluginFailure` and everything else
    keeps working.
    """

    def __init__(
        self,
        load_builtins: Callable[[], None],
        load_one: Callable[[str, str | None, Any], LoadResult],
    ) -> None:
        self._load_builtins = load_builtins
        self._load_one = load_one
        self._lock = threading.RLock()
        self._done = False
        self._in_progress = False
        self.records: list[PluginRecord] = []
        self.failures: list[PluginFailure] = []
        self.controls = PluginControls()

    @property
    def done(self) -> bool:
        return self._done

    def ensure_loaded(self) -> None:
        """Load built-ins and plugins unless already done (thread-safe)."""
        if self._done:
            return
        with self._lock:
            if self._done or self._in_progress:
                return
            self._in_progress = True
            try:
                self._load_all()
            finally:
                self._in_progress = False
                self._done = True

    def _load_all(self) -> None:
        self.controls = controls = PluginControls.from_environment()
        self._load_builtins()
        if not controls.autoload:
            self._trace(controls, "plugin autoloading disabled")
            return
        for candidate in find_entry_points():
            ep = candidate.entry_point
            ep_text = f"{ep.name} = {ep.value}"
            reason = controls.skip_reason(candidate.distribution)
            if reason is not None:
                self._trace(controls, f"skipping {candidate.distribution}: {reason}")
                self.records.append(
                    PluginRecord(candidate.distribution, candidate.version, ep_text, None, "skipped", reason)
                )
                continue
            self._trace(controls, f"loading {candidate.distribution} ({ep_text})")
            try:
                loaded = self._load_one(candidate.distribution, candidate.version, ep)
            except Exception as exc:
                failure = PluginFailure(
                    distribution=candidate.distribution,
                    version=candidate.version,
                    entry_point=ep_text,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback="".join(traceback.format_exception(exc)),
                )
                self.failures.append(failure)
                self.records.append(
                    PluginRecord(
                        candidate.distribution, candidate.version, ep_text, None, "failed", failure.error
                    )
                )
                self._trace(controls, f"failed {failure.describe()}")
                continue
            self.records.append(
                PluginRecord(
                    candidate.distribution,
                    candidate.version,
                    ep_text,
                    loaded.plugin_name,
                    "loaded",
                    hooks=loaded.hooks,
                )
            )

    @staticmethod
    def _trace(controls: PluginControls, message: str) -> None:
        if controls.trace:
            sys.stderr.write(f"losses: {message}\n")

    def failure_hint(self) -> str:
        """A sentence listing failed plugins, for 'unknown loss' errors."""
        if not self.failures:
            return ""
        listed = "; ".join(f.describe() for f in self.failures)
        return f"These plugins failed to load and may provide it: {listed}."
