"""Plugins: lazy, deterministic, failure-tolerant discovery and loading of the
``losses.plugins`` entry points and of the built-in losses."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from losses_core._environment import PluginControls
from losses_core._hooks import (
    add_hook_plugin,
    get_hook_plugin,
    hook_implementations,
    register_plugin_losses,
    remove_hook_plugin,
)
from losses_core._registry import (
    CORE_PROVIDER,
    LOADING,
    REGISTRY,
    RUNTIME_PROVIDER,
    LossEntry,
    claim_preimported_losses,
    normalize_distribution,
)
from losses_core._types import ENTRY_POINT_GROUP
from losses_core._version import __version__

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
    normalised distribution name then entry-point name.

    A distribution visible more than once on ``sys.path`` counts once (the
    first, as for imports). The scan reads ``*.dist-info/entry_points.txt``
    directly, which costs a fraction of ``importlib.metadata``'s generic
    search; when an import hook provides distributions of its own it falls
    back to ``importlib.metadata.entry_points``.
    """
    found = _scan_path_entries() if _only_standard_finders() else None
    if found is None:
        found = _metadata_entry_points()
    seen: dict[tuple[str, str], _Candidate] = {}
    for candidate in found:
        seen.setdefault((candidate.distribution, candidate.entry_point.name), candidate)
    return [seen[key] for key in sorted(seen)]


def _metadata_entry_points() -> list[_Candidate]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        raw_name, version = _name_and_version(ep)
        found.append(_Candidate(normalize_distribution(raw_name), version, ep))
    return found


def _only_standard_finders() -> bool:
    from importlib.machinery import PathFinder

    return all(
        finder is PathFinder or not hasattr(finder, "find_distributions") for finder in sys.meta_path
    ) and all(not hasattr(hook, "find_distributions") for hook in sys.path_hooks)


def _scan_path_entries() -> list[_Candidate] | None:
    """Entry points of the group from ``*.dist-info`` folders on ``sys.path``;
    ``None`` if something there needs ``importlib.metadata`` (an egg)."""
    from importlib.metadata import EntryPoint

    header = f"[{ENTRY_POINT_GROUP}]"
    seen_distributions: set[str] = set()
    found: list[_Candidate] = []
    for entry in sys.path:
        directory = entry or "."
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".egg-info") or folder.endswith(".egg"):
                return None
            if not folder.endswith(".dist-info"):
                continue
            raw_name, _, version = folder[: -len(".dist-info")].partition("-")
            name = normalize_distribution(raw_name)
            if name in seen_distributions:
                continue
            seen_distributions.add(name)
            try:
                with open(os.path.join(directory, folder, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue
            if header not in text:
                continue
            for ep_name, value in _section(text, header):
                ep = EntryPoint(name=ep_name, value=value, group=ENTRY_POINT_GROUP)
                found.append(_Candidate(name, version or None, ep))
    return found


def _section(text: str, header: str) -> list[tuple[str, str]]:
    """``name = value`` lines of one ``[section]`` of an entry_points.txt."""
    items = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == header
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            items.append((name.strip(), value.strip()))
    return items


def _name_and_version(ep: EntryPoint) -> tuple[str, str | None]:
    """The distribution's name and version, from its ``name-version.dist-info``
    folder when it has one (parsing METADATA costs ~0.2 ms per distribution)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.name, None
    path = getattr(dist, "_path", None)
    if path is not None and getattr(path, "suffix", "") == ".dist-info":
        name, separator, version = path.stem.partition("-")
        if name and separator and version and "-" not in version:
            return name, version
    return dist.name, dist.version


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


def _load_builtins() -> None:
    """Import the built-in losses (their ``@register_loss`` decorators register
    them under losses-core), claiming any registered by an earlier import."""
    version = __version__
    preimported = "losses_core.losses" in sys.modules
    token = LOADING.set((CORE_PROVIDER, version))
    try:
        importlib.import_module("losses_core.losses")
    finally:
        LOADING.reset(token)
    if preimported:
        claim_preimported_losses("losses_core", CORE_PROVIDER, version)


def _load_entry_point(distribution: str, version: str | None, entry_point: Any) -> LoadResult:
    """Import one plugin, register its losses, and hand it to pluggy only if
    it implements hooks beyond registration (pluggy is imported only then)."""
    before = {id(e) for e in REGISTRY.entries_of(distribution)}
    token = LOADING.set((distribution, version))
    registered_name: str | None = None
    claimed: set[int] = set()
    try:
        package = entry_point.value.partition(":")[0].partition(".")[0]
        preimported = package in sys.modules
        plugin = entry_point.load()
        if preimported:
            claimed = {id(e) for e in claim_preimported_losses(package, distribution, version)}
        implementations = hook_implementations(plugin)
        if LOADER.controls.trace and "losses_register" in implementations:
            sys.stderr.write(f"losses: calling losses_register of {distribution}\n")
        register_plugin_losses(
            plugin, provider=distribution, version=version, implementations=implementations
        )
        if set(implementations) - {"losses_register"}:
            taken = get_hook_plugin(distribution) is not None
            registered_name = add_hook_plugin(
                plugin, name=f"{distribution}:{entry_point.name}" if taken else distribution
            )
    except BaseException:
        # losses the user's own import registered go back to ``runtime``;
        # what this load registered is undone
        REGISTRY.reattribute(lambda e: id(e) in claimed, RUNTIME_PROVIDER, None)
        for entry in REGISTRY.entries_of(distribution):
            if id(entry) not in before:
                REGISTRY.remove_entry(entry)
        if registered_name is not None:
            remove_hook_plugin(name=registered_name)
        raise
    finally:
        LOADING.reset(token)
    return LoadResult(registered_name, tuple(sorted(implementations)))


LOADER = PluginLoader(_load_builtins, _load_entry_point)


def ensure_loaded() -> None:
    """Load built-in losses and installed plugins, once per process."""
    LOADER.ensure_loaded()


def lookup(name: str) -> LossEntry:
    """The entry ``name`` denotes, after loading plugins."""
    LOADER.ensure_loaded()
    return REGISTRY.lookup(name, unknown_hint=LOADER.failure_hint())
