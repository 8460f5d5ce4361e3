"""``LOSSES``: the read-only, live mapping from loss name to loss."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from losses_core._errors import LossConflictError, UnknownLossError
from losses_core._handle import RegisteredLoss, make_handle
from losses_core._registry import LossEntry
from losses_core._runtime import REGISTRY, ensure_loaded, lookup


class LossMapping(Mapping[str, RegisteredLoss]):
    """Read-only view of every registered loss, populated on first use.

    ``LOSSES[name]`` accepts a registered name or alias (exact first, then
    case-insensitive with ``-``/``_`` folded) or a qualified
    ``"name@provider"``; it raises :class:`UnknownLossError` (a ``KeyError``)
    with suggestions, or :class:`LossConflictError` for a name that several
    providers register. Iteration yields each loss once: its bare name, or its
    qualified name when the bare name is ambiguous. Results are cached until
    the registry changes, so a lookup inside a training step costs a dict hit.
    """

    __slots__ = ("_cache", "_handles")

    def __init__(self) -> None:
        self._cache: dict[str, RegisteredLoss] = {}
        self._handles: dict[LossEntry, RegisteredLoss] = {}
        REGISTRY.on_change(self._clear)

    def _clear(self) -> None:
        self._cache = {}
        live = set(REGISTRY.entries())
        self._handles = {e: h for e, h in self._handles.items() if e in live}

    def __getitem__(self, name: str) -> RegisteredLoss:
        handle = self._cache.get(name)
        if handle is not None:
            return handle
        entry = lookup(name)
        handle = self.handle(entry)
        self._cache[name] = handle
        return handle

    def handle(self, entry: LossEntry) -> RegisteredLoss:
        """The handle of a registry entry; the same object for as long as the
        entry is registered (pickling by reference relies on it)."""
        handle = self._handles.get(entry)
        if handle is None:
            handle = self._handles[entry] = make_handle(entry)
        return handle

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except UnknownLossError:
            return False
        except LossConflictError:
            return True
        return True

    def __iter__(self) -> Iterator[str]:
        ensure_loaded()
        entries = REGISTRY.entries()
        for entry in sorted(entries, key=lambda e: (e.name.casefold(), e.provider)):
            shared = len(REGISTRY.candidates(entry.name)) > 1
            yield entry.qualified_name if shared else entry.name

    def __len__(self) -> int:
        ensure_loaded()
        return len(REGISTRY.entries())

    def __repr__(self) -> str:
        return f"<LOSSES: {len(self)} losses>"


LOSSES = LossMapping()
