"""The pluggy plugin manager, the cached "are there hooks" state, and the
runner that turns a raising hook into an error naming its plugin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pluggy

from losses_core import hookspecs
from losses_core._errors import HookError, LossError
from losses_core._hookstate import HOOKS
from losses_core._markers import PROJECT_NAME

if TYPE_CHECKING:
    from losses_core._call import LossCall


class LossesPluginManager(pluggy.PluginManager):
    """A pluggy ``PluginManager`` that keeps :data:`HOOKS` up to date."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        self.refresh_hook_state()
        return result

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        result = super().unregister(plugin, name)
        self.refresh_hook_state()
        return result

    def refresh_hook_state(self) -> None:
        HOOKS.pre = bool(self.hook.losses_pre_loss.get_hookimpls())
        HOOKS.post = bool(self.hook.losses_post_loss.get_hookimpls())
        HOOKS.active = HOOKS.pre or HOOKS.post

    def enable_trace(self) -> None:
        """Print every hook call and its result to stderr."""
        self.trace.root.setwriter(sys.stderr.write)
        self.enable_tracing()


def _create_manager() -> LossesPluginManager:
    from losses_core._environment import TRACE_PLUGINS, env_flag

    manager = LossesPluginManager()
    if env_flag(TRACE_PLUGINS):
        manager.enable_trace()
    return manager


MANAGER = _create_manager()


def run_loss_hook(hook: pluggy.HookCaller, call: LossCall) -> None:
    """Call ``hook(call=call)``; if an implementation raises, say which.

    Errors of losses-core's own types (a :class:`NonFiniteLossError`, say)
    keep their type and gain a note naming the plugin; anything else becomes
    a :class:`HookError` chained to the original.
    """
    try:
        hook(call=call)
    except Exception as exc:
        plugin = _raising_plugin(hook, exc)
        where = f"hook {hook.name!r} of plugin {plugin!r}" if plugin else f"hook {hook.name!r}"
        if isinstance(exc, LossError):
            if hasattr(exc, "add_note"):
                exc.add_note(f"raised by {where} during loss {call.name!r}")
            raise
        raise HookError(f"{where} raised {type(exc).__name__} during loss {call.name!r}: {exc}") from exc


def _raising_plugin(hook: pluggy.HookCaller, exc: BaseException) -> str | None:
    codes = {}
    for impl in hook.get_hookimpls():
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


def register_hooks(plugin: object, name: str | None = None) -> str:
    """Register a hook plugin (a module or an object with ``@hookimpl``
    methods) for the rest of the process; return its plugin name.

    If it implements ``losses_register``, its losses are registered now under
    the provider ``runtime``.
    """
    from losses_core._runtime import register_plugin_losses

    registered = MANAGER.register(plugin, name)
    if registered is None:
        raise HookError(f"plugin {name or plugin!r} is blocked and was not registered")
    register_plugin_losses(plugin, provider=None, version=None)
    return registered


def unregister_hooks(plugin: object) -> None:
    """Unregister a hook plugin registered with :func:`register_hooks`."""
    MANAGER.unregister(plugin)


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
