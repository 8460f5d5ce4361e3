"""Plugins: the catalogue read from package metadata, and the imports it
defers until a loss is needed.

Three stages, each run once per process under a lock:

1. **catalogue**: read the ``LOSSES_*`` controls, the built-in declarations
   and every installed distribution's ``losses.plugins`` entry points: one
   per loss name (``name = module:attr``), which enter the registry as
   declarations, a manifest (``package:losses.json``), read only when a
   listing needs summaries or a conflict needs ``override``, and plugin
   modules (``module``). No plugin module and no torch is imported.
2. **start** (the first lookup): import the plugin modules: they may
   implement hooks, which must see every call, and register losses only
   known by importing them (dynamic plugins).
3. **one loss** (each lookup of a declared loss): import its module, whose
   ``@register_loss`` replaces the declaration.

Plugin code runs contained: whatever it raises (``SystemExit`` included;
``KeyboardInterrupt`` still stops) is recorded against its distribution, and
what it prints is captured, recorded and written to stderr, never stdout.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from losses_core._capture import captured_output
from losses_core._environment import PluginControls
from losses_core._errors import UnknownLossError
from losses_core._manifest import (
    LOSS,
    MANIFEST,
    MANIFEST_FILE,
    MODULE,
    Manifest,
    ManifestError,
    check_reference,
    declared_losses,
    entry_kind,
    read_manifest,
)
from losses_core._metadata import (
    Installed,
    InstalledPlugin,
    InstallProblem,
    entry_point_section,
    scan_installed,
)
from losses_core._names import (
    CORE_PROVIDER,
    ENTRY_POINT_GROUP,
    QUALIFIER,
    check_loss_name,
    normalize_distribution,
)
from losses_core._registry import (
    LOADING,
    REGISTRY,
    DeclaredLoss,
    LossEntry,
    claim_declared_losses,
)
from losses_core._version import __version__

T = TypeVar("T")

_CALL_HOOKS = frozenset({"losses_pre_loss", "losses_post_loss"})

_HERE = os.path.dirname(os.path.abspath(__file__))
BUILTIN_ENTRY_POINTS = os.path.join(_HERE, "losses", "entry_points.txt")
"""The built-in losses, declared as a distribution declares its losses."""
FIRST_PARTY_CATALOGUE = os.path.join(_HERE, "first_party.json")
"""The names and aliases of every first-party distribution's losses, so that
an unknown name another first-party distribution provides says what to install."""


class PluginFailure(NamedTuple):
    """Plugin code or metadata that could not be loaded: an import that
    raised, a missing or invalid manifest or entry point, a malformed install."""

    distribution: str
    version: str | None
    entry_point: str
    error: str
    traceback: str

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.distribution}{version} ({self.entry_point}): {self.error}"


class PluginRecord:
    """One distribution with entry points in the group (or the built-ins),
    and what became of it.

    ``form`` is ``"builtin"``, ``"static"`` (entry points declare its
    losses) or ``"dynamic"`` (only plugin modules: its losses are known by
    importing them). ``status`` is ``"available"`` (catalogued, imported on
    demand), ``"loaded"`` (its plugin modules imported), ``"failed"`` or
    ``"skipped"``.
    """

    __slots__ = (
        "_manifest",
        "declared",
        "distribution",
        "entry_points",
        "errors",
        "form",
        "hooks",
        "location",
        "manifest_ref",
        "modules",
        "output",
        "plugin_names",
        "reason",
        "status",
        "version",
    )

    def __init__(
        self, distribution: str, version: str | None, form: str, location: str | None = None
    ) -> None:
        self.distribution = distribution
        self.version = version
        self.form = form
        self.location = location
        self.status = "available"
        self.reason: str | None = None
        self.entry_points: list[tuple[str, str]] = []
        self.manifest_ref: str | None = None
        self._manifest: Manifest | None = None
        self.modules: list[str] = []
        """Plugin modules, imported at the first lookup."""
        self.declared: list[DeclaredLoss] = []
        """The losses its entry points declare."""
        self.hooks: tuple[str, ...] = ()
        self.plugin_names: list[str] = []
        self.errors: list[str] = []
        """What failed: an unreadable manifest, an import that raised."""
        self.output: list[str] = []
        """What its code printed when imported."""

    def __repr__(self) -> str:
        return f"PluginRecord({self.distribution!r}, form={self.form!r}, status={self.status!r})"

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}" if self.version else self.distribution

    @property
    def entry_point(self) -> str:
        """Its entry points, for messages."""
        if len(self.entry_points) > 3:
            return f"{len(self.entry_points)} entry points"
        return "; ".join(f"{name} = {value}" for name, value in self.entry_points)


class _Contained(Exception):
    """Plugin code raised; the failure is recorded already."""


class PluginLoader:
    """The catalogue and the deferred imports (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._catalogued = False
        self._started = False
        self._starting = False
        self._listed = False
        self._loaded_modules: set[tuple[str, str]] = set()
        self.records: list[PluginRecord] = []
        self.failures: list[PluginFailure] = []
        self._hiding: set[int] = set()
        self.installed = Installed([], [], {})
        self.controls = PluginControls()
        self.use_cache = True
        """Read unchanged ``sys.path`` directories from the scan cache
        (``losses doctor`` scans everything afresh)."""
        self.replay_output = True
        """Write what plugin code printed to stderr (the CLI reports it instead)."""

    # -- stage 1 ------------------------------------------------------------------------
    def catalogue(self) -> None:
        """Read the controls and every distribution's entry points, once (thread-safe).

        :raises LossEnvironmentError: a ``LOSSES_*`` variable is invalid;
            nothing is recorded, so a later call reads the environment again.
        """
        if self._catalogued:
            return
        with self._lock:
            if self._catalogued:
                return
            controls = PluginControls.from_environment()
            self.controls = controls
            try:
                self._catalogue_all(controls)
            except BaseException:
                # leave nothing half-done: the next call starts again
                present = set(REGISTRY.entries())
                for record in self.records:
                    for entry in record.declared:
                        if entry in present:
                            REGISTRY.remove_entry(entry)
                self.records, self.failures, self._hiding = [], [], set()
                raise
            self._catalogued = True

    def _catalogue_all(self, controls: PluginControls) -> None:
        """The built-ins, then every installed distribution's entry points."""
        self._catalogue_builtins()
        if controls.autoload:
            self.installed = scan_installed(use_cache=self.use_cache)
            self._catalogue_installed(self.installed.plugins)
            for problem in self.installed.problems:
                record = PluginRecord(problem.distribution, None, "static", problem.location)
                record.entry_points.append(("(malformed install)", problem.location))
                self.records.append(record)
                self._fail(record, f"malformed install at {problem.location}: {problem.problem}", "")
        else:
            self._trace("plugin autoloading disabled")
        packages: dict[str, tuple[str, str | None]] = {}
        for record in self.records:
            for entry in record.declared:
                packages.setdefault(
                    entry.object.partition(".")[0].partition(":")[0], (entry.provider, entry.version)
                )
        REGISTRY.declare_packages(packages)
        claim_declared_losses()

    def _catalogue_builtins(self) -> None:
        record = PluginRecord(CORE_PROVIDER, __version__, "builtin", BUILTIN_ENTRY_POINTS)
        self.records.append(record)
        try:
            with open(BUILTIN_ENTRY_POINTS, encoding="utf-8") as file:
                entries = entry_point_section(file.read(), f"[{ENTRY_POINT_GROUP}]")
        except (OSError, UnicodeDecodeError) as exc:  # a broken losses-core install
            self._fail(record, f"{type(exc).__name__}: {exc}", "")
            return
        self._declare(record, entries)

    def _catalogue_installed(self, plugins: list[InstalledPlugin]) -> None:
        by_distribution: dict[str, list[InstalledPlugin]] = {}
        for plugin in plugins:
            by_distribution.setdefault(plugin.distribution, []).append(plugin)
        for distribution, entries in by_distribution.items():
            first = entries[0]
            record = PluginRecord(distribution, first.version, "static", first.location)
            self.records.append(record)
            pairs = [(e.name, e.value) for e in entries]
            record.entry_points = pairs
            reason = self.controls.skip_reason(distribution)
            if reason is not None:
                record.status, record.reason = "skipped", reason
                self._trace(f"skipping {distribution}: {reason}")
                continue
            self._declare(record, pairs)

    def _declare(self, record: PluginRecord, entries: list[tuple[str, str]]) -> None:
        """Sort a distribution's entry points into losses, manifest and plugin
        modules, and declare its losses (in bulk: no import, no manifest read)."""
        losses: list[tuple[str, str]] = []
        for name, value in entries:
            kind = entry_kind(value)
            if kind == LOSS and normalize_distribution(name) == record.distribution:
                kind = MODULE  # named after the distribution: a plugin object (the 0.2 form), never a loss
            try:
                if kind == LOSS:
                    check_loss_name(name)
                    losses.append((name, check_reference(value, f"entry point {name}")))
                elif kind == MANIFEST:
                    record.manifest_ref = value.strip()
                else:
                    record.modules.append(check_reference(value, f"entry point {name}", attribute=False))
            except ValueError as exc:
                self._fail(record, str(exc), "", f"{name} = {value}")
        if record.form != "builtin" and record.modules and not losses:
            record.form = "dynamic"
        details = self._details(record)
        declared = [
            DeclaredLoss(names, obj, record.distribution, record.version, details=details)
            for names, obj in declared_losses(losses)
        ]
        record.declared = declared
        problem = REGISTRY.add_declared(declared)
        if problem:
            self._fail(record, problem, "")
        if self.controls.trace:
            self._trace(f"catalogued {record.distribution} ({len(declared)} losses)")

    def _details(self, record: PluginRecord) -> Callable[[tuple[str, ...]], tuple[str, str, bool] | None]:
        """A declared loss's name (which of its entry-point names the manifest
        lists), summary and override flag, from its distribution's manifest,
        read on first need."""

        def details(names: tuple[str, ...]) -> tuple[str, str, bool] | None:
            manifest = self.manifest_of(record)
            if manifest is None:
                return None
            for name in names:
                if name in manifest.summaries:
                    return name, manifest.summaries[name], name in manifest.overrides
            return None

        return details

    def manifest_of(self, record: PluginRecord) -> Manifest | None:
        """A distribution's manifest, read once; ``None`` if it has none or it is invalid."""
        if record._manifest is not None or record.manifest_ref is None:
            return record._manifest
        with self._lock:
            if record._manifest is None and record.manifest_ref is not None:
                try:
                    near = None if record.form == "builtin" else record.location
                    record._manifest = read_manifest(record.manifest_ref, near)
                except Exception as exc:
                    message = str(exc) if isinstance(exc, ManifestError) else f"{type(exc).__name__}: {exc}"
                    self._fail(record, f"manifest: {message}", "", record.manifest_ref, hides=False)
                    record.manifest_ref = None
            return record._manifest

    # -- stage 2 ------------------------------------------------------------------------
    def start(self) -> None:
        """Catalogue, then import every plugin module, once."""
        if self._started:
            return
        self.catalogue()
        with self._lock:
            if self._started or self._starting:
                return
            self._starting = True
            try:
                self._load_modules(dynamic_only=False)
            finally:
                self._starting = False
                self._started = True

    def listing(self) -> None:
        """What a full listing needs: the catalogue and the dynamic plugins
        (a static plugin's hooks module waits for the first lookup)."""
        self.catalogue()
        if self._started or self._listed:
            return
        with self._lock:
            if self._started or self._listed or self._starting:
                return
            self._listed = True
            self._load_modules(dynamic_only=True)

    def _load_modules(self, *, dynamic_only: bool) -> None:
        for record in list(self.records):
            if record.status == "skipped" or (dynamic_only and record.form != "dynamic"):
                continue
            for module in record.modules:
                if (record.distribution, module) not in self._loaded_modules:
                    self._loaded_modules.add((record.distribution, module))
                    self._load_module(record, module)

    def verify(self) -> None:
        """What ``losses plugins`` and ``losses doctor`` check beyond a
        listing: every manifest is read, and every distribution's metadata
        folder has its metadata file (the lookup path skips both)."""
        self.listing()
        for record in list(self.records):
            if record.status == "skipped" or record.form in ("runtime", "builtin"):
                continue
            self.manifest_of(record)
            if (
                record.manifest_ref is None
                and record._manifest is None
                and record.form == "static"
                and (record.declared and not any("manifest" in e for e in record.errors))
            ):
                self._fail(record, "no manifest: add an entry point 'package:losses.json'", "", hides=False)
            location = record.location
            if location and location.endswith((".dist-info", ".egg-info", ".egg")):
                metadata = "METADATA" if location.endswith(".dist-info") else "PKG-INFO"
                folder = location + (os.sep + "EGG-INFO" if location.endswith(".egg") else "")
                if not os.path.isfile(os.path.join(folder, metadata)) and not any(
                    metadata in e for e in record.errors
                ):
                    problem = f"no {metadata} file: a broken or partial install"
                    self.installed.problems.append(InstallProblem(record.distribution, location, problem))
                    self._fail(
                        record,
                        f"malformed install at {location}: {problem}",
                        "",
                        "(malformed install)",
                        hides=False,
                    )

    def _load_module(self, record: PluginRecord, reference: str) -> None:
        """Import a plugin module, call its ``losses_register`` and hand it to
        pluggy if it implements call hooks; undo everything if any step raises."""
        from losses_core._hooks import (
            add_hook_plugin,
            get_hook_plugin,
            hook_implementations,
            register_plugin_losses,
            remove_hook_plugin,
        )

        self._trace(f"loading {record.distribution} ({reference})")
        before = set(map(id, REGISTRY.entries_of(record.distribution)))
        registered_name: list[str] = []

        def load() -> tuple[str, ...]:
            plugin = _load_reference(reference)
            implementations = hook_implementations(plugin)
            if self.controls.trace and "losses_register" in implementations:
                sys.stderr.write(f"losses: calling losses_register of {record.distribution}\n")
            register_plugin_losses(
                plugin, provider=record.distribution, version=record.version, implementations=implementations
            )
            if set(implementations) & _CALL_HOOKS:
                name = record.distribution
                if get_hook_plugin(name) is not None:
                    name = f"{record.distribution}:{reference}"
                registered_name.append(add_hook_plugin(plugin, name=name))
            return tuple(sorted(implementations))

        def undo() -> None:
            for entry in REGISTRY.entries_of(record.distribution):
                if id(entry) not in before and isinstance(entry, LossEntry):
                    REGISTRY.remove_entry(entry)
            for name in registered_name:
                remove_hook_plugin(name=name)

        token = LOADING.set((record.distribution, record.version))
        try:
            hooks = self._contain(record, reference, load, undo)
        except _Contained:
            return
        finally:
            LOADING.reset(token)
        if record.status == "available":
            record.status = "loaded"
        record.hooks = tuple(sorted({*record.hooks, *hooks}))
        record.plugin_names += registered_name

    # -- stage 3 ------------------------------------------------------------------------
    def import_declared(self, declared: DeclaredLoss) -> LossEntry:
        """Import the module of a declared loss; return its registered entry.

        :raises UnknownLossError: the import failed, or it registered no loss
            of that name (the distribution's declarations are out of date).
        """
        with self._lock:
            current = REGISTRY.lookup(_spec(declared))
            if isinstance(current, LossEntry):
                return current
            declared = current
            if declared.error is None:
                self._import_declared(declared)
            current = REGISTRY.lookup(_spec(declared))
            if isinstance(current, LossEntry):
                return current
            raise UnknownLossError(
                f"loss {declared.name!r} of {declared.provider_label} cannot be used: {declared.error}"
            )

    def _import_declared(self, declared: DeclaredLoss) -> None:
        record = self.record_of(declared.provider)
        before = REGISTRY.entries_of(declared.provider)
        if self.controls.trace:
            self._trace(f"importing {declared.module} for {_spec(declared)}")

        def undo() -> None:
            kept = set(map(id, before))
            for entry in REGISTRY.entries_of(declared.provider):
                if id(entry) not in kept:
                    REGISTRY.remove_entry(entry)
            present = set(map(id, REGISTRY.entries_of(declared.provider)))
            for entry in before:
                if id(entry) not in present:
                    REGISTRY.add(entry)

        token = LOADING.set((declared.provider, declared.version))
        try:
            module = self._contain(
                record, declared.object, lambda: importlib.import_module(declared.module), undo
            )
        except _Contained:
            declared.error = record.errors[-1] if record.errors else "its import failed"
            return
        finally:
            LOADING.reset(token)
        try:
            _follow(module, declared.object.partition(":")[2])
        except AttributeError as exc:
            declared.error = (
                f"{declared.object}: AttributeError: {declared.module} has no attribute {exc.name or exc!s}"
            )
            self._fail(record, declared.error, "", declared.object, hides=False)
            return
        if isinstance(REGISTRY.lookup(_spec(declared)), DeclaredLoss):
            declared.error = (
                f"{declared.provider_label} declares it as {declared.object}, but importing "
                f"{declared.module} registered no loss {declared.name!r}: its declarations (entry points, "
                f"{MANIFEST_FILE}) do not match its code (run `losses doctor --import`)"
            )
            self._fail(record, declared.error, "", declared.object, hides=False)

    # -- containment ------------------------------------------------------------------
    def _contain(self, record: PluginRecord, what: str, run: Callable[[], T], undo: Callable[[], None]) -> T:
        """Run plugin code: capture what it prints, record what it raises
        (after ``undo()``), and raise :class:`_Contained` then."""
        real_stderr = sys.stderr
        with captured_output() as (out, err):
            try:
                return run()
            except KeyboardInterrupt:
                undo()
                raise
            except BaseException as exc:
                undo()
                description = _describe(exc)
                tb = "".join(traceback.format_exception(exc))
                self._fail(record, f"{what}: {description}", tb, what, hides=what in record.modules)
                raise _Contained from None
            finally:
                for stream, text in (("stdout", out.text()), ("stderr", err.text())):
                    if text:
                        shown = text if len(text) <= 200 else text[:197] + "..."
                        record.output.append(f"{what} printed to {stream} when imported: {shown.strip()!r}")
                        if self.replay_output:
                            real_stderr.write(text)

    def _fail(
        self, record: PluginRecord, error: str, tb: str, entry_point: str | None = None, *, hides: bool = True
    ) -> None:
        """Record a failure; ``hides``: the losses it may provide are unknown
        because of it (named in 'unknown loss' errors)."""
        if record.status != "skipped":
            record.status = "failed"
        record.errors.append(error)
        failure = PluginFailure(
            record.distribution, record.version, entry_point or record.entry_point, error, tb
        )
        self.failures.append(failure)
        if hides:
            self._hiding.add(id(failure))
        self._trace(f"failed {failure.describe()}")

    def _trace(self, message: str) -> None:
        if self.controls.trace:
            sys.stderr.write(f"losses: {message}\n")

    # -- queries ------------------------------------------------------------------------
    def record_of(self, distribution: str) -> PluginRecord:
        """The (first) record of ``distribution``; a new runtime one if none."""
        for record in self.records:
            if record.distribution == distribution:
                return record
        record = PluginRecord(distribution, None, "runtime")
        record.status = "loaded"
        self.records.append(record)
        return record

    def unknown_hint(self, name: str) -> str:
        """What an 'unknown loss' error adds: the first-party distribution
        that provides ``name`` when it is not installed (or not loaded), and
        the plugins whose losses are unknown because they failed."""
        return " ".join(filter(None, [self.first_party_hint(name), self.failure_hint()]))

    def first_party_hint(self, name: str) -> str:
        """Which first-party distribution provides ``name``, if one does and it is not loaded."""
        import json

        from losses_core._names import fold_loss_name

        try:
            with open(FIRST_PARTY_CATALOGUE, encoding="utf-8") as file:
                catalogue = json.load(file)
        except (OSError, ValueError):
            return ""
        folded = fold_loss_name(name)
        for distribution, names in sorted(catalogue.items()):
            if folded not in {fold_loss_name(n) for n in names}:
                continue
            records = [r for r in self.records if r.distribution == distribution]
            skipped = [r for r in records if r.status == "skipped"]
            owner = f"{name!r} is a loss of {distribution}, which is"
            if skipped:
                return f"{owner} installed but not loaded: {skipped[0].reason}."
            if not records:
                return f"{owner} not installed: pip install {distribution}"
        return ""

    def failure_hint(self) -> str:
        """A sentence naming plugins whose losses may be unknown because they
        failed (a plugin module that did not import, an unusable entry point,
        a malformed install), for 'unknown loss' errors."""
        unknown = [f for f in self.failures if id(f) in self._hiding]
        if not unknown:
            return ""
        listed = "; ".join(f.describe() for f in unknown)
        return f"These plugins failed to load and may provide it: {listed}."


def _spec(declared: DeclaredLoss) -> str:
    """``name@provider`` with one of the declared names: no manifest read."""
    return f"{declared.names[0]}{QUALIFIER}{declared.provider}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the plugin tried to end the process"
    return f"{type(exc).__name__}: {exc}"


def _load_reference(reference: str) -> Any:
    """Import ``module`` and follow ``:attr.attr``."""
    module, _, attr = reference.partition(":")
    return _follow(importlib.import_module(module.strip()), attr)


def _follow(value: Any, attributes: str) -> Any:
    """``value.a.b`` for ``attributes`` ``"a.b"``."""
    for part in filter(None, attributes.strip().split(".")):
        value = getattr(value, part)
    return value


LOADER = PluginLoader()


def ensure_loaded() -> None:
    """Catalogue every loss and import the plugins that must see every call."""
    LOADER.start()


def lookup(name: str) -> LossEntry:
    """The registered entry ``name`` denotes, importing its module if it is
    only declared so far."""
    LOADER.start()
    entry = REGISTRY.lookup(name, unknown_hint=LOADER.unknown_hint)
    if isinstance(entry, DeclaredLoss):
        return LOADER.import_declared(entry)
    return entry


def find(name: str) -> LossEntry | DeclaredLoss:
    """The entry ``name`` denotes, registered or declared, importing nothing
    beyond the catalogue (for name checks)."""
    LOADER.listing()
    return REGISTRY.lookup(name, unknown_hint=LOADER.unknown_hint)


__all__ = [
    "LOADER",
    "PluginFailure",
    "PluginLoader",
    "PluginRecord",
    "ensure_loaded",
    "find",
    "lookup",
]
