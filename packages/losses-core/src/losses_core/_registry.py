"""The loss registry: names, entries, lookup, conflicts and suggestions, and
``register_loss``, the one way to add a loss to it.

An entry is either *registered* (its function is known) or *declared*: read
from an installed distribution's manifest, with the object to import and no
function yet. Lookups see both; importing a declared loss's module registers
it, which replaces the declaration. Nothing here imports torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from losses_core._errors import LossConflictError, LossRegistrationError, UnknownLossError, capped_repr
from losses_core._names import (
    CORE_PROVIDER,
    QUALIFIER,
    RUNTIME_PROVIDER,
    check_loss_name,
    close_matches,
    fold_loss_name,
    normalize_distribution,
)

if TYPE_CHECKING:
    from losses_core._signature import LossSignature, Validator
    from losses_core.inputs import Input

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "CORE_PROVIDER",
    "LOADING",
    "QUALIFIER",
    "REGISTRY",
    "RUNTIME_PROVIDER",
    "LossEntry",
    "LossRegistrar",
    "Registry",
    "make_registrar",
    "normalize_distribution",
    "register_loss",
]


# -- entries and the registry ---------------------------------------------------
ExampleInputs = Callable[..., Any]
"""A factory ``(batch_size=4, dtype=torch.float32) -> (model_output, targets,
params)`` that builds valid example inputs for a loss."""


class _Provided:
    """What registered and declared losses share: a name from a provider."""

    __slots__ = ()
    name: str
    provider: str
    version: str | None

    @property
    def qualified_name(self) -> str:
        """``name@provider``: always unambiguous."""
        return f"{self.name}{QUALIFIER}{self.provider}"

    @property
    def provider_label(self) -> str:
        """The provider with its version, for messages."""
        return f"{self.provider} {self.version}" if self.version else self.provider


class LossEntry(_Provided):
    """One registered loss and where it came from.

    Entries compare and hash by identity: the same function registered twice
    gives two entries.
    """

    __slots__ = (
        "_declared",
        "aliases",
        "example_inputs",
        "function",
        "inputs",
        "name",
        "override",
        "provider",
        "signature",
        "version",
    )

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        provider: str,
        version: str | None,
        aliases: tuple[str, ...],
        signature: LossSignature,
        example_inputs: ExampleInputs | None = None,
        override: bool = False,
        inputs: tuple[Input, ...] = (),
    ) -> None:
        self.name = name
        self.inputs = inputs
        self._declared: bool | None = None
        self.function = function
        self.provider = provider
        self.version = version
        self.aliases = aliases
        self.signature = signature
        self.example_inputs = example_inputs
        self.override = override

    def __repr__(self) -> str:
        return f"LossEntry({self.qualified_name!r}, version={self.version!r}, aliases={self.aliases!r})"

    @property
    def declared(self) -> bool:
        """Whether the loss declares its inputs (and checks its own parameters)."""
        if self._declared is None:
            from losses_core._declaration import declaration_of

            self._declared = declaration_of(self.function) is not None
        return self._declared

    @property
    def summary(self) -> str:
        """The first sentence of the loss's docstring."""
        import inspect

        from losses_core._text import summarize

        return summarize(inspect.getdoc(self.function) or "")

    @property
    def keys(self) -> tuple[str, ...]:
        """The name followed by the aliases."""
        return (self.name, *self.aliases)


class DeclaredLoss(_Provided):
    """A loss an installed distribution declares in its entry points, not imported yet.

    ``names`` are the entry-point names of one object: the loss's name and
    its aliases. Which one is the name, the summary and the override flag
    come from the distribution's manifest, read through ``details(names)``
    on first need (a listing, a conflict, a message), never for a plain
    lookup. ``object`` is the ``"module:attr"`` reference that registers the
    loss when its module is imported; ``error`` is set once that failed.
    """

    __slots__ = ("_details", "_read", "error", "names", "object", "provider", "version")

    def __init__(
        self,
        names: tuple[str, ...],
        object: str,
        provider: str,
        version: str | None,
        *,
        details: Callable[[tuple[str, ...]], tuple[str, str, bool] | None] | None = None,
    ) -> None:
        self.names = names
        self.object = object
        self.provider = provider
        self.version = version
        self._details = details
        self._read: tuple[str, str, bool] | None = None
        self.error: str | None = None

    def _detail(self) -> tuple[str, str, bool]:
        if self._read is None:
            read = self._details(self.names) if self._details is not None else None
            self._read = read or (self.names[0], "", False)
        return self._read

    def __repr__(self) -> str:
        return f"DeclaredLoss({self.names!r}, object={self.object!r}, provider={self.provider!r})"

    @property
    def name(self) -> str:  # type: ignore[override]  # read-only here: the manifest decides it
        """The loss's name (the manifest says which of ``names`` it is)."""
        return self._detail()[0]

    @property
    def aliases(self) -> tuple[str, ...]:
        """Its other names."""
        name = self.name
        return tuple(n for n in self.names if n != name)

    @property
    def summary(self) -> str:
        """The one-line summary the manifest gives."""
        return self._detail()[1]

    @property
    def override(self) -> bool:
        """Whether the manifest says it takes over its name from other providers."""
        return self._detail()[2]

    @property
    def module(self) -> str:
        """The module to import."""
        return self.object.partition(":")[0]

    @property
    def keys(self) -> tuple[str, ...]:
        """Every name it answers to (no manifest read)."""
        return self.names


Listed = LossEntry | DeclaredLoss
"""What the registry holds: registered losses and declared ones."""


class LossRegistrar(Protocol):
    """The ``register`` callable handed to the ``losses_register`` hook."""

    def __call__(
        self,
        name: str | None,
        loss: Callable[..., Any],
        *,
        inputs: Sequence[Input] | None = None,
        aliases: Sequence[str] = (),
        example_inputs: ExampleInputs | None = None,
        validators: Mapping[str, Validator] | None = None,
        override: bool = False,
    ) -> Callable[..., Any]: ...


def _same_definition(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether ``b`` is ``a`` redefined (a module reloaded, a notebook cell re-run)."""
    if a is b:
        return True

    def ident(fn: Callable[..., Any]) -> tuple[Any, Any]:
        target = fn if hasattr(fn, "__qualname__") else type(fn)
        return getattr(target, "__module__", None), getattr(target, "__qualname__", None)

    return ident(a) == ident(b) and ident(a) != (None, None)


class Registry:
    """Registered and declared losses keyed by name and alias.

    Lookup order: a ``name@provider`` qualifier; the exact name or alias; the
    name folded (case-insensitive, ``-`` = ``_``). A name provided by several
    providers raises :class:`LossConflictError` unless exactly one of them was
    registered with ``override=True``. Nothing ever falls back to another loss.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_key: dict[str, list[Listed]] = {}
        self._folded: dict[str, set[str]] = {}
        self._by_provider: dict[str, dict[int, Listed]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._packages: dict[str, tuple[str, str | None]] = {}

    # -- changes ---------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (used to drop caches)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def create_entry(
        self,
        name: str,
        loss: Callable[..., Any],
        *,
        provider: str,
        version: str | None,
        aliases: Sequence[str] = (),
        example_inputs: ExampleInputs | None = None,
        validators: Mapping[str, Validator] | None = None,
        override: bool = False,
    ) -> LossEntry:
        """Validate a registration and build its entry (does not add it)."""
        try:
            check_loss_name(name)
            alias_tuple = tuple(check_loss_name(a) for a in aliases)
        except ValueError as exc:
            raise LossRegistrationError(f"cannot register loss {name!r}: {exc}") from None
        if isinstance(aliases, str):
            raise LossRegistrationError(
                f"cannot register loss {name!r}: aliases must be a sequence of names, not a string"
            )
        if example_inputs is not None and not callable(example_inputs):
            raise LossRegistrationError(
                f"cannot register loss {name!r}: example_inputs must be callable, "
                f"got {type(example_inputs).__name__}"
            )
        from losses_core._declaration import declaration_of
        from losses_core._signature import inspect_loss_signature

        declaration = declaration_of(loss)
        if declaration is not None:
            if validators:
                raise LossRegistrationError(
                    f"cannot register loss {name!r}: it declares its inputs; give validators where "
                    f"its inputs are declared"
                )
            signature = declaration.signature
            inputs = declaration.inputs
        else:
            signature = inspect_loss_signature(name, loss, validators)
            inputs = ()
        return LossEntry(
            name=name,
            function=loss,
            provider=provider,
            version=version,
            aliases=alias_tuple,
            signature=signature,
            example_inputs=example_inputs,
            override=override,
            inputs=inputs,
        )

    def add(self, entry: Listed) -> None:
        """Add ``entry``; a re-definition by the same provider replaces the old
        one, and a registered loss replaces its provider's declarations of
        its names.

        :raises LossRegistrationError: the same provider already registered a
            different loss under one of the entry's names (pass
            ``override=True`` to replace it).
        """
        with self._lock:
            replaced: set[int] = set()
            for key in entry.keys:
                for old in self._by_key.get(key, ()):
                    if old.provider != entry.provider:
                        continue
                    if (
                        isinstance(old, DeclaredLoss)
                        or isinstance(entry, DeclaredLoss)
                        or entry.override
                        or _same_definition(old.function, entry.function)
                    ):
                        replaced.add(id(old))
                        continue
                    hint = " (pass override=True to replace it)" if entry.provider == RUNTIME_PROVIDER else ""
                    raise LossRegistrationError(
                        f"cannot register loss {entry.name!r}: {key!r} is already registered by "
                        f"{old.provider_label} for {old.name!r}{hint}"
                    )
            if replaced:
                self._remove_where(lambda e: id(e) in replaced)
            self._insert(entry)
        self._changed()

    def add_declared(self, entries: Sequence[DeclaredLoss]) -> str | None:
        """Add one distribution's declarations at once (no conflict check
        within them: entry-point names are unique per distribution); return
        a problem instead of raising when a name is declared twice."""
        problem = None
        with self._lock:
            by_key, folded = self._by_key, self._folded
            own = self._by_provider.setdefault(entries[0].provider, {}) if entries else {}
            keys: set[str] = set()
            for entry in entries:
                if len(entries) > 1:
                    clash = keys.intersection(entry.keys)
                    if clash:
                        problem = f"{sorted(clash)[0]!r} names two objects: {entry.object} and another"
                        continue
                    keys.update(entry.keys)
                for key in entry.keys:
                    by_key.setdefault(key, []).append(entry)
                    folded.setdefault(key.casefold().replace("-", "_"), set()).add(key)
                own[id(entry)] = entry
        if entries:
            self._changed()
        return problem

    def _insert(self, entry: Listed) -> None:
        for key in entry.keys:
            self._by_key.setdefault(key, []).append(entry)
            self._folded.setdefault(fold_loss_name(key), set()).add(key)
        self._by_provider.setdefault(entry.provider, {})[id(entry)] = entry

    def entries_of(self, provider: str) -> list[Listed]:
        """The entries of one provider, without scanning the others."""
        with self._lock:
            return list(self._by_provider.get(provider, {}).values())

    def reattribute(
        self, predicate: Callable[[LossEntry], bool], provider: str, version: str | None
    ) -> list[LossEntry]:
        """Move the registered entries matching ``predicate`` to ``provider``
        (replacing its declarations of their names); return the new entries."""
        moved_to: list[LossEntry] = []
        with self._lock:
            moved = [
                e
                for e in self._remove_where(lambda e: isinstance(e, LossEntry) and predicate(e))
                if isinstance(e, LossEntry)
            ]
            moved_keys = {key for e in moved for key in e.keys}
            self._remove_where(
                lambda e: (
                    isinstance(e, DeclaredLoss) and e.provider == provider and bool(moved_keys & set(e.keys))
                )
            )
            for old in moved:
                moved_to.append(
                    LossEntry(
                        old.name,
                        old.function,
                        provider,
                        version,
                        old.aliases,
                        old.signature,
                        old.example_inputs,
                        old.override,
                        old.inputs,
                    )
                )
                self._insert(moved_to[-1])
        if moved:
            self._changed()
        return moved_to

    def remove_entry(self, entry: Listed) -> None:
        """Remove one entry (all its names)."""
        with self._lock:
            self._remove_where(lambda e: e is entry)
        self._changed()

    def _remove_where(self, predicate: Callable[[Listed], bool]) -> list[Listed]:
        removed: dict[int, Listed] = {}
        for key in list(self._by_key):
            kept = []
            for e in self._by_key[key]:
                if predicate(e):
                    removed[id(e)] = e
                else:
                    kept.append(e)
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
                folded = self._folded.get(fold_loss_name(key))
                if folded is not None:
                    folded.discard(key)
                    if not folded:
                        del self._folded[fold_loss_name(key)]
        for entry in removed.values():
            own = self._by_provider.get(entry.provider)
            if own is not None:
                own.pop(id(entry), None)
                if not own:
                    del self._by_provider[entry.provider]
        return list(removed.values())

    # -- queries ---------------------------------------------------------
    def entries(self) -> list[Listed]:
        """Every entry once, registered or declared, in registration order."""
        with self._lock:
            seen: dict[int, Listed] = {}
            for entries in self._by_key.values():
                for e in entries:
                    seen.setdefault(id(e), e)
            return list(seen.values())

    def registered(self) -> list[LossEntry]:
        """Every registered (imported) entry once."""
        return [e for e in self.entries() if isinstance(e, LossEntry)]

    def winner(self, entry: Listed) -> bool:
        """Whether a bare-name lookup of ``entry.name`` gives ``entry`` (it
        is the only provider of the name, or the one that overrides it)."""
        found = self.candidates(entry.name)
        if len(found) == 1:
            return found[0] is entry
        overrides = [e for e in found if e.override]
        return len(overrides) == 1 and overrides[0] is entry

    # -- declared packages ---------------------------------------------------
    def declare_packages(self, packages: Mapping[str, tuple[str, str | None]]) -> None:
        """Record which distribution declares the losses of each top-level package."""
        with self._lock:
            self._packages.update(packages)

    def declared_provider(self, name: str, loss: Callable[..., Any]) -> tuple[str, str | None] | None:
        """The (distribution, version) that declares ``name`` in a manifest and
        owns the package ``loss`` is defined in, if any: a declared loss
        registers under its distribution however its module was imported."""
        if not self._packages:
            return None
        target = loss if hasattr(loss, "__module__") else type(loss)
        package = (getattr(target, "__module__", None) or "").partition(".")[0]
        owner = self._packages.get(package)
        if owner is None:
            return None
        with self._lock:
            for e in self._by_key.get(name, ()):
                if e.provider == owner[0]:
                    return owner
        return None

    def candidates(self, name: str) -> list[Listed]:
        """Entries matching ``name`` exactly, else after folding (no qualifier)."""
        with self._lock:
            exact = self._by_key.get(name)
            if exact:
                return _unique(exact)
            keys = self._folded.get(fold_loss_name(name), ())
            return _unique(e for key in sorted(keys) for e in self._by_key[key])

    def lookup(self, name: str, *, unknown_hint: Callable[[str], str] | None = None) -> Listed:
        """Return the one entry that ``name`` denotes.

        :raises UnknownLossError: nothing matches (a ``KeyError``).
        :raises LossConflictError: several providers match a bare name.
        """
        if not isinstance(name, str):
            raise UnknownLossError(f"loss names are strings, got {type(name).__name__}: {name!r}")
        if QUALIFIER in name:
            return self._lookup_qualified(name, unknown_hint)
        found = self.candidates(name)
        if len(found) == 1:
            return found[0]
        if found:
            overrides = [e for e in found if e.override]
            if len(overrides) == 1:
                return overrides[0]
            raise LossConflictError(_conflict_message(name, found))
        raise UnknownLossError(self._unknown_message(name, unknown_hint))

    def _lookup_qualified(self, spec: str, unknown_hint: Callable[[str], str] | None) -> Listed:
        bare, _, provider = spec.rpartition(QUALIFIER)
        wanted = normalize_distribution(provider)
        found = [e for e in self.candidates(bare) if e.provider == wanted]
        if len(found) == 1:
            return found[0]
        if found:
            raise LossConflictError(_conflict_message(spec, found))
        providers = sorted({e.provider_label for e in self.candidates(bare)})
        if providers:
            raise UnknownLossError(
                f"unknown loss {capped_repr(spec)}: {bare!r} is provided by {', '.join(providers)}, "
                f"not by {capped_repr(provider)}"
            )
        raise UnknownLossError(self._unknown_message(spec, unknown_hint))

    def _unknown_message(self, name: str, unknown_hint: Callable[[str], str] | None) -> str:
        with self._lock:
            keys = list(self._by_key)
        bare = name.rpartition(QUALIFIER)[0] or name
        close = close_matches(bare, keys, n=5, cutoff=0.6)
        folded = fold_loss_name(bare)
        close += [k for k in keys if folded in fold_loss_name(k) and k not in close][:3]
        parts = [f"unknown loss {capped_repr(name)}."]
        if close:
            parts.append("Did you mean: " + ", ".join(repr(c) for c in close) + "?")
        parts.append("List installed losses with `losses list` or losses_core.list_losses().")
        hint = unknown_hint(bare) if unknown_hint is not None else ""
        if hint:
            parts.append(hint)
        return " ".join(parts)


def _unique(entries: Iterable[Listed]) -> list[Listed]:
    seen: dict[int, Listed] = {}
    for e in entries:
        seen.setdefault(id(e), e)
    return list(seen.values())


def _conflict_message(name: str, found: Sequence[Listed]) -> str:
    providers = " and ".join(f"{e.provider_label} (as {e.name!r})" for e in found)
    choices = ", ".join(repr(e.qualified_name) for e in found)
    return (
        f"loss name {name!r} is ambiguous: it is provided by {providers}. "
        f"Choose one with a qualified name ({choices}), or uninstall or disable one "
        f"provider (LOSSES_DISABLE_PLUGINS)."
    )


REGISTRY = Registry()
"""The process-wide registry."""

LOADING: ContextVar[tuple[str, str | None] | None] = ContextVar("losses_loading", default=None)
"""The (distribution, version) being loaded, for attributing import-time
``@register_loss`` calls to their distribution."""


def make_registrar(provider: str, version: str | None) -> LossRegistrar:
    """A ``register`` callable that attributes losses to ``provider``."""

    def register(
        name: str | None,
        loss: Callable[..., Any],
        *,
        inputs: Sequence[Input] | None = None,
        aliases: Sequence[str] = (),
        example_inputs: ExampleInputs | None = None,
        validators: Mapping[str, Validator] | None = None,
        override: bool = False,
    ) -> Callable[..., Any]:
        if name is None:
            name = getattr(loss, "__name__", None) or type(loss).__name__
        if inputs is not None:
            from losses_core._declaration import declare

            loss = declare(name, loss, inputs, validators)
            validators = None
        entry = REGISTRY.create_entry(
            name,
            loss,
            provider=provider,
            version=version,
            aliases=aliases,
            example_inputs=example_inputs,
            validators=validators,
            override=override,
        )
        REGISTRY.add(entry)
        return loss

    return register


@overload
def register_loss(name: F, /) -> F: ...


@overload
def register_loss(
    name: str | None = None,
    loss: None = None,
    *,
    inputs: Sequence[Input] | None = None,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    validators: Mapping[str, Validator] | None = None,
    override: bool = False,
) -> Callable[[F], F]: ...


@overload
def register_loss(
    name: str | None,
    loss: F,
    *,
    inputs: Sequence[Input] | None = None,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    validators: Mapping[str, Validator] | None = None,
    override: bool = False,
) -> F: ...


def register_loss(
    name: Any = None,
    loss: Callable[..., Any] | None = None,
    *,
    inputs: Sequence[Input] | None = None,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    validators: Mapping[str, Validator] | None = None,
    override: bool = False,
) -> Any:
    """Register a loss; use as a decorator or a call.

    Forms: ``@register_loss("MyLoss")`` and ``@register_loss`` (the name is
    the function's name) decorate a protocol function
    ``fn(model_output, targets, **params)``; ``register_loss("focal_loss",
    FocalLoss())`` registers a function or callable instance directly.

    With ``inputs=[Input(...), ...]`` the decorated function is a function of
    tensors, ``fn(<inputs>, *, <parameters>)``: its positional parameters are
    the declared inputs and its keyword-only parameters the loss's
    parameters. The decorator returns the protocol function built around it
    (inputs fetched and checked, the caller's ``keys`` mapped, parameters
    checked against their annotations); ``fn`` stays reachable as
    ``loss.compute``. See :mod:`losses_core.inputs`.

    Losses registered while a plugin distribution is being loaded belong to
    that distribution; any other call registers under the provider
    ``runtime``. Registering a different loss under a name that the same
    provider already uses raises; re-registering the same definition (a
    re-run notebook cell) replaces it. ``override=True`` replaces an existing
    registration of the same provider and makes this loss win bare-name
    lookups against other providers.

    :param inputs: the declared inputs (see :class:`losses_core.Input`).
    :param aliases: further names for the same loss.
    :param example_inputs: a factory ``(batch_size=4, dtype=torch.float32)
        -> (model_output, targets, params)`` for the conformance checker.
    :param validators: ``{parameter: validator}``; each validator raises
        ``ValueError`` or ``TypeError`` for a bad value (see
        :mod:`losses_core.params`).
    :returns: the registered loss (the decorated function, or the protocol
        function built around it when ``inputs`` are declared).
    """
    if callable(name) and not isinstance(name, str):
        if loss is not None:
            raise LossRegistrationError("register_loss(fn) takes the loss alone; pass the name first")
        return register_loss(
            None,
            name,
            inputs=inputs,
            aliases=aliases,
            example_inputs=example_inputs,
            validators=validators,
            override=override,
        )
    if loss is None:

        def decorator(fn: F) -> F:
            return register_loss(
                name,
                fn,
                inputs=inputs,
                aliases=aliases,
                example_inputs=example_inputs,
                validators=validators,
                override=override,
            )

        return decorator
    registered_name = name if name is not None else getattr(loss, "__name__", None) or type(loss).__name__
    provider, version = (
        REGISTRY.declared_provider(registered_name, loss) or LOADING.get() or (RUNTIME_PROVIDER, None)
    )
    return make_registrar(provider, version)(
        name,
        loss,
        inputs=inputs,
        aliases=aliases,
        example_inputs=example_inputs,
        validators=validators,
        override=override,
    )


def _identity(entry: LossEntry) -> Callable[[LossEntry], bool]:
    return lambda e: e is entry


def claim_declared_losses() -> list[LossEntry]:
    """Attribute to their distributions the losses that user code registered
    before the manifests were read (it imported a plugin's module first, so
    its ``@register_loss`` ran under ``runtime``); return the claimed entries."""
    claimed: list[LossEntry] = []
    for entry in REGISTRY.entries_of(RUNTIME_PROVIDER):
        if not isinstance(entry, LossEntry):
            continue
        owner = REGISTRY.declared_provider(entry.name, entry.function)
        if owner is not None:
            claimed += REGISTRY.reattribute(_identity(entry), owner[0], owner[1])
    return claimed
