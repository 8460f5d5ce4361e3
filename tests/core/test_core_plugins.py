"""The plugin loader with fake entry points: order, failures, env controls,
thread safety, attribution of import-time registrations."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from losses_core import _plugins as _discovery
from losses_core._environment import PluginControls
from losses_core._plugins import LoadResult, PluginLoader, _Candidate


@dataclass
class FakeEntryPoint:
    name: str
    value: str


def make_loader(monkeypatch, names, fail=()):
    loaded: list[str] = []
    candidates = [_Candidate(n, "1.0", FakeEntryPoint(n, f"{n.replace('-', '_')}._plugin")) for n in names]
    monkeypatch.setattr(_discovery, "find_entry_points", lambda: list(candidates))

    def load_one(dist, version, ep):
        time.sleep(0.01)
        loaded.append(dist)
        if dist in fail:
            raise ImportError(f"{dist} is broken")
        return LoadResult(dist, ("losses_register",))

    return PluginLoader(lambda: None, load_one), loaded


def test_loads_in_given_order_once(monkeypatch):
    loader, loaded = make_loader(monkeypatch, ["a-dist", "b-dist"])
    loader.ensure_loaded()
    loader.ensure_loaded()
    assert loaded == ["a-dist", "b-dist"]
    assert [r.status for r in loader.records] == ["loaded", "loaded"]
    assert loader.records[0].hooks == ("losses_register",)


def test_failure_is_recorded_and_others_still_load(monkeypatch):
    loader, loaded = make_loader(monkeypatch, ["a-dist", "broken", "c-dist"], fail={"broken"})
    loader.ensure_loaded()
    assert loaded == ["a-dist", "broken", "c-dist"]
    (failure,) = loader.failures
    assert failure.distribution == "broken" and "ImportError: broken is broken" in failure.error
    assert "broken" in loader.failure_hint()


def test_concurrent_first_use_loads_each_plugin_once(monkeypatch):
    loader, loaded = make_loader(monkeypatch, ["a-dist", "b-dist", "c-dist"])
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        loader.ensure_loaded()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(loaded) == ["a-dist", "b-dist", "c-dist"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1"}, []),
        ({"LOSSES_LOAD_PLUGINS": "b_dist"}, ["b-dist"]),
        ({"LOSSES_LOAD_PLUGINS": ""}, []),
        ({"LOSSES_DISABLE_PLUGINS": "a-dist, c-dist"}, ["b-dist"]),
    ],
)
def test_environment_controls(monkeypatch, env, expected):
    for key in ("LOSSES_DISABLE_PLUGIN_AUTOLOAD", "LOSSES_LOAD_PLUGINS", "LOSSES_DISABLE_PLUGINS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loader, loaded = make_loader(monkeypatch, ["a-dist", "b-dist", "c-dist"])
    loader.ensure_loaded()
    assert loaded == expected
    skipped = [r for r in loader.records if r.status == "skipped"]
    assert len(skipped) == (0 if not loader.controls.autoload else 3 - len(expected))


def test_trace_prints_loading(monkeypatch, capsys):
    monkeypatch.setenv("LOSSES_TRACE_PLUGINS", "1")
    loader, _ = make_loader(monkeypatch, ["a-dist"])
    loader.ensure_loaded()
    assert "losses: loading a-dist" in capsys.readouterr().err


def test_bad_flag_value_is_an_error(monkeypatch):
    monkeypatch.setenv("LOSSES_DISABLE_PLUGIN_AUTOLOAD", "maybe")
    with pytest.raises(ValueError, match="LOSSES_DISABLE_PLUGIN_AUTOLOAD"):
        PluginControls.from_environment()


def test_import_time_register_loss_is_attributed_to_loading_distribution():
    import torch

    from losses_core import LOSSES, register_loss
    from losses_core._registry import LOADING as _LOADING

    token = _LOADING.set(("losses-fake", "9.9"))
    try:

        @register_loss("import_time_loss")
        def loss(model_output, targets):
            return model_output["x"].sum()

    finally:
        _LOADING.reset(token)
    handle = LOSSES["import_time_loss"]
    assert (handle.provider, handle.version) == ("losses-fake", "9.9")
    assert handle({"x": torch.ones(2)}, {}).item() == 2.0


def test_hookimpl_marker_is_pluggy_compatible():
    import pluggy

    from losses_core import hookimpl
    from losses_core._hooks import hook_implementations

    class Plugin:
        @hookimpl(tryfirst=True)
        def losses_pre_loss(self, call):
            return None

        @hookimpl(specname="losses_register")
        def provide(self, register):
            return None

    plugin = Plugin()
    assert set(hook_implementations(plugin)) == {"losses_pre_loss", "losses_register"}
    reference = pluggy.HookimplMarker("losses")

    @reference(tryfirst=True)
    def theirs():
        return None

    assert Plugin.losses_pre_loss.losses_impl == theirs.losses_impl  # type: ignore[attr-defined]


def test_import_and_first_lookup_stay_free_of_pluggy_yaml_and_dynamo():
    import subprocess
    import sys

    code = (
        "import sys, losses_core\n"
        "assert 'losses_core._mapping' not in sys.modules\n"
        "losses_core.LOSSES['mse']\n"
        "print(sorted(m for m in ('pluggy', 'yaml', 'torch._dynamo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_losses_registered_before_discovery_are_claimed_by_their_distribution():
    """A plugin module imported by user code before the first lookup registers
    at import under 'runtime'; loading its entry point moves them to the
    distribution."""
    import types

    from losses_core import LOSSES, register_loss
    from losses_core._plugins import _load_entry_point

    module = types.ModuleType("losses_prefab._plugin")

    def prefab_loss(model_output, targets):
        return model_output["x"].sum()

    prefab_loss.__module__ = "losses_prefab._plugin"
    module.prefab_loss = register_loss("prefab_loss", prefab_loss)
    assert LOSSES["prefab_loss"].provider == "runtime"

    class EntryPoint:
        name = "losses-prefab"
        value = "losses_prefab._plugin"

        def load(self):
            return module

    import sys

    sys.modules["losses_prefab"] = types.ModuleType("losses_prefab")
    try:
        _load_entry_point("losses-prefab", "2.0", EntryPoint())
    finally:
        del sys.modules["losses_prefab"]
    handle = LOSSES["prefab_loss"]
    assert (handle.provider, handle.version) == ("losses-prefab", "2.0")


def test_a_failed_load_gives_pre_imported_losses_back_to_runtime():
    import sys
    import types

    import pytest

    from losses_core import LOSSES, hookimpl, register_loss
    from losses_core._plugins import _load_entry_point

    module = types.ModuleType("losses_broken_prefab._plugin")

    def prefab_kept(model_output, targets):
        return model_output["x"].sum()

    prefab_kept.__module__ = "losses_broken_prefab._plugin"
    module.prefab_kept = register_loss("prefab_kept", prefab_kept)

    @hookimpl
    def losses_register(register):
        raise RuntimeError("broken on purpose")

    module.losses_register = losses_register

    class EntryPoint:
        name = "losses-broken-prefab"
        value = "losses_broken_prefab._plugin"

        def load(self):
            return module

    sys.modules["losses_broken_prefab"] = types.ModuleType("losses_broken_prefab")
    try:
        with pytest.raises(RuntimeError, match="broken on purpose"):
            _load_entry_point("losses-broken-prefab", "1.0", EntryPoint())
    finally:
        del sys.modules["losses_broken_prefab"]
    assert LOSSES["prefab_kept"].provider == "runtime"  # the user's own registration survives
