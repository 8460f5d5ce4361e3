"""Integration tests with real plugin distributions: the host survives any plugin.

losses-core and the fixture plugins (``tests/fixtures/plugins``) are built
into wheels and installed into a fresh virtual environment that borrows this
interpreter's CPU torch; every check runs in a fresh subprocess of that
environment with a clean set of environment variables (see ``conftest.py``).

Static plugins: one entry point per loss name (``alpha_mse =
"losses_fixture_alpha.mse:alpha_mse"``; an alias is another entry point
naming the same object), one naming the manifest (``losses.json``: each
loss's summary and override flag), written by ``losses manifest --write``
(exit's by hand):

- losses-fixture-alpha: ``alpha_mse`` (alias ``alpha-mse-alias``) in
  ``losses_fixture_alpha.mse`` and ``shared_loss`` in ``losses_fixture_alpha.shared``;
- losses-fixture-beta: ``beta_l1`` and ``shared_loss`` (so ``shared_loss``
  is provided twice) in ``losses_fixture_beta.losses``;
- losses-fixture-exit: ``exit_loss``, whose module calls ``sys.exit(3)``,
  and ``exit_neighbour``, whose module is fine;
- losses-fixture-loud: ``loud_loss``, whose module prints to stdout and stderr;
- losses-fixture-override: ``mse`` with ``override=True`` and the aliases
  ``MSE`` and ``squared_error``, taking the bare name over from losses-core;
- losses-fixture-hooked: ``hooked_loss``, and a hooks module (an entry point
  naming the package, whose pre- and post-loss hooks log every call they
  see), imported at the first lookup of any loss, not by a listing.

Dynamic plugins (the only entry point names a module, imported at the first
listing or lookup):

- losses-fixture-broken raises RuntimeError on import;
- losses-fixture-exit-dynamic calls ``sys.exit(3)`` on import;
- losses-fixture-noisy prints to stdout and stderr on import, registers
  ``noisy_loss`` at import and ``noisy_hooked`` in ``losses_register``.

Malformed installs are written by hand (``_malformed.py``) into directories
put on ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import pytest
from _malformed import CASES, RUNNING_AS_ROOT
from _plugin_venv import (
    ALPHA,
    BAD_ENVIRONMENT,
    BETA,
    BROKEN,
    CHATTER,
    DYNAMIC,
    EXIT,
    EXIT_DYNAMIC,
    HOOKED,
    LOUD,
    NOISY,
    OVERRIDE,
    STATIC_PACKAGES,
)

CORE = "losses-core"
BUILTINS = {"mse", "token_ce", "focal", "margin_ranking", "contrastive"}
BROKEN_MESSAGE = "losses-fixture-broken fails on import on purpose"
NOISY_STDOUT = "losses-fixture-noisy says hello on stdout"
NOISY_STDERR = "losses-fixture-noisy says hello on stderr"
LOUD_STDOUT = "losses-fixture-loud says hello on stdout"
LOUD_STDERR = "losses-fixture-loud says hello on stderr"
TRACEBACK = "Traceback (most recent call last)"

# (name, provider) of every loss with every plugin installed.
ALL_LOSSES = {(n, CORE) for n in BUILTINS} | {
    ("alpha_mse", ALPHA),
    ("shared_loss", ALPHA),
    ("beta_l1", BETA),
    ("shared_loss", BETA),
    ("exit_loss", EXIT),
    ("exit_neighbour", EXIT),
    ("loud_loss", LOUD),
    ("mse", OVERRIDE),
    ("noisy_loss", NOISY),
    ("noisy_hooked", NOISY),
    ("hooked_loss", HOOKED),
}
# The keys of LOSSES: a name two providers share is qualified.
ALL_KEYS = (BUILTINS - {"mse"}) | {
    f"mse@{CORE}",
    f"mse@{OVERRIDE}",
    "alpha_mse",
    f"shared_loss@{ALPHA}",
    f"shared_loss@{BETA}",
    "beta_l1",
    "exit_loss",
    "exit_neighbour",
    "loud_loss",
    "noisy_loss",
    "noisy_hooked",
    "hooked_loss",
}
ALPHA_SHARED_VALUE = 11.0  # what each fixture's shared_loss returns
BETA_SHARED_VALUE = 22.0
# The losses.plugins entry points of each fixture distribution.
ENTRY_POINTS = {
    ALPHA: {
        "alpha_mse": "losses_fixture_alpha.mse:alpha_mse",
        "alpha-mse-alias": "losses_fixture_alpha.mse:alpha_mse",
        "shared_loss": "losses_fixture_alpha.shared:shared_loss",
        ALPHA: "losses_fixture_alpha:losses.json",
    },
    BETA: {
        "beta_l1": "losses_fixture_beta.losses:beta_l1",
        "shared_loss": "losses_fixture_beta.losses:shared_loss",
        BETA: "losses_fixture_beta:losses.json",
    },
    EXIT: {
        "exit_loss": "losses_fixture_exit.exits:exit_loss",
        "exit_neighbour": "losses_fixture_exit.fine:exit_neighbour",
        EXIT: "losses_fixture_exit:losses.json",
    },
    LOUD: {"loud_loss": "losses_fixture_loud.loud:loud_loss", LOUD: "losses_fixture_loud:losses.json"},
    OVERRIDE: {
        "mse": "losses_fixture_override.mse:mse",
        "MSE": "losses_fixture_override.mse:mse",
        "squared_error": "losses_fixture_override.mse:mse",
        OVERRIDE: "losses_fixture_override:losses.json",
    },
    HOOKED: {
        "hooked_loss": "losses_fixture_hooked.hooked:hooked_loss",
        HOOKED: "losses_fixture_hooked:losses.json",
        f"{HOOKED}-hooks": "losses_fixture_hooked",
    },
    BROKEN: {BROKEN: "losses_fixture_broken._plugin"},
    EXIT_DYNAMIC: {EXIT_DYNAMIC: "losses_fixture_exit_dynamic"},
    NOISY: {NOISY: "losses_fixture_noisy.plugin"},
}
# What each static fixture's manifest says: summaries and override flags only.
MANIFESTS = {
    ALPHA: {
        "alpha_mse": {"summary": "Alpha's mean squared error, times scale."},
        "shared_loss": {"summary": "Alpha's shared_loss: a constant 11 connected to the graph."},
    },
    BETA: {
        "beta_l1": {"summary": "Beta's mean absolute error."},
        "shared_loss": {"summary": "Beta's shared_loss: a constant 22 connected to the graph."},
    },
    EXIT: {
        "exit_loss": {"summary": "Never registered: its module calls sys.exit(3) when imported."},
        "exit_neighbour": {"summary": "A constant 3 connected to the graph."},
    },
    LOUD: {"loud_loss": {"summary": "A constant 7 connected to the graph."}},
    OVERRIDE: {"mse": {"summary": "Mean squared error, taking over losses-core's mse.", "override": True}},
    HOOKED: {"hooked_loss": {"summary": "A constant 4 connected to the graph."}},
}
HOOKS_MODULES = ["losses_fixture_hooked", "losses_fixture_hooked._hooks"]
"""What losses-fixture-hooked's hooks module (its package) imports."""


def plugin_statuses(report):
    return {p["name"]: p["status"] for p in report["plugins"]}


def top_level(modules):
    return {m.split(".")[0] for m in modules}


def log_events(log):
    """Counts of ``(plugin, event)`` lines in a fixture log."""
    counts = {}
    for plugin, event in log:
        counts[(plugin, event)] = counts.get((plugin, event), 0) + 1
    return counts


def entry_point_table(text, group="losses.plugins"):
    """The ``name = value`` lines of one section of an entry_points.txt, as a dict."""
    table, inside = {}, False
    for line in map(str.strip, text.splitlines()):
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            table[name.strip()] = value.strip()
    return table


def _without_tracebacks(data):
    if isinstance(data, dict):
        return {k: _without_tracebacks(v) for k, v in data.items() if k != "traceback"}
    if isinstance(data, list):
        return [_without_tracebacks(v) for v in data]
    return data


def assert_no_traceback(*outputs):
    """No output shows a traceback; in JSON, one is data only in the
    ``traceback`` field of a broken plugin (``losses plugins --json``)."""
    for output in outputs:
        with contextlib.suppress(ValueError):
            output = json.dumps(_without_tracebacks(json.loads(output)))
        assert TRACEBACK not in output, output


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


def test_fixture_wheels_declare_each_loss_name_with_an_entry_point(wheels):
    by_name = {w.name.split("-")[0]: w for w in wheels}
    for distribution, expected in ENTRY_POINTS.items():
        package = distribution.replace("-", "_")
        with zipfile.ZipFile(by_name[package]) as archive:
            names = archive.namelist()
            entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
            manifest = (
                json.loads(archive.read(f"{package}/losses.json")) if distribution in MANIFESTS else None
            )
        assert entry_point_table(entry_points) == expected, distribution
        if distribution in MANIFESTS:
            # the manifest holds summaries and override flags; names, aliases and objects
            # are the entry points' (no "object", "aliases" or "hooks" of the first design)
            assert manifest == {"losses-manifest": 1, "losses": MANIFESTS[distribution]}, distribution
        else:  # a dynamic plugin: one module entry point, no manifest
            assert f"{package}/losses.json" not in names


# -- what LOSSES sees ---------------------------------------------------------------------
def test_losses_sees_exactly_builtins_and_fixture_losses(plugin_venv):
    report = plugin_venv.probe("default").report
    assert set(report["keys"]) == ALL_KEYS
    listed = {(i["name"], i["provider"]): i for i in report["losses"]}
    assert set(listed) == ALL_LOSSES
    assert listed[("shared_loss", ALPHA)]["ambiguous"] is True
    assert listed[("shared_loss", BETA)]["ambiguous"] is True
    assert listed[("alpha_mse", ALPHA)]["ambiguous"] is False
    assert listed[("alpha_mse", ALPHA)]["version"] == "1.0.0"
    assert listed[("beta_l1", BETA)]["version"] == "2.0.0"
    assert listed[("alpha_mse", ALPHA)]["aliases"] == ["alpha-mse-alias"]
    assert listed[("alpha_mse", ALPHA)]["summary"] == "Alpha's mean squared error, times scale."
    assert plugin_statuses(report) == {
        CORE: "builtin",
        ALPHA: "available",
        BETA: "available",
        BROKEN: "failed",
        EXIT: "failed",  # its exit_loss was looked up, and its module ended the process
        EXIT_DYNAMIC: "failed",
        LOUD: "available",
        NOISY: "loaded",
        OVERRIDE: "available",
        HOOKED: "loaded",  # its hooks module was imported at the first lookup
    }


def test_plugin_losses_are_callable_and_attributed(plugin_venv):
    calls = plugin_venv.probe("default").report["calls"]
    assert calls["alpha_mse"]["provider"] == ALPHA
    assert calls["alpha_mse"]["module"] == "losses_fixture_alpha.mse"
    assert calls["alpha_mse"]["value"] == pytest.approx(calls["mse"]["value"])
    assert calls["alpha-mse-alias"]["qualified_name"] == f"alpha_mse@{ALPHA}"
    assert calls["beta_l1"]["provider"] == BETA
    assert calls["beta_l1"]["value"] == pytest.approx(5.0 / 3.0)
    # the dynamic plugin's losses: one registered at import, one in losses_register
    assert calls["noisy_loss"] == {
        "value": 5.0,
        "provider": NOISY,
        "module": "losses_fixture_noisy.plugin",
        "qualified_name": f"noisy_loss@{NOISY}",
    }
    assert calls["noisy_hooked"]["value"] == 6.0 and calls["noisy_hooked"]["provider"] == NOISY
    assert calls["hooked_loss"] == {
        "value": 4.0,
        "provider": HOOKED,
        "module": "losses_fixture_hooked.hooked",
        "qualified_name": f"hooked_loss@{HOOKED}",
    }


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
    assert alpha["module"] == "losses_fixture_alpha.shared"
    assert calls[f"shared_loss@{BETA}"]["value"] == BETA_SHARED_VALUE
    # The provider part is a distribution name: any spelling normalises to it.
    assert calls["shared_loss@losses_fixture_alpha"]["value"] == ALPHA_SHARED_VALUE


# -- a takeover with override=True ----------------------------------------------------------
def test_override_takes_the_bare_name_and_its_aliases(plugin_venv):
    report = plugin_venv.probe("default").report
    calls = report["calls"]
    for name in ("mse", "MSE", "squared_error"):
        assert calls[name]["provider"] == OVERRIDE, (name, calls[name])
        assert calls[name]["module"] == "losses_fixture_override.mse"
    # losses-core's mse stays reachable by its qualified name (and alias).
    for name in (f"mse@{CORE}", f"MSE@{CORE}"):
        assert calls[name]["provider"] == CORE, (name, calls[name])
        assert calls[name]["module"] == "losses_core.losses.mse"
        assert calls[name]["value"] == pytest.approx(calls["mse"]["value"])
    listed = {(i["name"], i["provider"]): i for i in report["losses"]}
    assert listed[("mse", OVERRIDE)]["overrides"] == [f"mse@{CORE}"]
    assert listed[("mse", OVERRIDE)]["ambiguous"] is False
    assert listed[("mse", CORE)]["ambiguous"] is False
    assert isinstance(report["hooked_call"], float), report["hooked_call"]


def test_doctor_reports_the_takeover_naming_both_distributions(plugin_venv):
    report = plugin_venv.command("doctor_json").json(returncode=1)
    (takeover,) = report["takeovers"]
    assert takeover["name"] == "mse"
    assert takeover["by"] == f"mse@{OVERRIDE}" and takeover["by_version"] == "1.5.0"
    assert takeover["from"] == [f"mse@{CORE}"]
    assert takeover["aliases"] == ["MSE", "squared_error"]
    assert "mse" not in report["conflicts"]
    table = plugin_venv.command("doctor_table").check(1).stdout
    (line,) = [line for line in table.splitlines() if line.startswith("takeover:")]
    assert f"mse@{OVERRIDE}" in line and f"mse@{CORE}" in line


# -- what is imported when ------------------------------------------------------------------
def test_import_loads_no_plugin_and_scans_nothing(plugin_venv):
    for key in ("default", "static_only"):
        after_import = plugin_venv.probe(key).report["after_import"]
        assert after_import["plugin_modules"] == []
        assert after_import["torch"] is False
        assert after_import["log"] == []
        assert after_import["scans"] == [], "import losses_core read package metadata"
        assert after_import["manifest_reads"] == []
        assert after_import["yaml_loaded"] is False


def test_listing_and_a_missed_lookup_import_no_loss_module_and_not_torch(plugin_venv):
    # Only static plugins (the dynamic ones are disabled): metadata is enough.
    report = plugin_venv.probe("static_only").report
    listing = report["listing_first"]
    assert {
        f"alpha_mse@{ALPHA}",
        f"exit_loss@{EXIT}",
        f"mse@{OVERRIDE}",
        f"loud_loss@{LOUD}",
        f"hooked_loss@{HOOKED}",
    } <= set(listing["losses"])
    assert set(listing["plugins"]) == {CORE, *ENTRY_POINTS}
    assert "alpha_mse" in listing["keys"]
    # no plugin module: no loss module, and not losses-fixture-hooked's hooks module either
    assert listing["plugin_modules"] == []
    assert listing["torch"] is False
    assert listing["log"] == []
    # the summaries come from the manifests: losses-core's and each static plugin's, read once
    manifests = ["losses_core.losses", *STATIC_PACKAGES.values()]
    assert sorted(listing["manifest_reads"]) == sorted(f"{p}:losses.json" for p in manifests)
    # A lookup that misses is the first lookup: it imports the plugin modules
    # (the hooks module), and still no loss module and not torch.
    missed = report["missed_lookup"]
    misspelt = missed["misspelt"]
    assert misspelt["type"] == "UnknownLossError" and "'alpha_mse'" in misspelt["message"]
    assert missed["plugin_modules"] == HOOKS_MODULES
    assert missed["torch"] is False
    assert missed["log"] == [["hooked", "init"]]
    assert sorted(missed["manifest_reads"]) == sorted(listing["manifest_reads"])  # no more


@pytest.mark.parametrize("command", ["list", "plugins", "doctor"])
def test_cli_listings_import_no_plugin_module_and_not_torch(plugin_venv, command):
    result = plugin_venv.command(f"lazy_{command}")
    assert result.returncode in (0, 1), result.describe()
    json.loads(result.stdout)
    assert result.modules() == {"plugin_modules": [], "torch": False}


def test_lookup_of_a_static_loss_imports_that_module_and_the_hooks_modules_only(plugin_venv):
    threads = plugin_venv.probe("static_only").report["threads"]
    assert threads["results"] == [f"alpha_mse@{ALPHA}"] * 8
    # The loss's module and its package's __init__, and (the first lookup)
    # every plugin module: losses-fixture-hooked's hooks; not alpha's other
    # loss module (losses_fixture_alpha.shared), not another plugin's loss module.
    assert threads["plugin_modules"] == sorted(
        ["losses_fixture_alpha", "losses_fixture_alpha.mse", *HOOKS_MODULES]
    )
    assert log_events(threads["log"]) == {("alpha", "init"): 1, ("alpha", "mse"): 1, ("hooked", "init"): 1}
    assert threads["torch"] is True  # alpha's module imports it


def test_first_lookup_imports_the_one_loss_and_the_dynamic_plugins_once(plugin_venv):
    threads = plugin_venv.probe("default").report["threads"]
    assert threads["results"] == [f"alpha_mse@{ALPHA}"] * 8
    modules = set(threads["plugin_modules"])
    assert {"losses_fixture_alpha", "losses_fixture_alpha.mse", "losses_fixture_noisy.plugin"} <= modules
    assert "losses_fixture_alpha.shared" not in modules
    assert set(HOOKS_MODULES) <= modules
    assert "losses_fixture_hooked.hooked" not in modules
    assert top_level(modules) <= {
        "losses_fixture_alpha",
        "losses_fixture_noisy",
        "losses_fixture_broken",
        "losses_fixture_hooked",
    }
    # each plugin module imported once, however many threads asked
    assert log_events(threads["log"]) == {
        ("alpha", "init"): 1,
        ("alpha", "mse"): 1,
        ("noisy", "import"): 1,
        ("noisy", "hook"): 1,
        ("hooked", "init"): 1,
    }


def test_first_listing_imports_the_dynamic_plugins_once(plugin_venv):
    listing = plugin_venv.probe("trace").report["listing_first"]
    assert "losses_fixture_noisy.plugin" in listing["plugin_modules"]
    assert {f"noisy_loss@{NOISY}", f"noisy_hooked@{NOISY}"} <= set(listing["losses"])
    assert log_events(listing["log"]).items() >= {("noisy", "import"): 1, ("noisy", "hook"): 1}.items()
    # no static plugin's loss module
    assert top_level(listing["plugin_modules"]) <= {
        "losses_fixture_noisy",
        "losses_fixture_broken",
    }


def test_first_listing_leaves_a_static_plugins_hooks_module_for_the_first_lookup(plugin_venv):
    listing = plugin_venv.probe("trace").report["listing_first"]
    assert top_level(listing["plugin_modules"]) <= {"losses_fixture_noisy", "losses_fixture_broken"}
    assert log_events(listing["log"]) == {("noisy", "import"): 1, ("noisy", "hook"): 1}
    cli = plugin_venv.command("lazy_list_dynamic")
    assert cli.returncode == 0, cli.describe()
    assert not any(m.startswith("losses_fixture_hooked") for m in cli.modules()["plugin_modules"])


def test_a_lookup_reads_no_manifest(plugin_venv):
    # Which entry-point name is the loss's name, its summary and override flag
    # are the manifest's; a lookup of a name one distribution provides needs none.
    threads = plugin_venv.probe("default").report["threads"]
    assert threads["results"] == [f"alpha_mse@{ALPHA}"] * 8
    assert threads["manifest_reads"] == []


def test_a_static_plugins_hooks_module_is_imported_at_the_first_lookup_and_sees_every_call(plugin_venv):
    # not by a listing (nor by `losses list`, `losses plugins`, `losses doctor`: see the lazy_* tests) ...
    assert plugin_venv.probe("static_only").report["listing_first"]["plugin_modules"] == []
    # ... but by the first lookup of any loss, here another distribution's
    # (alpha_mse): the package (the hooks), not its loss module
    report = plugin_venv.probe("default").report
    threads = report["threads"]
    assert set(HOOKS_MODULES) <= set(threads["plugin_modules"])
    assert "losses_fixture_hooked.hooked" not in threads["plugin_modules"]
    assert log_events(threads["log"])[("hooked", "init")] == 1
    # its hooks see every call through LOSSES, whoever provides the loss
    events = log_events(report["log"])
    for qualified in (f"alpha_mse@{ALPHA}", f"mse@{OVERRIDE}", f"beta_l1@{BETA}", f"hooked_loss@{HOOKED}"):
        assert events.get(("hooked", f"pre:{qualified}"), 0) >= 1, (qualified, events)
        assert events.get(("hooked", f"post:{qualified}"), 0) >= 1, (qualified, events)
    assert events[("hooked", "init")] == 1
    assert report["resolved_metrics"] == ["hooked_seen"]  # added by its post-loss hook
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins[HOOKED]["status"] == "loaded"
    assert plugins[HOOKED]["form"] == "static"
    assert plugins[HOOKED]["hooks"] == ["losses_post_loss", "losses_pre_loss"]
    assert plugins[HOOKED]["losses"] == ["hooked_loss"]
    assert report["calls"]["hooked_loss"]["value"] == 4.0


def test_first_lookup_scans_the_metadata_once(plugin_venv):
    scans = plugin_venv.probe("default").report["scans_after_lookup"]
    # (torch reads the entry points of its own groups when imported; not ours)
    ours = [s for s in scans if s["by"].startswith("losses_core")]
    assert [s["call"] for s in ours] == ["scan_installed"], scans


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


# -- faults stay with their plugin -----------------------------------------------------------
def test_broken_plugin_is_listed_as_failed_by_losses_plugins_json(plugin_venv):
    plugins = {p["name"]: p for p in plugin_venv.command("plugins_json").json()}
    for name in (BETA, EXIT, LOUD, HOOKED):  # (up to 3 entry points: each is named)
        expected = {f"{key} = {value}" for key, value in ENTRY_POINTS[name].items()}
        assert set(plugins[name]["entry_point"].split("; ")) == expected, plugins[name]
    assert plugins[ALPHA]["entry_point"] == "4 entry points"
    assert plugins[HOOKED]["form"] == "static"
    broken = plugins[BROKEN]
    assert broken["status"] == "failed"
    assert broken["form"] == "dynamic"
    assert broken["version"] == "0.0.1"
    assert broken["entry_point"] == f"{BROKEN} = losses_fixture_broken._plugin"
    assert "RuntimeError" in broken["error"]
    assert BROKEN_MESSAGE in broken["error"]
    assert BROKEN_MESSAGE in broken["traceback"]
    # ... and it breaks nothing else.
    assert plugins[ALPHA]["status"] == "available"
    assert plugins[ALPHA]["form"] == "static"
    assert plugins[ALPHA]["losses"] == ["alpha_mse", "shared_loss"]
    assert plugins[BETA]["status"] == "available"
    assert plugins[BETA]["losses"] == ["beta_l1", "shared_loss"]
    assert plugins[NOISY]["status"] == "loaded"
    assert plugins[NOISY]["losses"] == ["noisy_hooked", "noisy_loss"]
    assert plugins[NOISY]["hooks"] == ["losses_register"]
    assert plugins[CORE]["losses"] == sorted(BUILTINS)
    assert plugins[OVERRIDE]["losses"] == ["mse"]


def test_broken_plugin_failure_is_in_the_unknown_loss_error(plugin_venv):
    error = plugin_venv.probe("default").report["errors"]["nonexistent"]
    assert error is not None
    assert error["type"] == "UnknownLossError"
    assert "KeyError" in error["mro"]
    assert BROKEN in error["message"]
    assert BROKEN_MESSAGE in error["message"]
    assert "losses_fixture_broken._plugin" in error["message"]


def test_sys_exit_in_a_dynamic_plugin_is_contained(plugin_venv):
    plugins = {p["name"]: p for p in plugin_venv.command("plugins_json").json()}
    assert plugins[EXIT_DYNAMIC]["status"] == "failed"
    assert "SystemExit(3)" in plugins[EXIT_DYNAMIC]["error"]
    doctor = plugin_venv.command("doctor_json").json(returncode=1)
    (failure,) = [f for f in doctor["broken_plugins"] if f["distribution"] == EXIT_DYNAMIC]
    assert "SystemExit(3)" in failure["error"]
    # In a program: the process goes on, and a lookup that misses names it.
    report = plugin_venv.probe("default").report
    for errors in (report["errors"], report["errors_again"]):
        error = errors["quit_loss"]
        assert error["type"] == "UnknownLossError"
        assert EXIT_DYNAMIC in error["message"] and "SystemExit(3)" in error["message"]
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA


def test_sys_exit_in_a_static_loss_module_is_contained(plugin_venv):
    report = plugin_venv.probe("default").report
    for errors in (report["errors"], report["errors_again"]):
        error = errors["exit_loss"]
        assert error["type"] == "UnknownLossError", error
        assert EXIT in error["message"] and "SystemExit(3)" in error["message"]
    # The distribution's other loss, in another module, works.
    assert report["calls"]["exit_neighbour"]["value"] == 3.0
    assert report["calls"]["exit_neighbour"]["provider"] == EXIT
    # Once looked up, losses plugins and losses doctor (in this process) report it.
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins[EXIT]["status"] == "failed"
    assert "SystemExit(3)" in plugins[EXIT]["error"]
    (failure,) = [f for f in report["doctor"]["broken_plugins"] if f["distribution"] == EXIT]
    assert "SystemExit(3)" in failure["error"] and "losses_fixture_exit.exits" in failure["error"]
    # losses show: exit code 1, one line naming the distribution, no traceback.
    for key in ("show_exit", "show_exit_json"):
        shown = plugin_venv.command(key).check(1)
        assert shown.stdout == "", shown.describe()
        (line,) = shown.stderr.strip().splitlines()
        assert line.startswith("losses show:") and EXIT in line and "SystemExit(3)" in line
    # losses doctor --import imports every module: it reports it too.
    mismatches = plugin_venv.command("doctor_import_json").json(returncode=1)["manifest_mismatches"]
    assert any("SystemExit" in line for line in mismatches[EXIT])


def test_prints_of_a_dynamic_plugin_are_reported_not_written_to_stdout(plugin_venv):
    for key in ("list_json", "plugins_json", "doctor_json"):
        result = plugin_venv.command(key)
        assert result.returncode in (0, 1), result.describe()
        json.loads(result.stdout)  # nothing printed around the JSON
        assert NOISY_STDOUT not in result.stderr
    plugins = {p["name"]: p for p in plugin_venv.command("plugins_json").json()}
    warnings = " ".join(plugins[NOISY]["warnings"])
    assert NOISY_STDOUT in warnings and NOISY_STDERR in warnings
    doctor = plugin_venv.command("doctor_json").json(returncode=1)
    noisy = " ".join(doctor["noisy_plugins"][NOISY])
    assert "stdout" in noisy and NOISY_STDOUT in noisy
    assert f"noisy plugin: {NOISY}" in plugin_venv.command("doctor_table").stdout
    # In a program, what it printed goes to stderr, never to stdout.
    probe = plugin_venv.probe("default")
    assert NOISY_STDOUT not in probe.stdout and NOISY_STDERR not in probe.stdout
    assert NOISY_STDOUT in probe.stderr and NOISY_STDERR in probe.stderr


def test_prints_of_a_static_loss_module_go_to_stderr(plugin_venv):
    probe = plugin_venv.probe("default")
    assert probe.report["calls"]["loud_loss"]["value"] == 7.0
    assert LOUD_STDOUT not in probe.stdout and LOUD_STDERR not in probe.stdout
    assert LOUD_STDOUT in probe.stderr and LOUD_STDERR in probe.stderr
    plugins = {p["name"]: p for p in probe.report["plugins"]}
    assert plugins[LOUD]["status"] == "available"
    assert LOUD_STDOUT in " ".join(plugins[LOUD]["warnings"])
    assert LOUD_STDERR in " ".join(probe.report["doctor"]["noisy_plugins"][LOUD])
    shown = plugin_venv.command("show_loud_json").json()
    assert shown["qualified_name"] == f"loud_loss@{LOUD}"


def test_the_committed_fixture_manifests_match_their_code(plugin_venv):
    # losses doctor --import imports every module of every plugin and compares
    # what its code registers with its installed entry points and manifest:
    # only exit's differs (its exit_loss module cannot be imported at all).
    report = plugin_venv.command("doctor_import_json").json(returncode=1)
    assert set(report["manifest_mismatches"]) == {EXIT}, report["manifest_mismatches"]


@pytest.mark.parametrize("distribution", sorted(STATIC_PACKAGES))
def test_the_committed_declarations_are_what_losses_manifest_writes(plugin_venv, distribution):
    # `losses manifest PACKAGE --check` on a copy of the fixture's project:
    # its losses.json and its pyproject.toml entry-point table
    package = STATIC_PACKAGES[distribution]
    result = plugin_venv.command(f"manifest_check_{package}")
    assert_no_traceback(result.stdout, result.stderr)
    if distribution == EXIT:  # written by hand: the code cannot be imported
        result.check(1)
        assert "cannot import losses_fixture_exit.exits: SystemExit: 3" in result.stderr
    else:
        assert "up to date" in result.check().stdout


def test_what_other_threads_print_during_a_lookup_stays_on_stdout(plugin_venv):
    result = plugin_venv.command("chatter").check()
    assert CHATTER in result.stdout
    assert CHATTER not in result.stderr
    assert LOUD_STDOUT not in result.stdout
    assert LOUD_STDOUT in result.stderr  # the loss module's own print is the plugin's


def test_doctor_import_json_stdout_is_valid_json(plugin_venv):
    result = plugin_venv.command("doctor_import_json")
    assert result.returncode == 1, result.describe()
    report = json.loads(result.stdout)
    assert report["manifest_mismatches"].keys() == {EXIT}
    assert LOUD in report["noisy_plugins"]
    assert LOUD_STDOUT in " ".join(report["noisy_plugins"][LOUD])


def test_manifest_command_prints_only_the_manifest_and_the_entry_points(plugin_venv):
    result = plugin_venv.command("manifest_loud").check()
    # what the package printed when imported goes to stderr
    assert LOUD_STDOUT not in result.stdout and LOUD_STDERR not in result.stdout
    assert LOUD_STDOUT in result.stderr
    # "# <path of losses.json>", the manifest, "# <where the table goes>", the table
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# ") and lines[0].endswith("losses_fixture_loud/losses.json")
    end = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("# "))
    assert json.loads("\n".join(lines[1:end])) == {"losses-manifest": 1, "losses": MANIFESTS[LOUD]}
    table = [line for line in lines[end + 1 :] if line.strip()]
    assert table[0] == '[project.entry-points."losses.plugins"]'
    assert entry_point_table("\n".join(table), group='project.entry-points."losses.plugins"') == {
        key: f'"{value}"' for key, value in ENTRY_POINTS[LOUD].items()
    }


def test_no_command_prints_a_traceback_and_json_stays_valid(plugin_venv):
    for key, (args, _env) in plugin_venv.commands.items():
        result = plugin_venv.command(key)
        assert_no_traceback(result.stdout, result.stderr)
        assert result.returncode in (0, 1, 2), result.describe()
        if "--json" not in args:
            continue
        if set(args) & {"list", "plugins", "doctor"} and result.returncode != 2:
            assert result.stdout, result.describe()
        if result.stdout:  # (a failed `losses show --json` prints nothing, and says why on stderr)
            json.loads(result.stdout)


# -- invalid environment variables -------------------------------------------------------------
@pytest.mark.parametrize("variable", sorted(BAD_ENVIRONMENT))
def test_invalid_variable_makes_the_cli_exit_2_with_one_line(plugin_venv, variable):
    result = plugin_venv.command(f"bad_{variable}").check(2)
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert variable in line and repr(BAD_ENVIRONMENT[variable]) in line
    if variable in ("LOSSES_LOAD_PLUGINS", "LOSSES_DISABLE_PLUGINS"):
        assert "comma-separated distribution names" in line
    else:
        assert "1/0, true/false, yes/no or on/off" in line


BAD_ENV_PROBES = {
    "LOSSES_DISABLE_PLUGINS": "static_only",
    "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "autoload_off",
    "LOSSES_LOAD_PLUGINS": "allow_alpha",
    "LOSSES_CONFIG_ALLOW_IMPORT": "allow_none",
    "LOSSES_TRACE_PLUGINS": "trace",
}


@pytest.mark.parametrize("variable", sorted(BAD_ENV_PROBES))
def test_invalid_variable_raises_every_time_then_fixing_it_works(plugin_venv, variable):
    report = plugin_venv.probe(BAD_ENV_PROBES[variable]).report
    bad = report["bad_env"]
    assert bad["variable"] == variable
    # LOSSES["mse"] twice, then list_losses(): each raises LossEnvironmentError
    for error in bad["errors"]:
        assert error is not None
        assert error["type"] == "LossEnvironmentError", error
        assert "UnknownLossError" not in error["mro"] and "LossError" in error["mro"]
        assert variable in error["message"] and "expected" in error["message"]
    # ... having imported nothing ...
    assert bad["plugin_modules"] == [] and bad["torch"] is False and bad["log"] == []
    # ... and once the variable is fixed, in the same process, lookups work.
    lookup = report["threads"]["lookup"]
    assert all(
        not r.startswith(("LossEnvironmentError", "UnknownLossError")) for r in report["threads"]["results"]
    )
    assert all(r == report["threads"]["results"][0] for r in report["threads"]["results"]), lookup
    assert "error" not in report["calls"]["mse"], report["calls"]["mse"]


# -- environment controls --------------------------------------------------------------
def test_autoload_disabled_gives_only_builtins(plugin_venv):
    report = plugin_venv.probe("autoload_off").report
    assert set(report["keys"]) == BUILTINS
    assert report["plugin_modules"] == []
    assert report["threads"]["log"] == []
    assert report["threads"]["results"] == [f"mse@{CORE}"] * 8
    assert not any(s["group"] == "losses.plugins" for s in report["scans_after_lookup"])
    assert report["errors"]["nonexistent"]["type"] == "UnknownLossError"
    assert "failed to load" not in report["errors"]["nonexistent"]["message"]


def test_allowlist_loads_only_the_listed_distribution(plugin_venv):
    report = plugin_venv.probe("allow_alpha").report
    assert set(report["keys"]) == BUILTINS | {"alpha_mse", "shared_loss"}
    assert report["calls"]["shared_loss@losses-fixture-alpha"]["value"] == ALPHA_SHARED_VALUE
    assert report["calls"]["mse"]["provider"] == CORE  # the override is not loaded
    assert report["errors"]["shared_loss"] is None  # no conflict without beta
    statuses = plugin_statuses(report)
    assert statuses[ALPHA] == "available"
    assert {statuses[d] for d in (BETA, BROKEN, EXIT, EXIT_DYNAMIC, NOISY, LOUD, OVERRIDE, HOOKED)} == {
        "skipped"
    }
    assert top_level(report["plugin_modules"]) == {"losses_fixture_alpha"}


def test_empty_allowlist_loads_no_plugin(plugin_venv):
    report = plugin_venv.probe("allow_none").report
    assert set(report["keys"]) == BUILTINS
    assert report["plugin_modules"] == []
    assert report["threads"]["log"] == []
    statuses = plugin_statuses(report)
    assert {statuses[d] for d in (ALPHA, BETA, BROKEN, EXIT_DYNAMIC, NOISY, HOOKED)} == {"skipped"}


def test_blocklist_skips_the_dynamic_plugins_and_records_no_failure(plugin_venv):
    report = plugin_venv.probe("static_only").report
    statuses = plugin_statuses(report)
    assert {statuses[d] for d in DYNAMIC} == {"skipped"}
    assert statuses[EXIT] == "failed"  # the probe looked exit_loss up
    failed = [p for p in report["plugins"] if p["status"] == "failed"]
    assert [p["name"] for p in failed] == [EXIT]
    assert not top_level(report["plugin_modules"]) & {"losses_fixture_broken", "losses_fixture_noisy"}
    message = report["errors"]["nonexistent"]["message"]
    assert BROKEN not in message
    assert "failed to load" not in message


def test_trace_prints_plugin_loading_to_stderr(plugin_venv):
    stderr = plugin_venv.probe("trace").stderr
    assert f"losses: catalogued {ALPHA}" in stderr
    assert f"losses: loading {NOISY}" in stderr
    assert f"losses: loading {HOOKED} (losses_fixture_hooked)" in stderr
    assert "losses: importing losses_fixture_alpha.mse for " in stderr
    assert f"losses: failed {BROKEN}" in stderr
    assert f"losses: failed {EXIT_DYNAMIC}" in stderr
    # ... and without the switch nothing is printed.
    assert "losses: " not in plugin_venv.probe("default").stderr


def test_trace_prints_registration_hook_calls_to_stderr(plugin_venv):
    stderr = plugin_venv.probe("trace").stderr
    # The registration hook is called per plugin (so losses are attributed to
    # the distribution); the trace names it with its distribution.
    assert any(NOISY in line for line in stderr.splitlines() if "losses_register" in line), stderr


def test_trace_prints_pre_and_post_loss_hook_calls_to_stderr(plugin_venv):
    stderr = plugin_venv.probe("trace").stderr
    # pre/post-loss hooks go through pluggy, whose tracing writes "<hook> [hook]".
    assert "losses_pre_loss [hook]" in stderr
    assert "losses_post_loss [hook]" in stderr


def test_no_hook_trace_without_the_switch(plugin_venv):
    assert "[hook]" not in plugin_venv.probe("default").stderr


# -- malformed installs ------------------------------------------------------------------------
def _case_marks(case, bug):
    marks = []
    if bug:
        marks.append(pytest.mark.xfail(strict=True, reason=f"core bug: {bug}"))
    if not case.as_root and RUNNING_AS_ROOT:
        marks.append(pytest.mark.skip(reason="chmod does not keep root from reading a file"))
    return marks


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=_case_marks(c, c.core_bug)) for c in CASES]
)
def test_malformed_install_is_reported_and_harms_no_other_plugin(plugin_venv, case):
    doctor_run = plugin_venv.command(f"malformed_{case.name}_doctor")
    plugins_run = plugin_venv.command(f"malformed_{case.name}_plugins")
    assert_no_traceback(doctor_run.stdout, doctor_run.stderr, plugins_run.stdout, plugins_run.stderr)
    doctor = doctor_run.json(returncode=1)  # the fixture's own broken plugins are always there
    plugins = {p["name"]: p for p in plugins_run.json()}
    baseline = {BROKEN, EXIT_DYNAMIC}
    malformed = [m for m in doctor["malformed_installs"]]
    broken = [b for b in doctor["broken_plugins"] if b["distribution"] not in baseline]
    if case.kind is None:
        assert malformed == [] and broken == []
        if case.distribution is not None:
            assert plugins[case.distribution]["status"] == "available"
    else:
        found = malformed if case.kind == "malformed_installs" else broken
        other = broken if case.kind == "malformed_installs" else malformed
        assert other == []
        (item,) = found
        assert item["distribution"] == case.distribution
        assert case.says in item.get("problem", item.get("error", ""))
        assert plugins[case.distribution]["status"] == "failed"
        assert case.says in plugins[case.distribution]["error"]
    # every healthy plugin is still catalogued
    assert plugins[ALPHA]["status"] == "available"
    assert plugins[ALPHA]["losses"] == ["alpha_mse", "shared_loss"]
    assert plugins[OVERRIDE]["losses"] == ["mse"]
    assert doctor["takeovers"][0]["by"] == f"mse@{OVERRIDE}"


LOOKUP_CASES = [c for c in CASES if c.lookups or c.failing or c.listed]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=_case_marks(c, c.lookup_bug)) for c in LOOKUP_CASES]
)
def test_losses_of_a_hand_written_install_work_or_fail_alone(plugin_venv, case):
    # In the case's own process: the listing, the lookups that must fail
    # (twice), then those that must work, then a healthy plugin's loss.
    result = plugin_venv.command(f"malformed_{case.name}_lookups").check()
    assert_no_traceback(result.stdout, result.stderr)
    found = json.loads(result.stdout)
    if case.listed:
        assert found["listed"] == [[name, list(aliases)] for name, aliases in case.listed]
    for name, says in case.failing:
        for error in found["failing"][name]:
            assert error is not None, f"LOSSES[{name!r}] did not raise"
            assert error["type"] == "UnknownLossError", error
            assert case.distribution in error["message"] and says in error["message"], error
    assert found["lookups"] == dict(case.lookups)
    assert found["alpha_mse"] == pytest.approx(13.0 / 3.0)


def test_healthy_plugins_work_next_to_every_malformed_install(plugin_venv):
    report = plugin_venv.probe("malformed").report
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA
    assert report["calls"]["beta_l1"]["value"] == pytest.approx(5.0 / 3.0)
    assert report["calls"]["mse"]["provider"] == OVERRIDE
    listed = {(i["name"], i["provider"]) for i in report["losses"]}
    statuses = plugin_statuses(report)
    for case in CASES:
        if not case.as_root and RUNNING_AS_ROOT:
            continue
        if case.kind is not None:
            assert statuses[case.distribution] == "failed", case.name
        # the losses their entry points declare: listed; each lookup works or says why it fails
        for name, value in case.lookups:
            assert report["calls"][name]["value"] == value, (case.name, report["calls"][name])
        for name, says in case.failing:
            assert (name, case.distribution) in listed, case.name
            error = report["errors"][name]
            assert error["type"] == "UnknownLossError", (case.name, error)
            assert case.distribution in error["message"] and says in error["message"], (case.name, error)
    listing = plugin_venv.command("malformed_list_json").json()
    assert ("alpha_mse", ALPHA) in {(i["name"], i["provider"]) for i in listing}
    table = plugin_venv.command("malformed_table").check(1)
    assert_no_traceback(table.stdout, table.stderr)
    assert "malformed install: losses-fixture-nometa" in table.stdout
    assert "broken plugin: losses-fixture-ghost " in table.stdout


# -- one distribution seen twice ---------------------------------------------------------
def test_distribution_visible_twice_on_sys_path_is_loaded_once(plugin_venv):
    again = plugin_venv.venv.work / "site-packages-again"
    report = plugin_venv.probe("duplicate").report
    # The set-up really shows every fixture distribution twice.
    dist_paths = report["visible"]["fixture_dist_paths"]
    assert len([p for p in dist_paths if "losses_fixture_alpha-" in p]) == 2
    assert str(again) in report["sys_path"]
    assert set(report["keys"]) == ALL_KEYS
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA
    assert report["calls"]["beta_l1"]["provider"] == BETA
    assert log_events(report["threads"]["log"]) == {
        ("alpha", "init"): 1,
        ("alpha", "mse"): 1,
        ("noisy", "import"): 1,
        ("noisy", "hook"): 1,
        ("hooked", "init"): 1,
    }
    names = [p["name"] for p in report["plugins"]]
    assert all(names.count(name) == 1 for name in names), names
    duplicates = plugin_venv.command("doctor_duplicate").json(returncode=1)["duplicate_installs"]
    assert set(duplicates) >= {ALPHA, BETA, NOISY, CORE}
    assert all(len(where) == 2 for where in duplicates.values())


# -- the command line -------------------------------------------------------------------------
def test_losses_list_json_console_script(plugin_venv):
    infos = plugin_venv.command("list_json").json()
    assert {(i["name"], i["provider"]) for i in infos} == ALL_LOSSES
    shared = [i for i in infos if i["name"] == "shared_loss"]
    assert {i["qualified_name"] for i in shared} == {f"shared_loss@{ALPHA}", f"shared_loss@{BETA}"}
    assert all(i["ambiguous"] for i in shared)
    imported = {i["qualified_name"] for i in infos if i["imported"]}
    assert imported == {f"noisy_loss@{NOISY}", f"noisy_hooked@{NOISY}"}  # the dynamic plugin's


def test_python_m_losses_core_list_with_pattern(plugin_venv):
    result = plugin_venv.command("module_list").check()
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "PROVIDER"]
    rows = [line.split() for line in lines[2:] if line.strip()]
    assert [row[:3] for row in rows] == [["beta_l1", BETA, "2.0.0"]]


def test_doctor_reports_conflicts_broken_plugins_and_disabled_plugins(plugin_venv):
    report = plugin_venv.command("doctor_json").json(returncode=1)
    assert report["healthy"] is False
    assert sorted(report["conflicts"]["shared_loss"]) == [f"shared_loss@{ALPHA}", f"shared_loss@{BETA}"]
    broken = {b["distribution"]: b for b in report["broken_plugins"]}
    assert set(broken) == {BROKEN, EXIT_DYNAMIC}
    assert BROKEN_MESSAGE in broken[BROKEN]["error"]
    assert report["duplicate_installs"] == {} and report["malformed_installs"] == []
    human = plugin_venv.command("doctor_table").check(1).stdout
    assert "conflict: 'shared_loss'" in human and f"broken plugin: {BROKEN}" in human
    assert f"broken plugin: {EXIT_DYNAMIC}" in human
    blocked = plugin_venv.command("doctor_blocked")
    assert blocked.returncode == 0, blocked.describe()
    report = json.loads(blocked.stdout)
    assert {item["distribution"] for item in report["disabled_plugins"]} == {BETA, *DYNAMIC}
    assert report["takeovers"] and report["healthy"] is True


def test_check_config_names_the_ambiguous_loss(plugin_venv):
    out = plugin_venv.command("check_ambiguous").check(1)
    assert "ambiguous" in out.stdout and f"shared_loss@{ALPHA}" in out.stdout
    plugin_venv.command("check_qualified").check(0)


# -- uninstalling ---------------------------------------------------------------------------
def test_pip_uninstall_removes_losses_and_resolves_the_conflict(uninstall_venv):
    venv = uninstall_venv.venv
    uninstall_venv.venv.pip("uninstall", "-y", BETA)
    assert not list(venv.site_packages.glob("losses_fixture_beta*"))
    report = uninstall_venv.probe("after_uninstall").report
    assert set(report["keys"]) == (ALL_KEYS - {f"shared_loss@{ALPHA}", f"shared_loss@{BETA}", "beta_l1"}) | {
        "shared_loss"
    }
    assert report["errors"]["shared_loss"] is None
    assert report["calls"]["alpha_mse"]["provider"] == ALPHA
    assert "error" in report["calls"]["beta_l1"]
    assert "UnknownLossError" in report["calls"]["beta_l1"]["error"]
    shared = [i for i in report["losses"] if i["name"] == "shared_loss"]
    assert [(i["provider"], i["ambiguous"]) for i in shared] == [(ALPHA, False)]
    assert BETA not in plugin_statuses(report)
    # The bare name now reaches alpha's loss.
    assert report["calls"]["shared_loss"]["value"] == ALPHA_SHARED_VALUE
