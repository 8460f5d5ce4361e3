"""``LOSSES``: the read-only, live mapping from loss name to loss.

This module is also the namespace that handles are published in: a handle
pickles by reference as ``losses_core._mapping.<name@provider>`` (this
module's ``__getattr__`` looks the name up again in the unpickling process),
and a lookup made under ``torch.compile`` is read back as a module attribute.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any, NoReturn

from losses_core._errors import LossConflictError, UnknownLossError
from losses_core._plugins import LOADER, lookup
from losses_core._registry import QUALIFIER, REGISTRY, LossEntry

if TYPE_CHECKING:
    from losses_core._call import RegisteredLoss

_DOT = "\u00b7"  # stands for "." in a handle's __qualname__, which pickle splits on "."


class LossMapping(dict[str, "RegisteredLoss"]):
    """Read-only view of every registered loss, populated on first use.

    ``LOSSES[name]`` accepts a registered name or alias (exact first, then
    case-insensitive with ``-``/``_`` folded) or a qualified
    ``"name@provider"``; it raises :class:`UnknownLossError` (a ``KeyError``)
    with suggestions, or :class:`LossConflictError` for a name that several
    providers register. Iteration yields each loss once: its bare name, or its
    qualified name when the bare name is ambiguous.

    It is a ``dict`` subclass only for speed: the dict storage is a cache of
    names already looked up, so a lookup inside a training step is a plain
    C-level dict hit; a miss goes through ``__missing__`` to the registry.
    Every mutating method raises ``TypeError``, and every reading method
    reflects the registry, not the cache.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[LossEntry, RegisteredLoss] = {}
        self._stale = False
        self._lock = threading.Lock()
        REGISTRY.on_change(self._clear)

    # -- cache ---------------------------------------------------------------
    def _clear(self) -> None:
        # O(1) per registration; handles of removed entries are pruned lazily.
        dict.clear(self)
        self._stale = True

    def __missing__(self, name: str) -> RegisteredLoss:
        handle: RegisteredLoss = getattr(_NAMESPACE, _cache_handle(name))
        return handle

    def handle(self, entry: LossEntry) -> RegisteredLoss:
        """The handle of a registry entry; the same object for as long as the
        entry is registered (pickling by reference relies on it)."""
        handle = self._handles.get(entry)
        if handle is not None:
            return handle
        with self._lock:  # concurrent first lookups get the same object
            handle = self._handles.get(entry)
            if handle is None:
                if self._stale and len(self._handles) > 64:
                    live = set(REGISTRY.entries())
                    self._handles = {e: h for e, h in self._handles.items() if e in live}
                    self._stale = False
                from losses_core._call import make_handle

                qualname = entry.qualified_name.replace(".", _DOT)
                handle = self._handles[entry] = make_handle(entry, __name__, qualname)
            return handle

    # -- reading -------------------------------------------------------------
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

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except UnknownLossError:
            return default

    def _names(self) -> list[str]:
        LOADER.listing()
        names = []
        for entry in sorted(REGISTRY.entries(), key=lambda e: (e.name.casefold(), e.provider)):
            shared = len(REGISTRY.candidates(entry.name)) > 1
            names.append(entry.qualified_name if shared else entry.name)
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        LOADER.listing()
        return len(REGISTRY.entries())

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return {name: None for name in self._names()}.keys()

    def values(self) -> ValuesView[RegisteredLoss]:  # type: ignore[override]
        return {name: self[name] for name in self._names()}.values()

    def items(self) -> ItemsView[str, RegisteredLoss]:  # type: ignore[override]
        return {name: self[name] for name in self._names()}.items()

    def copy(self) -> dict[str, RegisteredLoss]:
        """A plain ``dict`` snapshot of every loss."""
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<LOSSES: {len(self)} losses>"

    # -- read-only -------------------------------------------------------------
    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "LOSSES is read-only: register losses with losses_core.register_loss(...) "
            "or a plugin's losses_register hook"
        )

    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only

    def __reduce__(self) -> str:
        return "LOSSES"


def _cache_eagerly(name: str) -> str:
    """Look ``name`` up (discovering plugins on first use), cache its handle in
    ``LOSSES``'s own storage and publish it in this module; return the
    attribute it is published under.

    torch.compile reads module attributes live (and can guard on them), while
    it snapshots a dict's contents, so a handle cached during tracing is only
    visible to the trace through the module."""
    handle = LOSSES.handle(lookup(name))
    dict.__setitem__(LOSSES, name, handle)
    attribute = f"loss:{name}"
    setattr(_NAMESPACE, attribute, handle)
    return attribute


def _trace_constant(fn: Any) -> Any:
    # Under torch.compile the first lookup of a name runs this eagerly at trace
    # time (its result is a constant): discovery (locks, file reads) is never
    # traced, and the handle is then read back through a module attribute, so
    # a compiled function's first LOSSES[name] does not break the graph.
    # torch.compiler.assume_constant_result(fn) does exactly this (torch 2.2 to
    # 2.13); it is set directly because touching torch.compiler imports
    # torch._dynamo, which costs over a second at the first lookup.
    fn._dynamo_marked_constant = True
    return fn


_cache_handle = _trace_constant(_cache_eagerly)

_NAMESPACE = sys.modules[__name__]

LOSSES = LossMapping()


def __getattr__(attribute: str) -> Any:
    """Unpickle a handle: ``losses_core._mapping.<name@provider>``."""
    if QUALIFIER not in attribute:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    return LOSSES[attribute.replace(_DOT, ".")]
