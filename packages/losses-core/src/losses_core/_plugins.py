"""Plugins: the catalogue read from package metadata, and the imports it
defers until a loss is needed.

Three stages, each run once per process under a lock:

1. **catalogue**: read the ``LOSSES_*`` controls, the built-in manifest and
   every installed distribution's ``losses.plugins`` entry point; a static
   plugin's manifest declares its losses, which enter the registry as
   declarations. No plugin module and no torch is imported.
2. **start** (the first lookup): import the plugins whose manifests declare
   hooks, and the dynamic plugins (an entry point naming a module), whose
   losses are only known by importing them.
3. **one loss** (each lookup of a declared loss): import its module, whose
   ``@register_loss`` replaces the declaration.

Plugin code runs contained: whatever it raises (``SystemExit`` included;
``KeyboardInterrupt`` still stops) is recorded against its distribution, and
what it prints is captured, recorded and written to stderr, never stdout.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from losses_core._environment import PluginControls
from losses_core._errors import UnknownLossError
from losses_core._manifest import (
    CALL_HOOKS,
    MANIFEST_FILE,
    Manifest,
    ManifestError,
    check_reference,
    is_manifest_reference,
    parse_manifest,
    read_manifest,
)
from losses_core._metadata import Installed, InstallProblem, scan_installed
from losses_core._names import CORE_PROVIDER, QUALIFIER, RUNTIME_PROVIDER
from losses_core._registry import (
    LOADING,
    REGISTRY,
    DeclaredLoss,
    LossEntry,
    claim_declared_losses,
)
from losses_core._version import __version__

T = TypeVar("T")

_HERE = os.path.dirname(os.path.abspath(__file__))
BUILTIN_MANIFEST = os.path.join(_HERE, "losses", MANIFEST_FILE)
FIRST_PARTY_CATALOGUE = os.path.join(_HERE, "first_party.json")
"""The names and aliases of every first-party distribution's losses, so that
an unknown name another first-party distribution provides says what to install."""


class PluginFailure(NamedTuple):
    """Plugin code or metadata that could not be loaded: an import that
    raised, a missing or invalid manifest, a malformed install."""

    distribution: str
    version: str | None
    entry_point: str
    error: str
    traceback: str

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.distribution}{version} ({self.entry_point}): {self.error}"


@dataclass
class PluginRecord:
    """One entry point of the group (or the built-ins), and what became of it.

    ``form`` is ``"builtin"``, ``"static"`` (a manifest declares its losses)
    or ``"dynamic"`` (its losses are known by importing it). ``status`` is
    ``"available"`` (catalogued, imported on demand), ``"loaded"``
    (imported), ``"failed"`` or ``"skipped"``.
    """

    distribution: str
    version: str | None
    entry_point: str
    form: str
    status: str = "available"
    reason: str | None = None
    location: str | None = None
    manifest: Manifest | None = None
    hooks: tuple[str, ...] = ()
    plugin_name: str | None = None
    errors: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}" if self.version else self.distribution


class _Contained(Exception):
    """Plugin code raised; the failure is recorded already."""


class PluginLoader:
    """The catalogue and the deferred imports (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._catalogued = False
        self._started = False
        self._starting = False
        self.records: list[PluginRecord] = []
        self.failures: list[PluginFailure] = []
        self.installed = Installed([], [], {})
        self.controls = PluginControls()
        self.replay_output = True
        """Write what plugin code printed to stderr (the CLI reports it instead)."""

    # -- stage 1 ------------------------------------------------------------------------
    def catalogue(self) -> None:
        """Read the controls and every manifest, once (thread-safe).

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
            self._catalogue_builtins()
            if controls.autoload:
                self.installed = scan_installed()
                for plugin in self.installed.plugins:
                    self._catalogue_plugin(
                        plugin.distribution, plugin.version, plugin.entry_point, plugin.value, plugin.location
                    )
                for problem in self.installed.problems:
                    self._malformed(problem)
            else:
                self._trace("plugin autoloading disabled")
            packages: dict[str, tuple[str, str | None]] = {}
            for record in self.records:
                if record.manifest is not None and record.status != "skipped":
                    for package in record.manifest.packages:
                        packages.setdefault(package, (record.distribution, record.version))
            REGISTRY.declare_packages(packages)
            claim_declared_losses()
            self._catalogued = True

    def _catalogue_builtins(self) -> None:
        record = PluginRecord(CORE_PROVIDER, __version__, f"losses_core.losses:{MANIFEST_FILE}", "builtin")
        self.records.append(record)
        try:
            with open(BUILTIN_MANIFEST, encoding="utf-8") as file:
                manifest = parse_manifest(file.read(), BUILTIN_MANIFEST)
        except (OSError, ManifestError) as exc:  # a broken losses-core install
            self._fail(record, f"{type(exc).__name__}: {exc}", "")
            return
        self._declare(record, manifest)

    def _catalogue_plugin(
        self, distribution: str, version: str | None, entry_point: str, value: str, location: str
    ) -> None:
        record = PluginRecord(distribution, version, entry_point, "static", location=location)
        self.records.append(record)
        reason = self.controls.skip_reason(distribution)
        if reason is not None:
            record.status, record.reason = "skipped", reason
            self._trace(f"skipping {distribution}: {reason}")
            return
        if not is_manifest_reference(value):
            record.form = "dynamic"
            try:
                check_reference(value, f"entry point {entry_point}", attribute=False)
            except ManifestError as exc:
                self._fail(record, str(exc), "")
            return
        try:
            manifest = read_manifest(value)
        except ManifestError as exc:
            self._fail(record, f"manifest: {exc}", "")
            return
        self._trace(f"catalogued {distribution} ({len(manifest.losses)} losses)")
        self._declare(record, manifest)

    def _declare(self, record: PluginRecord, manifest: Manifest) -> None:
        record.manifest = manifest
        record.hooks = manifest.hooks
        for loss in manifest.losses:
            declared = DeclaredLoss(
                loss.name,
                loss.object,
                record.distribution,
                record.version,
                loss.aliases,
                loss.summary,
                loss.override,
            )
            try:
                REGISTRY.add(declared)
            except Exception as exc:
                self._fail(record, f"cannot declare {loss.name!r}: {exc}", "")

    def _malformed(self, problem: InstallProblem) -> None:
        record = PluginRecord(
            problem.distribution, None, "(malformed install)", "static", location=problem.location
        )
        self.records.append(record)
        self._fail(record, f"malformed install at {problem.location}: {problem.problem}", "")

    # -- stage 2 ------------------------------------------------------------------------
    def start(self) -> None:
        """Catalogue, then import hook plugins and dynamic plugins, once."""
        if self._started:
            return
        self.catalogue()
        with self._lock:
            if self._started or self._starting:
                return
            self._starting = True
            try:
                for record in list(self.records):
                    if record.status != "available":
                        continue
                    if record.form == "dynamic":
                        self._load_dynamic(record)
                    elif record.manifest is not None and record.manifest.hooks_object:
                        self._load_hooks(record, record.manifest.hooks_object, record.manifest.hooks)
            finally:
                self._starting = False
                self._started = True

    def listing(self) -> None:
        """What a full listing needs: the catalogue and the dynamic plugins."""
        self.catalogue()
        if self._started:
            return
        with self._lock:
            if not any(r.form == "dynamic" and r.status == "available" for r in self.records):
                return
        self.start()

    def _load_dynamic(self, record: PluginRecord) -> None:
        value = record.entry_point.partition("=")[2].strip()
        self._trace(f"loading {record.distribution} ({record.entry_point})")
        self._load_hooks(record, value, None)

    def _load_hooks(self, record: PluginRecord, reference: str, declared: tuple[str, ...] | None) -> None:
        """Import a plugin object, call its ``losses_register`` and hand it to
        pluggy if it implements call hooks; undo everything if any step raises."""
        from losses_core._hooks import (
            add_hook_plugin,
            get_hook_plugin,
            hook_implementations,
            register_plugin_losses,
            remove_hook_plugin,
        )

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
            if set(implementations) & CALL_HOOKS:
                name = record.distribution
                if get_hook_plugin(name) is not None:
                    name = f"{record.distribution}:{record.entry_point.partition('=')[0].strip()}"
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
        record.status = "loaded"
        record.hooks = hooks if declared is None else declared
        record.plugin_name = registered_name[0] if registered_name else None

    # -- stage 3 ------------------------------------------------------------------------
    def import_declared(self, declared: DeclaredLoss) -> LossEntry:
        """Import the module of a declared loss; return its registered entry.

        :raises UnknownLossError: the import failed, or it registered no loss
            of that name (the distribution's manifest is out of date).
        """
        with self._lock:
            current = REGISTRY.lookup(declared.qualified_name)
            if isinstance(current, LossEntry):
                return current
            declared = current
            if declared.error is None:
                self._import_declared(declared)
            current = REGISTRY.lookup(declared.qualified_name)
            if isinstance(current, LossEntry):
                return current
            raise UnknownLossError(
                f"loss {declared.name!r} of {declared.provider_label} cannot be used: {declared.error}"
            )

    def _import_declared(self, declared: DeclaredLoss) -> None:
        record = self.record_of(declared.provider)
        before = REGISTRY.entries_of(declared.provider)
        self._trace(f"importing {declared.module} for {declared.qualified_name}")

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
            self._contain(record, declared.object, lambda: _load_reference(declared.object), undo)
        except _Contained:
            declared.error = record.errors[-1] if record.errors else "its import failed"
            return
        finally:
            LOADING.reset(token)
        if isinstance(REGISTRY.lookup(declared.qualified_name), DeclaredLoss):
            declared.error = (
                f"{declared.provider_label} declares it as {declared.object}, but importing "
                f"{declared.module} registered no loss {declared.name!r}; the distribution's manifest "
                f"({MANIFEST_FILE}) does not match its code (run `losses doctor --import`)"
            )
            record.errors.append(declared.error)

    # -- containment ------------------------------------------------------------------
    def _contain(self, record: PluginRecord, what: str, run: Callable[[], T], undo: Callable[[], None]) -> T:
        """Run plugin code: capture what it prints, record what it raises
        (after ``undo()``), and raise :class:`_Contained` then."""
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            return run()
        except KeyboardInterrupt:
            undo()
            raise
        except BaseException as exc:
            undo()
            description = _describe(exc)
            self._fail(record, f"{what}: {description}", "".join(traceback.format_exception(exc)), what)
            raise _Contained from None
        finally:
            sys.stdout, sys.stderr = saved
            for stream, text in (("stdout", out.getvalue()), ("stderr", err.getvalue())):
                if text:
                    shown = text if len(text) <= 200 else text[:197] + "..."
                    record.output.append(f"{what} printed to {stream} when imported: {shown.strip()!r}")
                    if self.replay_output:
                        saved[1].write(text)

    def _fail(self, record: PluginRecord, error: str, tb: str, entry_point: str | None = None) -> None:
        if record.status != "skipped":
            record.status = "failed"
        record.errors.append(error)
        failure = PluginFailure(
            record.distribution, record.version, entry_point or record.entry_point, error, tb
        )
        self.failures.append(failure)
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
        record = PluginRecord(distribution, None, "(runtime)", "dynamic", status="loaded")
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
        """A sentence naming plugins whose losses are unknown because they
        failed, for 'unknown loss' errors."""
        unknown = [
            f
            for f in self.failures
            if not any(r.distribution == f.distribution and r.manifest is not None for r in self.records)
        ]
        if not unknown:
            return ""
        listed = "; ".join(f.describe() for f in unknown)
        return f"These plugins failed to load and may provide it: {listed}."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the plugin tried to end the process"
    return f"{type(exc).__name__}: {exc}"


def _load_reference(reference: str) -> Any:
    """Import ``module`` and follow ``:attr.attr``."""
    module, _, attr = reference.partition(":")
    value: Any = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
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
    "QUALIFIER",
    "RUNTIME_PROVIDER",
    "PluginFailure",
    "PluginLoader",
    "PluginRecord",
    "ensure_loaded",
    "find",
    "lookup",
]
