"""``losses doctor``, ``losses manifest``, exit code 2 for the environment,
and no traceback from any command, over synthetic installed distributions."""

from __future__ import annotations

import json

import pytest
from plugin_sites import run_python, write_dist_info, write_dynamic_plugin, write_static_plugin

TRACEBACK = "Traceback (most recent call last)"


def cli(site, *args: str, **env: str):
    return run_python(
        site, f"import sys\nfrom losses_core._cli import main\nsys.exit(main({list(args)!r}))", **env
    )


@pytest.fixture
def troubled_site(tmp_path):
    write_static_plugin(tmp_path, "losses-good", {"good_loss": {}})
    write_static_plugin(tmp_path, "losses-taker", {"mse": {"aliases": ["l2"], "override": True}})
    write_static_plugin(tmp_path, "losses-clash-a", {"clash": {}})
    write_static_plugin(tmp_path, "losses-clash-b", {"clash": {}})
    write_static_plugin(
        tmp_path,
        "losses-stale",
        {"real": {}},
        declare={"old": {"object": "losses_stale.real:real", "summary": ""}},
    )
    write_dynamic_plugin(tmp_path, "losses-exiter", "import sys\nprint('noise')\nsys.exit('bye')\n")
    write_dynamic_plugin(tmp_path, "losses-printer", "print('hello at import')\n")
    write_dist_info(
        tmp_path, "losses-nomanifest", "[losses.plugins]\nlosses-nomanifest = losses_good:missing.json\n"
    )
    write_dist_info(tmp_path, "losses-nomodule", "[losses.plugins]\nlosses-nomodule = not_a_module_here\n")
    broken = write_dist_info(tmp_path, "losses-nometa", "[losses.plugins]\nlosses-nometa = x:losses.json\n")
    (broken / "METADATA").unlink()
    return tmp_path


def test_doctor_reports_every_kind_of_problem_under_its_distribution(troubled_site):
    proc = cli(troubled_site, "doctor", "--json", LOSSES_UNKNOWN_THING="1", LOSSES_DISABLE_PLUGIN="x")
    assert proc.returncode == 1 and TRACEBACK not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] is False
    assert report["conflicts"] == {"clash": ["clash@losses-clash-a", "clash@losses-clash-b"]}
    assert report["takeovers"] == [
        {
            "name": "mse",
            "by": "mse@losses-taker",
            "by_version": "1.0",
            "aliases": ["l2"],
            "from": ["mse@losses-core"],
        }
    ]
    broken = {b["distribution"]: b["error"] for b in report["broken_plugins"]}
    assert "SystemExit('bye')" in broken["losses-exiter"]
    assert "losses_good has no file 'missing.json'" in broken["losses-nomanifest"]
    assert "ModuleNotFoundError" in broken["losses-nomodule"]
    assert [m["distribution"] for m in report["malformed_installs"]] == ["losses-nometa"]
    assert "no METADATA" in report["malformed_installs"][0]["problem"]
    assert set(report["noisy_plugins"]) == {"losses-exiter", "losses-printer"}
    assert "hello at import" in report["noisy_plugins"]["losses-printer"][0]
    assert report["manifest_mismatches"] == {}
    assert report["unknown_variables"] == {
        "LOSSES_DISABLE_PLUGIN": "LOSSES_DISABLE_PLUGINS",
        "LOSSES_UNKNOWN_THING": None,
    }
    assert "hello at import" not in proc.stdout.split("noisy_plugins")[0]


def test_doctor_import_compares_each_manifest_with_the_code(troubled_site):
    proc = cli(troubled_site, "doctor", "--import", COLUMNS="1000")  # a wide terminal: one line each
    assert proc.returncode == 1 and TRACEBACK not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert (
        "manifest mismatch: losses-stale: 'old' is declared (losses_stale.real:real) but the code registers "
        "no such loss" in lines
    )
    assert (
        "takeover: mse@losses-taker overrides mse@losses-core: the bare name 'mse' (with its aliases l2) "
        "gives its loss; the others stay reachable by their qualified names" in lines
    )
    assert any(line.startswith("malformed install: losses-nometa at ") for line in lines)
    assert lines[-1] == "problems found"


def test_doctor_report_lines_fit_the_terminal(troubled_site, columns="60"):
    wide = cli(troubled_site, "doctor", "--import", COLUMNS="1000").stdout.splitlines()
    proc = cli(troubled_site, "doctor", "--import", COLUMNS=columns)
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= int(columns) < max(len(line) for line in wide)
    # each report line wrapped in place (a path longer than a line broken): nothing lost or
    # reordered, its continuation lines indented by 4
    assert "".join(proc.stdout.split()) == "".join("".join(wide).split())
    starts = [line for line in lines if not line.startswith(" ")]
    assert [line.split(":")[0] for line in starts] == [line.split(":")[0] for line in wide]
    assert all(line.startswith("    ") for line in lines if line not in starts)


def test_list_and_plugins_json_stay_valid_json_with_noisy_and_exiting_plugins(troubled_site):
    listed = cli(troubled_site, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {item["qualified_name"] for item in json.loads(listed.stdout)}
    assert {"good_loss@losses-good", "mse@losses-taker", "mse@losses-core"} <= names
    plugins = cli(troubled_site, "plugins", "--json")
    statuses = {p["name"]: p["status"] for p in json.loads(plugins.stdout)}
    assert statuses["losses-exiter"] == statuses["losses-nomanifest"] == "failed"
    assert statuses["losses-good"] == "available" and statuses["losses-printer"] == "loaded"
    assert TRACEBACK not in listed.stderr + plugins.stderr


def test_an_invalid_environment_value_exits_2_with_one_line(troubled_site):
    proc = cli(troubled_site, "list", LOSSES_DISABLE_PLUGIN_AUTOLOAD="maybe")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "losses list: environment variable LOSSES_DISABLE_PLUGIN_AUTOLOAD='maybe' is invalid: expected "
        "1/0, true/false, yes/no or on/off (any case), or empty for the default\n"
    )


def test_an_unexpected_error_is_one_line_unless_traceback_is_asked_for(tmp_path):
    code = (
        "import sys\nfrom losses_core import _cli\n"
        "def explode(args):\n    raise ZeroDivisionError('kaboom')\n"
        "_orig = _cli.build_parser\n"
        "def build():\n    p = _orig()\n"
        "    p._subparsers._group_actions[0].choices['list'].set_defaults(run=explode)\n"
        "    return p\n"
        "_cli.build_parser = build\n"
        "sys.exit(_cli.main(sys.argv[1:] or ['list']))\n"
    )
    quiet = run_python(tmp_path, code)
    assert quiet.returncode == 1 and TRACEBACK not in quiet.stderr
    assert quiet.stderr.splitlines() == [
        "losses list: ZeroDivisionError: kaboom",
        "(rerun with `losses --traceback ...` to see where it was raised)",
    ]
    loud = run_python(tmp_path, code.replace("['list']", "['--traceback', 'list']"))
    assert loud.returncode == 1 and TRACEBACK in loud.stderr


def test_manifest_prints_writes_and_checks(tmp_path):
    package = write_static_plugin(tmp_path, "losses-mani", {"mani_loss": {"aliases": ["ManiLoss"]}})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "losses-mani"\n\n[project.entry-points."losses.plugins"]\nold = "x.y:z"\n'
        'losses-mani-hooks = "losses_mani.hooks"\n\n'
        "[tool.other]\nkey = 1\n",
        encoding="utf-8",
    )
    manifest = tmp_path / package / "losses.json"
    manifest.write_text("{}\n", encoding="utf-8")
    printed = cli(tmp_path, "manifest", package)
    assert printed.returncode == 0, printed.stderr
    table = [
        'mani_loss = "losses_mani.mani_loss:mani_loss"',
        'ManiLoss = "losses_mani.mani_loss:mani_loss"',
        'losses-mani = "losses_mani:losses.json"',
    ]
    assert printed.stdout.splitlines()[-4:] == ['[project.entry-points."losses.plugins"]', *table]
    stale = cli(tmp_path, "manifest", package, "--check")
    assert stale.returncode == 1 and "out of date; run `losses manifest losses_mani --write`" in stale.stderr
    written = cli(tmp_path, "manifest", package, "--write")
    assert written.returncode == 0, written.stderr
    assert json.loads(manifest.read_text(encoding="utf-8")) == {
        "losses-manifest": 1,
        "losses": {"mani_loss": {"summary": "The mani_loss loss."}},
    }
    assert pyproject.read_text(encoding="utf-8") == (
        '[project]\nname = "losses-mani"\n\n[project.entry-points."losses.plugins"]\n'
        + "\n".join(table)
        + '\nlosses-mani-hooks = "losses_mani.hooks"'  # plugin modules are declared by hand: kept
        + "\n\n[tool.other]\nkey = 1\n"
    )
    assert cli(tmp_path, "manifest", package, "--check").returncode == 0
    missing = cli(tmp_path, "manifest", "no_such_package_here")
    assert (
        missing.returncode == 1
        and "cannot import no_such_package_here: ModuleNotFoundError" in missing.stderr
    )


def test_the_name_checks_of_losses_check_import_no_plugin_module_and_not_torch(troubled_site):
    config = troubled_site / "config.yaml"
    config.write_text("train:\n  loss:\n    class: good_los\nval:\n  loss:\n    class: clash\n", "utf-8")
    proc = run_python(
        troubled_site,
        f"""
        import sys
        from losses_core._cli import main
        code = main(["check", {str(config)!r}, "--json"])
        prefixes = ("losses_good", "losses_clash")
        imported = sorted(m for m in sys.modules if m == "torch" or m.startswith(prefixes))
        print(imported, file=sys.stderr)
        sys.exit(code)
        """,
    )
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert "unknown loss 'good_los'. Did you mean: 'good_loss'?" in report["problems"][0]
    assert "'clash' is ambiguous" in report["problems"][1]
    assert proc.stderr.strip().splitlines()[-1] == "[]"
