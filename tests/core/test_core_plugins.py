"""The plugin loader, end to end in fresh interpreters over synthetic
installed distributions: what is imported when, containment of faulty
plugins, attribution, the environment controls."""

from __future__ import annotations

import threading

import pytest
from plugin_sites import run_json, run_python, write_dynamic_plugin, write_static_plugin

IMPORTED = "sorted(m for m in sys.modules if m.startswith('losses_tiny') or m == 'torch')"


@pytest.fixture
def site(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-tiny",
        {"tiny_one": {"aliases": ["TinyOne"]}, "tiny_two": {"summary": "The second tiny loss."}},
    )
    return tmp_path


def test_listing_reads_manifests_and_imports_no_plugin_module_and_not_torch(site):
    report = run_json(
        site,
        f"""
        import json, sys
        from losses_core import list_losses, list_plugins, LOSSES
        infos = {{i.name: i for i in list_losses('tiny*')}}
        plugin = [p for p in list_plugins() if p.name == 'losses-tiny'][0]
        print(json.dumps({{
            "names": sorted(infos), "aliases": infos['tiny_one'].aliases,
            "summary": infos['tiny_two'].summary,
            "version": infos['tiny_one'].version, "imported": infos['tiny_one'].imported,
            "status": plugin.status, "form": plugin.form, "losses": plugin.losses,
            "in": 'TinyOne' in LOSSES.keys() or 'tiny_one' in list(LOSSES), "modules": {IMPORTED},
        }}))
        """,
    )
    assert report == {
        "names": ["tiny_one", "tiny_two"],
        "aliases": ["TinyOne"],
        "summary": "The second tiny loss.",
        "version": "1.0",
        "imported": False,
        "status": "available",
        "form": "static",
        "losses": ["tiny_one", "tiny_two"],
        "in": True,
        "modules": [],
    }


def test_a_lookup_imports_only_the_module_of_that_loss(site):
    report = run_json(
        site,
        f"""
        import json, sys, torch
        from losses_core import LOSSES
        value = LOSSES['TinyOne']({{'predictions': torch.ones(3)}}, {{}}, scale=2.0)
        handle = LOSSES['tiny_one']
        print(json.dumps({{"value": value.item(), "provider": handle.provider, "modules": {IMPORTED},
                           "same": handle is LOSSES['TinyOne']}}))
        """,
    )
    assert report == {
        "value": 2.0,
        "provider": "losses-tiny",
        "modules": ["losses_tiny", "losses_tiny.tiny_one", "torch"],
        "same": True,
    }


def test_a_module_imported_by_user_code_first_still_belongs_to_its_distribution(site):
    report = run_json(
        site,
        """
        import json
        import losses_tiny.tiny_two  # registers under 'runtime' until the manifests are read
        from losses_core import LOSSES, list_plugins
        runtime = [p.losses for p in list_plugins() if p.name == 'runtime']
        print(json.dumps({"provider": LOSSES['tiny_two'].provider, "runtime": runtime}))
        """,
    )
    assert report == {"provider": "losses-tiny", "runtime": []}


def test_declared_hook_plugins_are_imported_at_the_first_lookup_and_see_every_call(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-hooked",
        {"hooked_loss": {}},
        hooks="""
        from losses_core import hookimpl

        @hookimpl
        def losses_post_loss(call):
            call.result["metrics"]["seen_by_hook"] = 1.0
        """,
    )
    report = run_json(
        tmp_path,
        """
        import json, sys
        from losses_core import list_losses, resolve_loss
        list_losses()
        before = 'losses_hooked' in sys.modules
        import torch
        out = resolve_loss('mse')({'predictions': torch.ones(2)}, {'target': torch.zeros(2)})
        print(json.dumps({"before": before, "metrics": sorted(out["metrics"]),
                          "loss_module": 'losses_hooked.hooked_loss' in sys.modules}))
        """,
    )
    assert report == {"before": False, "metrics": ["seen_by_hook"], "loss_module": False}


def test_dynamic_plugins_are_imported_at_the_first_listing_and_lookup(tmp_path):
    write_dynamic_plugin(
        tmp_path,
        "losses-dyn",
        """
        from losses_core import hookimpl

        def dyn_loss(model_output, targets):
            \"\"\"A loss registered at import time.\"\"\"
            return model_output["predictions"].sum()

        @hookimpl
        def losses_register(register):
            register("dyn_loss", dyn_loss, aliases=("DynLoss",))
        """,
    )
    report = run_json(
        tmp_path,
        """
        import json, sys
        from losses_core import list_losses, list_plugins, LOSSES
        info = [i for i in list_losses() if i.name == 'dyn_loss'][0]
        plugin = [p for p in list_plugins() if p.name == 'losses-dyn'][0]
        print(json.dumps({"provider": info.provider, "summary": info.summary, "status": plugin.status,
                          "form": plugin.form, "hooks": plugin.hooks, "alias": LOSSES['DynLoss'].provider}))
        """,
    )
    assert report == {
        "provider": "losses-dyn",
        "summary": "A loss registered at import time.",
        "status": "loaded",
        "form": "dynamic",
        "hooks": ["losses_register"],
        "alias": "losses-dyn",
    }


def test_a_loss_module_that_exits_or_raises_is_contained_and_named(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-exits",
        {"exits_loss": {"extra": "import sys\nsys.exit(3)\n"}, "fine_loss": {}},
    )
    write_dynamic_plugin(tmp_path, "losses-raises", "raise RuntimeError('plugin is broken')\n")
    report = run_json(
        tmp_path,
        """
        import json
        from losses_core import LOSSES, UnknownLossError, list_plugins
        try:
            LOSSES['exits_loss']
        except UnknownLossError as exc:
            first = str(exc)
        try:
            LOSSES['exits_loss']
        except UnknownLossError as exc:
            second = str(exc)
        try:
            LOSSES['not_there']
        except UnknownLossError as exc:
            missed = str(exc)
        plugins = {p.name: (p.status, p.error) for p in list_plugins()}
        print(json.dumps({"first": first, "same": first == second, "missed": missed,
                          "fine": LOSSES['fine_loss'].provider, "plugins": plugins}))
        """,
    )
    assert "exits_loss" in report["first"] and "losses-exits 1.0" in report["first"]
    assert "SystemExit(3)" in report["first"] and report["same"]
    assert report["fine"] == "losses-exits"
    assert report["plugins"]["losses-exits"][0] == "failed"
    assert "SystemExit(3)" in report["plugins"]["losses-exits"][1]
    assert report["plugins"]["losses-raises"] == ["failed", "losses_raises: RuntimeError: plugin is broken"]
    assert "losses-raises 1.0" in report["missed"] and "plugin is broken" in report["missed"]
    assert "losses-exits" not in report["missed"]  # its manifest says what it provides


def test_what_plugin_code_prints_is_recorded_and_kept_off_stdout(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-noisy",
        {"noisy_loss": {"extra": "import sys\nprint('hello from noisy')\nprint('oops', file=sys.stderr)\n"}},
    )
    proc = run_python(
        tmp_path,
        """
        import json
        from losses_core import LOSSES, list_plugins
        LOSSES['noisy_loss']
        (plugin,) = [p for p in list_plugins() if p.name == 'losses-noisy']
        print(json.dumps(plugin.warnings))
        """,
    )
    assert proc.returncode == 0, proc.stderr
    warnings = __import__("json").loads(proc.stdout)
    assert "hello from noisy" not in proc.stdout.replace(warnings[0], "")
    assert "printed to stdout" in warnings[0] and "hello from noisy" in warnings[0]
    assert "printed to stderr" in warnings[1] and "oops" in warnings[1]
    assert "hello from noisy" in proc.stderr and "oops" in proc.stderr


def test_a_manifest_that_does_not_match_the_code_is_a_clear_error(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-stale",
        {"real_name": {}},
        declare={"old_name": {"object": "losses_stale.real_name:real_name", "summary": "Old."}},
    )
    report = run_json(
        tmp_path,
        """
        import json
        from losses_core import LOSSES, UnknownLossError
        from losses_core.testing import check_manifest
        try:
            LOSSES['old_name']
        except UnknownLossError as exc:
            message = str(exc)
        print(json.dumps({"message": message, "problems": check_manifest('losses-stale')}))
        """,
    )
    assert "registered no loss 'old_name'" in report["message"]
    assert "losses doctor --import" in report["message"]
    assert report["problems"] == [
        "losses-stale: 'old_name' is declared (losses_stale.real_name:real_name) but the code registers no "
        "such loss",
        "losses-stale: 'real_name' is registered by losses_stale.real_name:real_name but not declared",
    ]


def test_a_takeover_with_override_wins_the_name_and_its_aliases(tmp_path):
    write_static_plugin(tmp_path, "losses-taker", {"mse": {"aliases": ["squared_error"], "override": True}})
    report = run_json(
        tmp_path,
        """
        import json
        from losses_core import LOSSES, list_losses
        from losses_core._cli import doctor_report
        infos = {i.qualified_name: i for i in list_losses('mse')}
        print(json.dumps({"bare": LOSSES['mse'].provider, "alias": LOSSES['squared_error'].provider,
                          "core_alias": LOSSES['MSE'].provider, "core": LOSSES['mse@losses-core'].provider,
                          "overrides": infos['mse@losses-taker'].overrides,
                          "ambiguous": [i.ambiguous for i in infos.values()],
                          "takeovers": doctor_report()["takeovers"]}))
        """,
    )
    assert report["bare"] == report["alias"] == "losses-taker"
    assert report["core_alias"] == report["core"] == "losses-core"
    assert report["overrides"] == ["mse@losses-core"]
    assert report["ambiguous"] == [False, False]
    assert report["takeovers"] == [
        {
            "name": "mse",
            "by": "mse@losses-taker",
            "by_version": "1.0",
            "aliases": ["squared_error"],
            "from": ["mse@losses-core"],
        }
    ]


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("LOSSES_DISABLE_PLUGIN_AUTOLOAD", "maybe", "1/0, true/false"),
        ("LOSSES_TRACE_PLUGINS", "2", "1/0, true/false"),
        ("LOSSES_CONFIG_ALLOW_IMPORT", "sometimes", "1/0, true/false"),
        ("LOSSES_LOAD_PLUGINS", "bad name!", "comma-separated distribution names"),
        ("LOSSES_DISABLE_PLUGINS", "a,b c", "comma-separated distribution names"),
    ],
)
def test_an_invalid_control_is_an_error_every_time_until_fixed(site, variable, value, accepted):
    report = run_json(
        site,
        f"""
        import json, os
        from losses_core import LOSSES, LossEnvironmentError, list_losses
        errors = []
        for attempt in (lambda: LOSSES['mse'], lambda: LOSSES['tiny_one'], list_losses):
            try:
                attempt()
            except LossEnvironmentError as exc:
                errors.append(str(exc))
        del os.environ[{variable!r}]
        print(json.dumps({{"errors": errors, "after": LOSSES['tiny_one'].provider}}))
        """,
        **{variable: value},
    )
    assert len(report["errors"]) == 3 and len(set(report["errors"])) == 1
    assert variable in report["errors"][0] and repr(value) in report["errors"][0]
    assert accepted in report["errors"][0]
    assert report["after"] == "losses-tiny"


def test_environment_controls_select_what_is_catalogued(site, tmp_path):
    code = """
        import json
        from losses_core import list_plugins
        print(json.dumps({p.name: p.status for p in list_plugins() if p.name.startswith('losses-tiny')}))
    """
    assert run_json(site, code) == {"losses-tiny": "available"}
    assert run_json(site, code, LOSSES_DISABLE_PLUGINS="Losses_Tiny") == {"losses-tiny": "skipped"}
    assert run_json(site, code, LOSSES_LOAD_PLUGINS="") == {"losses-tiny": "skipped"}
    assert run_json(site, code, LOSSES_DISABLE_PLUGIN_AUTOLOAD="yes") == {}
    traced = run_python(site, code, LOSSES_TRACE_PLUGINS="1")
    assert "losses: catalogued losses-tiny (2 losses)" in traced.stderr


def test_concurrent_first_lookups_import_a_module_once(site):
    report = run_json(
        site,
        """
        import json, threading
        import builtins
        from losses_core import LOSSES
        barrier = threading.Barrier(8)
        handles = []
        def worker():
            barrier.wait()
            handles.append(LOSSES['tiny_two'])
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        import losses_tiny.tiny_two as module
        print(json.dumps({"one": len({id(h) for h in handles}), "count": len(handles)}))
        """,
    )
    assert report == {"one": 1, "count": 8}


def test_the_registry_thread_lock_is_reentrant_for_a_plugin_that_looks_up_at_import(tmp_path):
    write_static_plugin(
        tmp_path,
        "losses-nested",
        {"nested_loss": {"extra": "from losses_core import LOSSES\nINNER = LOSSES['mse']\n"}},
    )
    done = threading.Event()
    report = run_json(
        tmp_path,
        """
        import json
        from losses_core import LOSSES
        print(json.dumps(LOSSES['nested_loss'].provider))
        """,
    )
    done.set()
    assert report == "losses-nested"


def test_an_entry_point_named_after_its_distribution_is_a_plugin_object_as_in_0_2(tmp_path):
    from plugin_sites import write_dist_info

    package = tmp_path / "losses_legacy"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "plugin.py").write_text(
        "from losses_core import hookimpl\n\n"
        "class Plugin:\n"
        "    @hookimpl\n"
        "    def losses_register(self, register):\n"
        "        register('legacy_loss', lambda model_output, targets: model_output['x'].sum())\n\n"
        "PLUGIN = Plugin()\n",
        encoding="utf-8",
    )
    write_dist_info(
        tmp_path, "losses-legacy", "[losses.plugins]\nlosses-legacy = losses_legacy.plugin:PLUGIN\n"
    )
    report = run_json(
        tmp_path,
        """
        import json
        from losses_core import LOSSES, list_plugins
        (plugin,) = [p for p in list_plugins() if p.name == 'losses-legacy']
        print(json.dumps({"provider": LOSSES['legacy_loss'].provider, "form": plugin.form,
                          "status": plugin.status, "losses": plugin.losses}))
        """,
    )
    assert report == {
        "provider": "losses-legacy",
        "form": "dynamic",
        "status": "loaded",
        "losses": ["legacy_loss"],
    }


def test_a_catalogue_that_fails_midway_leaves_nothing_behind_and_can_be_retried(monkeypatch):
    from losses_core import _plugins
    from losses_core._registry import REGISTRY

    loader = _plugins.PluginLoader()
    before = set(REGISTRY.entries())
    real_scan = _plugins.scan_installed

    def broken_scan(**options):
        raise RuntimeError("scan failed")

    monkeypatch.setattr(_plugins, "scan_installed", broken_scan)
    with pytest.raises(RuntimeError, match="scan failed"):
        loader.catalogue()
    assert loader.records == [] and loader.failures == []
    assert set(REGISTRY.entries()) == before  # the built-ins it declared are gone again
    monkeypatch.setattr(_plugins, "scan_installed", real_scan)
    loader.catalogue()
    assert loader.records[0].distribution == "losses-core" and len(loader.records[0].declared) == 5
