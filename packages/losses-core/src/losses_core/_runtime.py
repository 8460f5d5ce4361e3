"""The process-wide registry and plugin loader, and the functions that feed
them: ``register_loss`` and the per-plugin registration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from losses_core._discovery import PluginLoader
from losses_core._manager import MANAGER
from losses_core._names import CORE_PROVIDER, RUNTIME_PROVIDER
from losses_core._registry import ExampleInputs, LossEntry, LossRegistrar, Registry

F = TypeVar("F", bound=Callable[..., Any])

REGISTRY = Registry()

_LOADING: ContextVar[tuple[str, str | None] | None] = ContextVar("losses_loading", default=None)
"""The (distribution, version) being loaded, for attributing import-time
``@register_loss`` calls to their distribution."""


def make_registrar(provider: str, version: str | None) -> LossRegistrar:
    """A ``register`` callable that attributes losses to ``provider``."""

    def register(
        name: str,
        loss: Callable[..., Any],
        *,
        aliases: Sequence[str] = (),
        example_inputs: ExampleInputs | None = None,
        override: bool = False,
    ) -> Callable[..., Any]:
        entry = REGISTRY.create_entry(
            name,
            loss,
            provider=provider,
            version=version,
            aliases=aliases,
            example_inputs=example_inputs,
            override=override,
        )
        REGISTRY.add(entry)
        return loss

    return register


@overload
def register_loss(
    name: str,
    loss: None = None,
    *,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    override: bool = False,
) -> Callable[[F], F]: ...


@overload
def register_loss(
    name: str,
    loss: F,
    *,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    override: bool = False,
) -> F: ...


def register_loss(
    name: str,
    loss: Callable[..., Any] | None = None,
    *,
    aliases: Sequence[str] = (),
    example_inputs: ExampleInputs | None = None,
    override: bool = False,
) -> Any:
    """Register a loss under ``name``; use as a decorator or a call.

    ``@register_loss("MyLoss")`` decorates a function and returns it
    unchanged; ``register_loss("focal_loss", FocalLoss())`` registers a
    function or callable instance directly. The callable must accept
    ``(model_output, targets, **params)``; its signature is checked now.

    Losses registered while a plugin distribution is being loaded belong to
    that distribution; any other call registers under the provider
    ``runtime``. Registering a different loss under a name that the same
    provider already uses raises; re-registering the same definition (a
    re-run notebook cell) replaces it. ``override=True`` replaces an existing
    registration of the same provider and makes this loss win bare-name
    lookups against other providers.

    :param aliases: further names for the same loss.
    :param example_inputs: a factory ``(batch_size=4, dtype=torch.float32)
        -> (model_output, targets, params)`` for the conformance checker.
    """
    if loss is None:

        def decorator(fn: F) -> F:
            register_loss(name, fn, aliases=aliases, example_inputs=example_inputs, override=override)
            return fn

        return decorator
    provider, version = _LOADING.get() or (RUNTIME_PROVIDER, None)
    make_registrar(provider, version)(
        name, loss, aliases=aliases, example_inputs=example_inputs, override=override
    )
    return loss


def register_plugin_losses(plugin: object, *, provider: str | None, version: str | None) -> None:
    """Call ``plugin``'s own ``losses_register`` implementation, if any."""
    registrar = make_registrar(provider or RUNTIME_PROVIDER, version)
    for impl in MANAGER.hook.losses_register.get_hookimpls():
        if impl.plugin is plugin:
            kwargs = {"register": registrar}
            impl.function(*[kwargs[arg] for arg in impl.argnames])


def _load_builtins() -> None:
    from losses_core.losses import register_builtin_losses

    register_builtin_losses(make_registrar(CORE_PROVIDER, _core_version()))


def _core_version() -> str:
    from losses_core._version import __version__

    return __version__


def _load_entry_point(distribution: str, version: str | None, entry_point: Any) -> str | None:
    before = {id(e) for e in REGISTRY.entries() if e.provider == distribution}
    token = _LOADING.set((distribution, version))
    plugin: object | None = None
    registered_name: str | None = None
    try:
        plugin = entry_point.load()
        name = (
            distribution if MANAGER.get_plugin(distribution) is None else f"{distribution}:{entry_point.name}"
        )
        registered_name = MANAGER.register(plugin, name=name)
        register_plugin_losses(plugin, provider=distribution, version=version)
    except BaseException:
        for entry in REGISTRY.entries():
            if entry.provider == distribution and id(entry) not in before:
                REGISTRY.remove_entry(entry)
        if registered_name is not None:
            MANAGER.unregister(name=registered_name)
        raise
    finally:
        _LOADING.reset(token)
    return registered_name


LOADER = PluginLoader(_load_builtins, _load_entry_point)


def ensure_loaded() -> None:
    """Load built-in losses and installed plugins, once per process."""
    LOADER.ensure_loaded()


def lookup(name: str) -> LossEntry:
    """The entry ``name`` denotes, after loading plugins."""
    LOADER.ensure_loaded()
    return REGISTRY.lookup(name, unknown_hint=LOADER.failure_hint())
