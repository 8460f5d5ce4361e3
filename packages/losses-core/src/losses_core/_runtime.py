"""The process-wide registry and plugin loader, and the functions that feed
them: ``register_loss`` and the per-plugin registration."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from losses_core._declaration import declare
from losses_core._discovery import LoadResult, PluginLoader
from losses_core._errors import LossRegistrationError
from losses_core._markers import hook_implementations
from losses_core._names import CORE_PROVIDER, RUNTIME_PROVIDER
from losses_core._registry import ExampleInputs, LossEntry, LossRegistrar, Registry
from losses_core._signature import Validator
from losses_core.inputs import Input

F = TypeVar("F", bound=Callable[..., Any])

REGISTRY = Registry()

_LOADING: ContextVar[tuple[str, str | None] | None] = ContextVar("losses_loading", default=None)
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
            return register_loss(  # type: ignore[no-any-return]
                name,
                fn,
                inputs=inputs,
                aliases=aliases,
                example_inputs=example_inputs,
                validators=validators,
                override=override,
            )

        return decorator
    provider, version = _LOADING.get() or (RUNTIME_PROVIDER, None)
    return make_registrar(provider, version)(
        name,
        loss,
        inputs=inputs,
        aliases=aliases,
        example_inputs=example_inputs,
        validators=validators,
        override=override,
    )


def register_plugin_losses(
    plugin: object,
    *,
    provider: str | None,
    version: str | None,
    implementations: dict[str, list[Callable[..., Any]]] | None = None,
) -> None:
    """Call ``plugin``'s own ``losses_register`` implementations, if any.

    The registration hook is called per plugin (not through pluggy's hook
    caller) so that each plugin's losses are attributed to its distribution.
    """
    if implementations is None:
        implementations = hook_implementations(plugin)
    registrar = make_registrar(provider or RUNTIME_PROVIDER, version)
    for function in implementations.get("losses_register", ()):
        if _accepts_register(function):
            function(register=registrar)
        else:
            function()


def _accepts_register(function: Callable[..., Any]) -> bool:
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is None:
        return True
    return "register" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _load_builtins() -> None:
    """Import the built-in losses (their ``@register_loss`` decorators register
    them under losses-core), claiming any registered by an earlier import."""
    version = _core_version()
    preimported = "losses_core.losses" in sys.modules
    token = _LOADING.set((CORE_PROVIDER, version))
    try:
        importlib.import_module("losses_core.losses")
    finally:
        _LOADING.reset(token)
    if preimported:
        _claim_preimported_losses("losses_core", CORE_PROVIDER, version)


def _core_version() -> str:
    from losses_core._version import __version__

    return __version__


def _load_entry_point(distribution: str, version: str | None, entry_point: Any) -> LoadResult:
    """Import one plugin, register its losses, and hand it to pluggy only if
    it implements hooks beyond registration (pluggy is imported only then)."""
    before = {id(e) for e in REGISTRY.entries_of(distribution)}
    token = _LOADING.set((distribution, version))
    registered_name: str | None = None
    try:
        package = entry_point.value.partition(":")[0].partition(".")[0]
        preimported = package in sys.modules
        plugin = entry_point.load()
        if preimported:
            _claim_preimported_losses(package, distribution, version)
        implementations = hook_implementations(plugin)
        if LOADER.controls.trace and "losses_register" in implementations:
            sys.stderr.write(f"losses: calling losses_register of {distribution}\n")
        register_plugin_losses(
            plugin, provider=distribution, version=version, implementations=implementations
        )
        if set(implementations) - {"losses_register"}:
            from losses_core._manager import MANAGER

            taken = MANAGER.get_plugin(distribution) is not None
            registered_name = MANAGER.register(
                plugin, name=f"{distribution}:{entry_point.name}" if taken else distribution
            )
    except BaseException:
        for entry in REGISTRY.entries_of(distribution):
            if id(entry) not in before:
                REGISTRY.remove_entry(entry)
        if registered_name is not None:
            from losses_core._manager import MANAGER

            MANAGER.unregister(name=registered_name)
        raise
    finally:
        _LOADING.reset(token)
    return LoadResult(registered_name, tuple(sorted(implementations)))


def _claim_preimported_losses(package: str, distribution: str, version: str | None) -> None:
    """Attribute to ``distribution`` the losses its ``package`` registered with
    ``@register_loss`` before discovery (user code imported the plugin module
    first, so the import-time registrations ran outside the loader and were
    filed under ``runtime``)."""

    def belongs(entry: LossEntry) -> bool:
        fn = entry.function
        module = getattr(fn, "__module__", None) or type(fn).__module__
        return entry.provider == RUNTIME_PROVIDER and (module or "").partition(".")[0] == package

    REGISTRY.reattribute(belongs, distribution, version)


LOADER = PluginLoader(_load_builtins, _load_entry_point)


def ensure_loaded() -> None:
    """Load built-in losses and installed plugins, once per process."""
    LOADER.ensure_loaded()


def lookup(name: str) -> LossEntry:
    """The entry ``name`` denotes, after loading plugins."""
    LOADER.ensure_loaded()
    return REGISTRY.lookup(name, unknown_hint=LOADER.failure_hint())
