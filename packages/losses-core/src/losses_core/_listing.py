"""Listing losses and plugins (``list_losses``, ``list_plugins``), from the
catalogue: no plugin module is imported, except dynamic plugins, whose
losses are only known by importing them."""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field

from losses_core._names import CORE_PROVIDER, RUNTIME_PROVIDER, fold_loss_name
from losses_core._plugins import LOADER, PluginRecord
from losses_core._registry import REGISTRY, Listed, LossEntry


@dataclass(frozen=True)
class LossInfo:
    """What ``list_losses`` reports for one loss."""

    name: str
    qualified_name: str
    provider: str
    version: str | None
    aliases: tuple[str, ...]
    summary: str
    ambiguous: bool
    """Several providers give this name and none overrides the others: only
    the qualified name selects it."""
    imported: bool = False
    """Its module is imported (it is registered, not only declared)."""
    overrides: tuple[str, ...] = ()
    """The qualified names this loss takes a name from (``override=True``)."""

    @classmethod
    def from_entry(cls, entry: Listed) -> LossInfo:
        others = [e for e in REGISTRY.candidates(entry.name) if e is not entry]
        wins = REGISTRY.winner(entry)
        taken = tuple(e.qualified_name for e in others) if entry.override and wins else ()
        return cls(
            name=entry.name,
            qualified_name=entry.qualified_name,
            provider=entry.provider,
            version=entry.version,
            aliases=entry.aliases,
            summary=entry.summary,
            ambiguous=bool(others) and not wins and not any(e.override for e in others),
            imported=isinstance(entry, LossEntry),
            overrides=taken,
        )


def list_losses(pattern: str = "*") -> list[LossInfo]:
    """Every loss whose name or an alias matches ``pattern``, from package
    metadata (no plugin module is imported).

    ``pattern`` is an ``fnmatch`` wildcard (``"focal*"``, ``"*vae*"``),
    matched case-insensitively with ``-`` and ``_`` treated alike. Sorted by
    name, then provider. Each item names the providing distribution and its
    version.
    """
    LOADER.listing()
    folded_pattern = fold_loss_name(pattern)
    found = [
        entry
        for entry in REGISTRY.entries()
        if any(fnmatch.fnmatchcase(fold_loss_name(key), folded_pattern) for key in entry.keys)
    ]
    found.sort(key=lambda e: (e.name.casefold(), e.provider))
    return [LossInfo.from_entry(e) for e in found]


@dataclass(frozen=True)
class PluginInfo:
    """What ``list_plugins`` reports for one provider of losses or hooks.

    ``status`` is ``"builtin"``, ``"available"`` (catalogued from its
    entry points; each loss's module is imported when first looked up),
    ``"loaded"`` (imported), ``"failed"``, ``"skipped"`` or ``"runtime"``.
    ``form`` is ``"builtin"``, ``"static"`` (entry points declare its
    losses), ``"dynamic"`` (known by importing it) or ``"runtime"``.
    ``warnings`` holds what its code printed when imported.
    """

    name: str
    version: str | None
    status: str
    entry_point: str | None = None
    losses: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    error: str | None = None
    traceback: str | None = field(default=None, repr=False)
    form: str = "static"
    location: str | None = None
    warnings: tuple[str, ...] = ()


def _losses_of(provider: str) -> tuple[str, ...]:
    return tuple(sorted({e.name for e in REGISTRY.entries_of(provider)}))


def _info(record: PluginRecord) -> PluginInfo:
    tracebacks = [
        f.traceback for f in LOADER.failures if f.distribution == record.distribution and f.traceback
    ]
    status = "builtin" if record.form == "builtin" and record.status != "failed" else record.status
    return PluginInfo(
        name=record.distribution,
        version=record.version,
        status=status,
        entry_point=record.entry_point,
        losses=_losses_of(record.distribution) if record.status != "skipped" else (),
        hooks=record.hooks,
        error=record.reason if record.status == "skipped" else "; ".join(record.errors) or None,
        traceback=tracebacks[-1] if tracebacks else None,
        form=record.form,
        location=record.location,
        warnings=tuple(record.output),
    )


def list_plugins() -> list[PluginInfo]:
    """losses-core itself, every entry point of the group (available,
    loaded, failed or skipped), malformed installs, runtime registrations
    and runtime hook plugins; from package metadata (each manifest is read
    and each metadata folder checked)."""
    LOADER.verify()
    infos = [_info(record) for record in LOADER.records if record.form != "runtime"]
    runtime_losses = _losses_of(RUNTIME_PROVIDER)
    runtime_hooks: list[str] = []
    if "losses_core._hooks" in sys.modules:
        from losses_core._hooks import runtime_hook_names

        runtime_hooks = runtime_hook_names({name for r in LOADER.records for name in r.plugin_names})
    if runtime_losses or runtime_hooks:
        infos.append(
            PluginInfo(
                RUNTIME_PROVIDER,
                None,
                "runtime",
                losses=runtime_losses,
                hooks=tuple(runtime_hooks),
                form="runtime",
            )
        )
    return infos


__all__ = ["CORE_PROVIDER", "LossInfo", "PluginInfo", "list_losses", "list_plugins"]
