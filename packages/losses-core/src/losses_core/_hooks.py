"""Hooks: the markers, the plugin manager, the cached hook state read on
every loss call, and the dispatch of pre- and post-loss hooks.

``hookimpl`` and ``hookspec`` write exactly the attributes pluggy's own
markers write, so pluggy treats marked functions as its own. pluggy itself is
imported here only, and only when a plugin with pre- or post-loss hooks is
registered: ``import losses_core`` and the first lookup never load it.

The pre- and post-loss hooks are called directly from a cached list of
implementations in pluggy's order (last registered first, adjusted by
``tryfirst``/``trylast``) while every implementation is a plain one; when
some implementation is a wrapper, the call goes through pluggy's hook caller.
Either way, an exception names the plugin and the hook that raised it.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from losses_core._errors import HookError, LossError
from losses_core._names import PROJECT_NAME
from losses_core._registry import RUNTIME_PROVIDER, make_registrar

if TYPE_CHECKING:
    import pluggy

F = TypeVar("F", bound=Callable[..., Any])

IMPL_ATTRIBUTE = f"{PROJECT_NAME}_impl"


# -- markers -------------------------------------------------------------------
class HookimplMarker:
    """Marks hook implementations; compatible with ``pluggy.HookimplMarker("losses")``.

    Use as ``@hookimpl`` or with pluggy's options:
    ``@hookimpl(tryfirst=True)``, ``trylast``, ``wrapper``, ``hookwrapper``,
    ``optionalhook``, ``specname``.
    """

    @overload
    def __call__(self, function: F) -> F: ...

    @overload
    def __call__(
        self,
        function: None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> Callable[[F], F]: ...

    def __call__(
        self,
        function: F | None = None,
        *,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> F | Callable[[F], F]:
        options = {
            "wrapper": wrapper,
            "hookwrapper": hookwrapper,
            "optionalhook": optionalhook,
            "tryfirst": tryfirst,
            "trylast": trylast,
            "specname": specname,
        }

        def mark(func: F) -> F:
            setattr(func, IMPL_ATTRIBUTE, options)
            return func

        return mark if function is None else mark(function)


hookimpl = HookimplMarker()
"""Marker for hook implementations: decorate functions of a plugin module or
methods of a plugin object with ``@hookimpl``."""


def hook_implementations(plugin: object) -> dict[str, list[Callable[..., Any]]]:
    """The hook implementations of ``plugin``, by hook name, as pluggy finds them."""
    found: dict[str, list[Callable[..., Any]]] = {}
    if isinstance(plugin, ModuleType):
        items: Iterable[tuple[str, Any]] = list(vars(plugin).items())
    else:
        items = _attributes(plugin)
    for attribute, value in items:
        if not inspect.isroutine(value):
            continue
        options = getattr(value, IMPL_ATTRIBUTE, None)
        if isinstance(options, dict):
            found.setdefault(options.get("specname") or attribute, []).append(value)
    return found


def _attributes(plugin: object) -> Iterator[tuple[str, Any]]:
    for attribute in dir(plugin):
        try:
            yield attribute, getattr(plugin, attribute)
        except Exception:
            continue


# -- the state read on every call ---------------------------------------------------
Implementation = tuple[Callable[..., Any], str, bool]
"""``(function, plugin name, takes call)``: one plain hook implementation."""


class HookState:
    """Read on every loss call; refreshed on every register/unregister, so
    the hot path costs one attribute read while no hook is in use.

    ``pre``/``post`` are the plain implementations in call order, or
    ``None`` when the calls need pluggy's caller (some implementation is a
    wrapper, or ``LOSSES_TRACE_PLUGINS`` asks pluggy to trace every call).
    """

    __slots__ = ("active", "has_post", "has_pre", "post", "pre", "traced")

    def __init__(self) -> None:
        self.traced = False
        self.has_pre = False
        self.has_post = False
        self.active = False
        self.pre: tuple[Implementation, ...] | None = ()
        self.post: tuple[Implementation, ...] | None = ()


HOOKS = HookState()


def _plain_implementations(caller: pluggy.HookCaller) -> tuple[Implementation, ...] | None:
    impls = caller.get_hookimpls()
    if any(impl.wrapper or impl.hookwrapper for impl in impls):
        return None
    return tuple((impl.function, impl.plugin_name, bool(impl.argnames)) for impl in reversed(impls))


# -- the plugin manager -------------------------------------------------------------
_MANAGER: Any = None
_MANAGER_LOCK = threading.Lock()


def manager() -> pluggy.PluginManager:
    """The plugin manager of the ``losses`` project (pluggy is imported now)."""
    global _MANAGER
    if _MANAGER is not None:
        return _MANAGER  # type: ignore[no-any-return]
    with _MANAGER_LOCK:  # concurrent first registrations build one manager
        if _MANAGER is not None:
            return _MANAGER
        import pluggy

        from losses_core import hookspecs
        from losses_core._environment import TRACE_PLUGINS, env_flag

        created = pluggy.PluginManager(PROJECT_NAME)
        created.add_hookspecs(hookspecs)
        if env_flag(TRACE_PLUGINS):
            # bound late: the manager may be created while a plugin's output is captured
            created.trace.root.setwriter(lambda text: sys.stderr.write(text))
            created.enable_tracing()
            HOOKS.traced = True
        _MANAGER = created
    return _MANAGER  # type: ignore[no-any-return]


def hook_plugin_items() -> list[tuple[str, object]]:
    """``(name, plugin)`` of every registered hook plugin."""
    return [] if _MANAGER is None else list(_MANAGER.list_name_plugin())


def get_hook_plugin(name: str) -> object | None:
    """The registered hook plugin called ``name``, if any."""
    return None if _MANAGER is None else _MANAGER.get_plugin(name)


def _refresh() -> None:
    hook = manager().hook
    HOOKS.has_pre = bool(hook.losses_pre_loss.get_hookimpls())
    HOOKS.has_post = bool(hook.losses_post_loss.get_hookimpls())
    # traced calls go through pluggy's caller, which writes the trace
    HOOKS.pre = None if HOOKS.traced else _plain_implementations(hook.losses_pre_loss)
    HOOKS.post = None if HOOKS.traced else _plain_implementations(hook.losses_post_loss)
    HOOKS.active = HOOKS.has_pre or HOOKS.has_post


def add_hook_plugin(plugin: object, name: str | None = None) -> str:
    """Register ``plugin`` with the plugin manager; return its name.

    :raises HookError: it is already registered, its name is taken, or it is blocked.
    """
    try:
        registered = manager().register(plugin, name)
    except ValueError as exc:  # pluggy: already registered, or the name is taken
        raise HookError(f"cannot register hook plugin {name or plugin!r}: {exc}") from None
    if registered is None:
        raise HookError(f"plugin {name or plugin!r} is blocked and was not registered")
    _refresh()
    return registered


def remove_hook_plugin(plugin: object | None = None, name: str | None = None) -> None:
    """Unregister a hook plugin by object or name.

    :raises HookError: it is not registered.
    """
    mgr = manager()
    if (plugin is not None and not mgr.is_registered(plugin)) or (
        plugin is None and name is not None and mgr.get_plugin(name) is None
    ):
        raise HookError(f"hook plugin {name or plugin!r} is not registered")
    mgr.unregister(plugin, name)
    _refresh()


# -- dispatch ------------------------------------------------------------------------
def run_hook(hook_name: str, implementations: tuple[Implementation, ...] | None, call: Any) -> None:
    """Call the ``hook_name`` implementations with ``call``.

    A :class:`~losses_core.LossError` raised by a hook keeps its type and
    gains a note naming the plugin; anything else becomes a
    :class:`HookError` naming the plugin and the hook, chained to the original.
    """
    if implementations is None:
        caller = getattr(manager().hook, hook_name)
        try:
            caller(call=call)
        except Exception as exc:
            _reraise(hook_name, _raising_plugin(caller, exc), exc, call)
        return
    for function, plugin, takes_call in implementations:
        try:
            if takes_call:
                function(call)
            else:
                function()
        except Exception as exc:
            _reraise(hook_name, plugin, exc, call)


def _reraise(hook_name: str, plugin: str | None, exc: Exception, call: Any) -> None:
    where = f"hook {hook_name!r} of plugin {plugin!r}" if plugin else f"hook {hook_name!r}"
    if isinstance(exc, LossError):
        note = f"raised by {where} during loss {call.name!r}"
        if hasattr(exc, "add_note"):  # Python 3.11+
            exc.add_note(note)
        elif exc.args and isinstance(exc.args[0], str):
            exc.args = (f"{exc.args[0]} ({note})", *exc.args[1:])
        raise exc
    raise HookError(f"{where} raised {type(exc).__name__} during loss {call.name!r}: {exc}") from exc


def _raising_plugin(caller: pluggy.HookCaller, exc: BaseException) -> str | None:
    codes = {}
    for impl in caller.get_hookimpls():
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            codes[code] = impl.plugin_name
    tb = exc.__traceback__
    found = None
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            found = name
        tb = tb.tb_next
    return found


def runtime_hook_names(exclude: set[str]) -> list[str]:
    """The hooks implemented by registered hook plugins not named in ``exclude``."""
    if _MANAGER is None:
        return []
    return sorted(
        {
            caller.name
            for name, plugin in _MANAGER.list_name_plugin()
            if name not in exclude
            for caller in (_MANAGER.get_hookcallers(plugin) or [])
        }
    )


def post_hook_names() -> list[str]:
    """The plugins implementing the post-loss hook, for messages."""
    if _MANAGER is None:
        return []
    return [impl.plugin_name for impl in reversed(_MANAGER.hook.losses_post_loss.get_hookimpls())]


# -- registration ----------------------------------------------------------------------
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


def register_hooks(plugin: object, name: str | None = None) -> str:
    """Register a hook plugin (a module or an object with ``@hookimpl``
    methods) for the rest of the process; return its plugin name.

    If it implements ``losses_register``, its losses are registered now under
    the provider ``runtime``.
    """
    registered = add_hook_plugin(plugin, name)
    try:
        register_plugin_losses(plugin, provider=None, version=None)
    except BaseException:
        remove_hook_plugin(plugin)
        raise
    return registered


def unregister_hooks(plugin: object) -> None:
    """Unregister a hook plugin registered with :func:`register_hooks`."""
    remove_hook_plugin(plugin)


@contextmanager
def use_hooks(*plugins: object) -> Iterator[None]:
    """Register hook plugins for the duration of a ``with`` block.

    Only pre- and post-loss hooks are scoped: losses that a plugin registers
    through ``losses_register`` stay registered.
    """
    registered: list[object] = []
    try:
        for plugin in plugins:
            register_hooks(plugin)
            registered.append(plugin)
        yield
    finally:
        for plugin in reversed(registered):
            unregister_hooks(plugin)
