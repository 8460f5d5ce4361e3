"""Integration tests with real plugin distributions.

losses-core and three fixture plugins (``tests/fixtures/plugins``) are built
into wheels and installed into a fresh virtual environment that borrows this
interpreter's CPU torch; every check runs in a fresh subprocess of that
environment with a clean set of environment variables (see ``conftest.py``).

- losses-fixture-alpha registers ``alpha_mse`` (alias ``alpha-mse-alias``)
  and ``shared_loss`` through the ``losses_register`` hook;
- losses-fixture-beta registers ``beta_l1`` and ``shared_loss`` with
  ``@register_loss`` at import, so ``shared_loss`` is provided twice;
- losses-fixture-broken raises on import.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BUILTINS = {"mse", "token_ce", "focal", "margin_ranking", "contrastive"}
ALPHA = "losses-fixture-alpha"
BETA = "losses-fixture-beta"
BROKEN = "losses-fixture-broken"
BROKEN_MESSAGE = "losses-fixture-broken fails on import on purpose"
EXPECTED_KEYS = BUILTINS | {
    "alpha_mse",
    "beta_l1",
    f"shared_loss@{ALPHA}",
    f"shared_loss@{BETA}",
}
ALPHA_SHARED_VALUE = 11.0  # what each fixture's shared_loss returns
BETA_SHARED_VALUE = 22.0


def plugin_statuses(report):
    return {p["name"]: p["status"] for p in report["plugins"]}


def log_events(log):
    """Counts of ``(plugin, event)`` lines in a fixture log."""
    counts = {}
    for plugin, event in log:
        counts[(plugin, event)] = counts.get((plugin, event), 0) + 1
    return counts


# -- the environment itself ----------------------------------------------------------------
def test_fresh_venv_uses_installed_wheels_and_borrowed_torch(plugin_venv):
    venv = plugin_venv.venv
    report = plugin_venv.probe("default").report
    assert Path(report["python"]).parent == venv.python.parent
    # losses-core comes from the installed wheel, not from the source tree.
    assert Path(report["losses_core_file"]).is_relative_to(venv.site_packages)
    assert "packages/losses-core" not in report["losses_core_file"]
    # torch is this interpreter's, through the borrowed symlinks, not a copy.
    assert Path(report["torch_file"]).resolve() != Path(report["torch_file"])
    assert not any("packages/losses-core/src" in p for p in report["sys_path"])
    # Nothing else of the parent environment is visible.
    assert report["visible"]["pytest"] is False
    assert report["visible"]["hatchling"] is False


# -- what LOSSES sees ---------------------------------------------------------------------
def test_losses_sees_exactly_builtins_and_fixture_losses(plugin_venv):
    report = plugin_venv.probe("default").report
    assert set(report["keys"]) == EXPECTED_KEYS
    listed = {(i["name"], i["provider"]): i for i in report["losses"]}
    assert set(listed) == {(n, "losses-core") for n in BUILTINS} | {
        ("alpha_mse", ALPHA),
        ("beta_l1", BETA),
        ("shared_loss", ALPHA),
        ("shared_loss", BETA),
    }
    assert listed[("shared_loss", ALPHA)]["ambiguous"] is True
    assert listed[("shared_loss", BETA)]["ambiguous"] is True
    assert listed[("alpha_mse", ALPHA)]["ambiguous"] is False
    assert listed[("alpha_mse", ALPHA)]["version"] == "1.0.0"
    assert listed[("beta_l1", BETA)]["version"] == "2.0.0"
    assert listed[("alpha_mse", ALPHA)]["aliases"] == ["alpha-mse-alias"]
    assert plugin_statuses(report) == {
        "losses-core": "builtin",
        ALPHA: "loaded",
        BETA: "loaded",
        BROKEN: "failed",
    }


def test_plugin_losses_are_callable_and_attributed(plugin_venv):
    calls = plugin_venv.probe("default").report["calls"]
    assert calls["alpha_mse"]["provider"] == ALPHA
    assert calls["alpha_mse"]["module"] == "losses_fixture_alpha._plugin"
    assert calls["alpha_mse"]["value"] == pytest.approx(calls["mse"]["value"])
    assert calls["alpha-mse-alias"]["qualified_name"] == f"alpha_mse@{ALPHA}"
    assert calls["beta_l1"]["provider"] == BETA
    assert calls["beta_l1"]["value"] == pytest.approx(5.0 / 3.0)


def test_bare_conflicting_name_raises_naming_both_distributions(plugin_venv):
    error = plugin_venv.probe("default").report["errors"]["shared_loss"]
    assert error is not None, "LOSSES['shared_loss'] did not raise"
    assert error["type"] == "LossConflictError"
    message = error["message"]
    for expected in (ALPHA, BETA, f"shared_loss@{ALPHA}", f"shared_loss@{BETA}"):
        assert expected in message


def test_qualified_name_selects_one_provider(plugin_venv):
    calls = plugin_venv.probe("default").report["calls"]
    alpha = calls[f"shared_loss@{ALPHA}"]
    assert alpha["value"] == ALPHA_SHARED_VALUE
    assert alpha["provider"] == ALPHA
    assert alpha["module"] == "losses_fixture_alpha._plugin"
    assert calls[f"shared_loss@{BETA}"]["value"] == BETA_SHARED_VALUE
    # The provider part is a distribution name: any spelling normalises to it.
    assert calls["shared_loss@losses_fixture_alpha"]["value"] == ALPHA_SHARED_VALUE


# -- a broken plugin ------------------------------------------------------------------------
def test_broken_plugin_is_listed_as_failed_by_losses_plugins_json(plugin_venv):
    plugins = {p["name"]: p for p in plugin_venv.command("plugins_json").json()}
    broken = plugins[BROKEN]
    assert broken["status"] == "failed"
    assert broken["version"] == "0.0.1"
    assert broken["entry_point"] == f"{BROKEN} = losses_fixture_broken._plugin"
    assert "RuntimeError" in broken["error"]
    assert BROKEN_MESSAGE in broken["error"]
    assert BROKEN_MESSAGE in broken["traceback"]
    # ... and it breaks nothing else.
    assert plugins[ALPHA]["status"] == "loaded"
    assert plugins[ALPHA]["losses"] == ["alpha_mse", "shared_loss"]
    assert plugins[ALPHA]["hooks"] == ["losses_register"]
    assert plugins[BETA]["status"] == "loaded"
    assert plugins[BETA]["losses"] == ["beta_l1", "shared_loss"]
    assert plugins["losses-core"]["losses"] == sorted(BUILTINS)


def test_broken_plugin_failure_is_in_the_unknown_loss_error(plugin_venv):
    error = plugin_venv.probe("default").report["errors"]["nonexistent"]
    assert error is not None
    assert error["type"] == "UnknownLossError"
    assert "KeyError" in error["mro"]
    assert BROKEN in error["message"]
    assert BROKEN_MESSAGE in error["message"]
    assert "losses_fixture_broken._plugin" in error["message"]


# -- laziness and concurrency ------------------------------------------------------------
def test_import_loads_no_plugin_and_scans_no_entry_points(plugin_venv):
    after_import = plugin_venv.probe("default").report["after_import"]
    assert after_import["plugin_modules"] == []
    assert after_import["log"] == []
    assert after_import["scans"] == [], "import losses_core read importlib.metadata"
    assert after_import["yaml_loaded"] is False


def test_first_lookup_scans_the_entry_point_group_once(plugin_venv):
    scans = plugin_venv.probe("default").report["scans_after_lookup"]
    groups = [s["group"] for s in scans if s["call"] == "entry_points"]
    assert groups == ["losses.plugins"]


def test_concurrent_first_lookups_load_each_plugin_once(plugin_venv):
    threads = plugin_venv.probe("default").report["threads"]
    assert threads["results"] == [f"alpha_mse@{ALPHA}"] * 8
    assert log_events(threads["log"]) == {
        ("alpha", "import"): 1,
        ("alpha", "hook"): 1,
        ("beta", "import"): 1,
    }


def test_plugin_losses_pickle_into_a_spawned_process(plugin_venv):
    spawn = plugin_venv.probe("default").report["spawn"]
    expected = spawn["in parent"]
    assert spawn["alpha_mse"] == pytest.approx(expected)
    assert spawn["shared_loss@losses-fixture-beta"] == BETA_SHARED_VALUE
    assert spawn["resolved alpha_mse scale=2"] == pytest.approx(2 * expected)


def test_plugin_module_imported_before_first_lookup_keeps_its_distribution(plugin_venv):
    report = plugin_venv.probe("preimport_beta").report
    assert report["calls"]["beta_l1"]["provider"] == BETA
    assert report["calls"][f"shared_loss@{BETA}"]["value"] == BETA_SHARED_VALUE
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins[BETA]["losses"] == ["beta_l1", "shared_loss"]
    assert "runtime" not in plugins


# -- environment controls --------------------------------------------------------------
def test_autoload_disabled_gives_only_builtins(plugin_venv):
    report = plugin_venv.probe("autoload_off").report
    assert set(report["keys"]) == BUILTINS
    assert report["plugin_modules"] == []
    assert report["threads"]["log"] == []
    assert not any(s["group"] == "losses.plugins" for s in report["scans_after_lookup"])
    assert report["errors"]["nonexistent"]["type"] == "UnknownLossError"
    assert "failed to load" not in report["errors"]["nonexistent"]["message"]


def test_allowlist_loads_only_the_listed_distribution(plugin_venv):
    report = plugin_venv.probe("allow_alpha").report
    assert set(report["keys"]) == BUILTINS | {"alpha_mse", "shared_loss"}
    assert report["calls"]["shared_loss@losses-fixture-alpha"]["value"] == ALPHA_SHARED_VALUE
    assert report["errors"]["shared_loss"] is None  # no conflict without beta
    statuses = plugin_statuses(report)
    assert statuses[ALPHA] == "loaded"
    assert statuses[BETA] == statuses[BROKEN] == "skipped"
    assert {m.split(".")[0] for m in report["plugin_modules"]} == {"losses_fixture_alpha"}


def test_empty_allowlist_loads_no_plugin(plugin_venv):
    report = plugin_venv.probe("allow_none").report
    assert set(report["keys"]) == BUILTINS
    assert report["plugin_modules"] == []
    assert report["threads"]["log"] == []
    statuses = plugin_statuses(report)
    assert statuses[ALPHA] == statuses[BETA] == statuses[BROKEN] == "skipped"


def test_blocklist_skips_the_broken_plugin_and_records_no_failure(plugin_venv):
    report = plugin_venv.probe("block_broken").report
    assert set(report["keys"]) == EXPECTED_KEYS
    statuses = plugin_statuses(report)
    assert statuses[BROKEN] == "skipped"
    assert "failed" not in statuses.values()
    assert "losses_fixture_broken" not in report["plugin_modules"]
    message = report["errors"]["nonexistent"]["message"]
    assert BROKEN not in message
    assert "failed to load" not in message


def test_trace_prints_plugin_loading_to_stderr(plugin_venv):
    stderr = plugin_venv.probe("trace").stderr
    assert f"losses: loading {ALPHA}" in stderr
    assert f"losses: loading {BETA}" in stderr
    assert f"losses: failed {BROKEN}" in stderr
    # ... and without the switch nothing is printed.
    assert "losses: loading" not in plugin_venv.probe("default").stderr


def test_trace_prints_hook_calls_to_stderr(plugin_venv):
    stderr = plugin_venv.probe("trace").stderr
    # The registration hook is called per plugin (so losses are attributed to
    # the distribution); the trace names it with its distribution.
    assert any(ALPHA in line for line in stderr.splitlines() if "losses_register" in line), stderr
    # pre/post-loss hooks go through pluggy, whose tracing writes "<hook> [hook]".
    assert "losses_pre_loss [hook]" in stderr
    assert "losses_post_loss [hook]" in stderr
    assert "[hook]" not in plugin_venv.probe("default").stderr


# -- one distribution seen twice ---------------------------------------------------------
def test_distribution_visible_twice_on_sys_path_is_loaded_once(plugin_venv):
    again = plugin_venv.venv.work / "site-packages-again"
    report = plugin_venv.probe("duplicate").report
    # The set-up really shows every fixture distribution twice.
    dist_paths = report["visible"]["fixture_dist_paths"]
    assert len([p for p in dist_paths if "losses_fixture_alpha-" in p]) == 2
    assert str(again) in report["sys_path"]
    assert set(report["keys"]) == EXPECTED_KEYS
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA
    assert report["calls"]["beta_l1"]["provider"] == BETA
    assert log_events(report["threads"]["log"]) == {
        ("alpha", "import"): 1,
        ("alpha", "hook"): 1,
        ("beta", "import"): 1,
    }
    names = [p["name"] for p in report["plugins"]]
    assert names.count(ALPHA) == names.count(BETA) == names.count(BROKEN) == 1


# -- the command line -------------------------------------------------------------------------
def test_losses_list_json_console_script(plugin_venv):
    infos = plugin_venv.command("list_json").json()
    assert {(i["name"], i["provider"]) for i in infos} == {(n, "losses-core") for n in BUILTINS} | {
        ("alpha_mse", ALPHA),
        ("beta_l1", BETA),
        ("shared_loss", ALPHA),
        ("shared_loss", BETA),
    }
    shared = [i for i in infos if i["name"] == "shared_loss"]
    assert {i["qualified_name"] for i in shared} == {f"shared_loss@{ALPHA}", f"shared_loss@{BETA}"}
    assert all(i["ambiguous"] for i in shared)


def test_python_m_losses_core_list_with_pattern(plugin_venv):
    result = plugin_venv.command("module_list").check()
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "PROVIDER"]
    rows = [line.split() for line in lines[2:] if line.strip()]
    assert [row[:3] for row in rows] == [["beta_l1", BETA, "2.0.0"]]


# -- uninstalling ---------------------------------------------------------------------------
def test_pip_uninstall_removes_losses_and_resolves_the_conflict(uninstall_venv):
    venv = uninstall_venv.venv
    uninstall_venv.venv.pip("uninstall", "-y", BETA)
    assert not list(venv.site_packages.glob("losses_fixture_beta*"))
    report = uninstall_venv.probe("after_uninstall").report
    assert set(report["keys"]) == BUILTINS | {"alpha_mse", "shared_loss"}
    assert report["errors"]["shared_loss"] is None
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA
    assert "error" in report["calls"]["beta_l1"]
    assert "UnknownLossError" in report["calls"]["beta_l1"]["error"]
    shared = [i for i in report["losses"] if i["name"] == "shared_loss"]
    assert [(i["provider"], i["ambiguous"]) for i in shared] == [(ALPHA, False)]
    assert BETA not in plugin_statuses(report)
    # The bare name now reaches alpha's loss.
    assert report["calls"]["shared_loss"]["value"] == ALPHA_SHARED_VALUE


# -- losses doctor and losses check against real plugins ----------------------------------
def test_doctor_reports_conflicts_broken_plugins_and_duplicate_installs(plugin_venv):
    from _plugin_venv import run_in_venv

    venv = plugin_venv.venv
    plain = run_in_venv(venv, ["losses", "doctor", "--json"])
    assert plain.returncode == 1, plain.stdout + plain.stderr
    report = json.loads(plain.stdout)
    assert report["healthy"] is False
    assert sorted(report["conflicts"]["shared_loss"]) == [f"shared_loss@{ALPHA}", f"shared_loss@{BETA}"]
    (broken,) = report["broken_plugins"]
    assert broken["distribution"] == BROKEN and BROKEN_MESSAGE in broken["error"]
    assert report["duplicate_installs"] == {}
    human = run_in_venv(venv, ["losses", "doctor"])
    assert human.returncode == 1
    assert "conflict: 'shared_loss'" in human.stdout and f"broken plugin: {BROKEN}" in human.stdout
    again = venv.work / "site-packages-again"
    twice = run_in_venv(venv, ["losses", "doctor", "--json"], PYTHONPATH=str(again))
    duplicates = json.loads(twice.stdout)["duplicate_installs"]
    assert set(duplicates) >= {ALPHA, BETA, "losses-core"}
    assert all(len(where) == 2 for where in duplicates.values())
    blocked = run_in_venv(
        venv,
        ["losses", "doctor", "--json"],
        LOSSES_DISABLE_PLUGINS=f"{BROKEN},{BETA}",
    )
    assert blocked.returncode == 0, blocked.stdout
    disabled = {item["distribution"] for item in json.loads(blocked.stdout)["disabled_plugins"]}
    assert disabled == {BROKEN, BETA}


def test_check_config_names_the_ambiguous_loss(plugin_venv):
    from _plugin_venv import run_in_venv

    venv = plugin_venv.venv
    config = venv.work / "ambiguous.yaml"
    config.write_text("loss: {type: shared_loss}\n", encoding="utf-8")
    out = run_in_venv(venv, ["losses", "check", str(config)])
    assert out.returncode == 1
    assert "ambiguous" in out.stdout and f"shared_loss@{ALPHA}" in out.stdout
    config.write_text(f"loss: {{type: shared_loss@{ALPHA}}}\n", encoding="utf-8")
    assert run_in_venv(venv, ["losses", "check", str(config)]).returncode == 0
