"""Listing losses and plugins (``list_losses``, ``list_plugins``)."""

from __future__ import annotations

import fnmatch
import inspect
import re
from dataclasses import dataclass, field

from losses_core._hooks import runtime_hook_names
from losses_core._plugins import LOADER, PluginFailure, PluginRecord, ensure_loaded
from losses_core._registry import CORE_PROVIDER, REGISTRY, RUNTIME_PROVIDER, LossEntry
from losses_core._version import __version__


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

    @classmethod
    def from_entry(cls, entry: LossEntry) -> LossInfo:
        doc = inspect.getdoc(entry.function) or ""
        return cls(
            name=entry.name,
            qualified_name=entry.qualified_name,
            provider=entry.provider,
            version=entry.version,
            aliases=entry.aliases,
            summary=summarize(doc),
            ambiguous=len(REGISTRY.candidates(entry.name)) > 1 and not entry.override,
        )


def summarize(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, without reST markup."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    text = re.sub(r":\w+:`([^`]*)`", r"\1", paragraph).replace("``", "")
    sentence = re.split(r"(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s", text, maxsplit=1)[0]
    return sentence.rstrip(":,;")


def list_losses(pattern: str = "*") -> list[LossInfo]:
    """Every registered loss whose name or an alias matches ``pattern``.

    ``pattern`` is an ``fnmatch`` wildcard (``"focal*"``, ``"*vae*"``),
    matched case-insensitively with ``-`` and ``_`` treated alike. Sorted by
    name, then provider. Each item names the providing distribution and its
    version.
    """
    ensure_loaded()
    folded_pattern = pattern.casefold().replace("-", "_")
    found = [
        entry
        for entry in REGISTRY.entries()
        if any(fnmatch.fnmatchcase(key.casefold().replace("-", "_"), folded_pattern) for key in entry.keys)
    ]
    found.sort(key=lambda e: (e.name.casefold(), e.provider))
    return [LossInfo.from_entry(e) for e in found]


@dataclass(frozen=True)
class PluginInfo:
    """What ``list_plugins`` reports for one provider of losses or hooks."""

    name: str
    version: str | None
    status: str
    entry_point: str | None = None
    losses: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    error: str | None = None
    traceback: str | None = field(default=None, repr=False)


def _losses_of(provider: str) -> tuple[str, ...]:
    return tuple(sorted(e.name for e in REGISTRY.entries() if e.provider == provider))


def list_plugins() -> list[PluginInfo]:
    """losses-core itself, every entry-point plugin (loaded, failed or
    skipped), runtime registrations and runtime hook plugins."""
    ensure_loaded()

    infos = [PluginInfo(CORE_PROVIDER, __version__, "builtin", losses=_losses_of(CORE_PROVIDER))]
    failures: dict[str, PluginFailure] = {f.distribution: f for f in LOADER.failures}
    record: PluginRecord
    seen_plugins: set[str] = set()
    for record in LOADER.records:
        failure = failures.get(record.distribution) if record.status == "failed" else None
        if record.plugin_name:
            seen_plugins.add(record.plugin_name)
        infos.append(
            PluginInfo(
                name=record.distribution,
                version=record.version,
                status=record.status,
                entry_point=record.entry_point,
                losses=_losses_of(record.distribution) if record.status == "loaded" else (),
                hooks=record.hooks,
                error=record.reason if record.status != "loaded" else None,
                traceback=failure.traceback if failure else None,
            )
        )
    runtime_losses = _losses_of(RUNTIME_PROVIDER)
    runtime_hooks = runtime_hook_names(seen_plugins)
    if runtime_losses or runtime_hooks:
        infos.append(
            PluginInfo(RUNTIME_PROVIDER, None, "runtime", losses=runtime_losses, hooks=tuple(runtime_hooks))
        )
    return infos
