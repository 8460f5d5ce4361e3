"""The loss registry: names, entries, lookup, conflicts and suggestions, and
``register_loss``, the one way to add a loss to it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, overload

from losses_core._declaration import declaration_of, declare
from losses_core._errors import LossConflictError, LossRegistrationError, UnknownLossError
from losses_core._signature import LossSignature, Validator, close_matches, inspect_loss_signature
from losses_core.inputs import Input

F = TypeVar("F", bound=Callable[..., Any])

# -- names -------------------------------------------------------------------
QUALIFIER = "@"
"""Separates a loss name from its provider: ``"focal@losses-foo"``. It cannot
appear in a ``"package.module:attr"`` dotted path, so the two never mix."""

RUNTIME_PROVIDER = "runtime"
"""The provider of losses registered from code at runtime."""

CORE_PROVIDER = "losses-core"
"""The provider of the built-in losses."""

_DIST_SEPARATORS = re.compile(r"[-_.]+")


def fold_loss_name(name: str) -> str:
    """The case-insensitive form of a loss name, with ``-`` and ``_`` folded."""
    return name.casefold().replace("-", "_")


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Losses_Foo`` → ``losses-foo``)."""
    return _DIST_SEPARATORS.sub("-", name).lower()


def check_loss_name(name: object) -> str:
    """Return ``name`` if it is a valid loss name, else raise ``ValueError``."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a loss name must be a non-empty string without surrounding spaces, got {name!r}")
    for forbidden in (QUALIFIER, ":"):
        if forbidden in name:
            raise ValueError(
                f"a loss name cannot contain {forbidden!r} (reserved for 'name@provider' and "
                f"'module:attr' specs), got {name!r}"
            )
    return name


# -- entries and the registry ---------------------------------------------------
ExampleInputs = Callable[..., Any]
"""A factory ``(batch_size=4, dtype=torch.float32) -> (model_output, targets,
params)`` that builds valid example inputs for a loss."""


class LossEntry:
    """One registered loss and where it came from.

    Entries compare and hash by identity: the same function registered twice
    gives two entries.
    """

    __slots__ = (
        "aliases",
        "declared",
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
        self.declared = declaration_of(function) is not None
        """Whether the loss declares its inputs (and checks its own parameters)."""
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
    def qualified_name(self) -> str:
        """``name@provider``: always unambiguous."""
        return f"{self.name}{QUALIFIER}{self.provider}"

    @property
    def provider_label(self) -> str:
        """The provider with its version, for messages."""
        return f"{self.provider} {self.version}" if self.version else self.provider

    @property
    def keys(self) -> tuple[str, ...]:
        """The name followed by the aliases."""
        return (self.name, *self.aliases)


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
    """Registered losses keyed by name and alias.

    Lookup order: a ``name@provider`` qualifier; the exact name or alias; the
    name folded (case-insensitive, ``-`` = ``_``). A name provided by several
    providers raises :class:`LossConflictError` unless exactly one of them was
    registered with ``override=True``. Nothing ever falls back to another loss.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_key: dict[str, list[LossEntry]] = {}
        self._folded: dict[str, set[str]] = {}
        self._by_provider: dict[str, dict[int, LossEntry]] = {}
        self._listeners: list[Callable[[], None]] = []

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

    def add(self, entry: LossEntry) -> None:
        """Add ``entry``; a re-definition by the same provider replaces the old one.

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
                    if entry.override or _same_definition(old.function, entry.function):
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

    def _insert(self, entry: LossEntry) -> None:
        for key in entry.keys:
            self._by_key.setdefault(key, []).append(entry)
            self._folded.setdefault(fold_loss_name(key), set()).add(key)
        self._by_provider.setdefault(entry.provider, {})[id(entry)] = entry

    def entries_of(self, provider: str) -> list[LossEntry]:
        """The entries of one provider, without scanning the others."""
        with self._lock:
            return list(self._by_provider.get(provider, {}).values())

    def reattribute(
        self, predicate: Callable[[LossEntry], bool], provider: str, version: str | None
    ) -> list[LossEntry]:
        """Move the entries matching ``predicate`` to ``provider``; return the new entries."""
        moved_to: list[LossEntry] = []
        with self._lock:
            moved = self._remove_where(predicate)
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

    def remove_entry(self, entry: LossEntry) -> None:
        """Remove one entry (all its names)."""
        with self._lock:
            self._remove_where(lambda e: e is entry)
        self._changed()

    def _remove_where(self, predicate: Callable[[LossEntry], bool]) -> list[LossEntry]:
        removed: dict[int, LossEntry] = {}
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
    def entries(self) -> list[LossEntry]:
        """Every entry once, in registration order."""
        with self._lock:
            seen: dict[int, LossEntry] = {}
            for entries in self._by_key.values():
                for e in entries:
                    seen.setdefault(id(e), e)
            return list(seen.values())

    def candidates(self, name: str) -> list[LossEntry]:
        """Entries matching ``name`` exactly, else after folding (no qualifier)."""
        with self._lock:
            exact = self._by_key.get(name)
            if exact:
                return _unique(exact)
            keys = self._folded.get(fold_loss_name(name), ())
            return _unique(e for key in sorted(keys) for e in self._by_key[key])

    def lookup(self, name: str, *, unknown_hint: str = "") -> LossEntry:
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

    def _lookup_qualified(self, spec: str, unknown_hint: str) -> LossEntry:
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
                f"unknown loss {spec!r}: {bare!r} is provided by {', '.join(providers)}, not by {provider!r}"
            )
        raise UnknownLossError(self._unknown_message(spec, unknown_hint))

    def _unknown_message(self, name: str, hint: str) -> str:
        with self._lock:
            keys = list(self._by_key)
        bare = name.rpartition(QUALIFIER)[0] or name
        close = close_matches(bare, keys, n=5, cutoff=0.6)
        folded = fold_loss_name(bare)
        close += [k for k in keys if folded in fold_loss_name(k) and k not in close][:3]
        parts = [f"unknown loss {name!r}."]
        if close:
            parts.append("Did you mean: " + ", ".join(repr(c) for c in close) + "?")
        parts.append("List installed losses with `losses list` or losses_core.list_losses().")
        if hint:
            parts.append(hint)
        return " ".join(parts)


def _unique(entries: Iterable[LossEntry]) -> list[LossEntry]:
    seen: dict[int, LossEntry] = {}
    for e in entries:
        seen.setdefault(id(e), e)
    return list(seen.values())


def _conflict_message(name: str, found: Sequence[LossEntry]) -> str:
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
    provider, version = LOADING.get() or (RUNTIME_PROVIDER, None)
    return make_registrar(provider, version)(
        name,
        loss,
        inputs=inputs,
        aliases=aliases,
        example_inputs=example_inputs,
        validators=validators,
        override=override,
    )


def claim_preimported_losses(package: str, distribution: str, version: str | None) -> list[LossEntry]:
    """Attribute to ``distribution`` the losses its ``package`` registered with
    ``@register_loss`` before discovery (user code imported the plugin module
    first, so the import-time registrations ran outside the loader and were
    filed under ``runtime``); return the claimed entries."""

    def belongs(entry: LossEntry) -> bool:
        fn = entry.function
        module = getattr(fn, "__module__", None) or type(fn).__module__
        return entry.provider == RUNTIME_PROVIDER and (module or "").partition(".")[0] == package

    return REGISTRY.reattribute(belongs, distribution, version)
