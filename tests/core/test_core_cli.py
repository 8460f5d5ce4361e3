"""The minimal ``losses`` command line, through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def losses_command() -> list[str]:
    script = Path(sys.executable).parent / "losses"
    if script.exists():
        return [str(script)]
    found = shutil.which("losses")
    if found is None:
        pytest.fail("the losses console script is not installed")
    return [found]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*losses_command(), *args], capture_output=True, text=True, timeout=120)


def test_list_table_and_pattern():
    out = run("list", "focal*")
    assert out.returncode == 0, out.stderr
    assert "focal" in out.stdout and "losses-core" in out.stdout
    assert "mse" not in out.stdout


def test_list_json():
    out = run("list", "--json")
    assert out.returncode == 0, out.stderr
    names = {row["name"]: row for row in json.loads(out.stdout)}
    assert names["mse"]["provider"] == "losses-core"
    assert "MSE" in names["mse"]["aliases"]


def test_plugins_json_lists_core():
    out = run("plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["losses-core"]["status"] == "builtin"
    assert set(rows["losses-core"]["losses"]) >= {"mse", "token_ce", "focal"}


def test_python_dash_m():
    out = subprocess.run(
        [sys.executable, "-m", "losses_core", "list", "token*"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "token_ce" in out.stdout


def test_bad_usage_exits_2():
    assert run("frobnicate").returncode == 2


def test_show_human_and_json():
    out = run("show", "mse")
    assert out.returncode == 0, out.stderr
    assert "losses-core" in out.stdout and "reduction ('mean' | 'sum' | 'none'): default 'mean'" in out.stdout
    assert "predictions: model_output['predictions'] float" in out.stdout  # the declared inputs
    assert "Mean squared error" in out.stdout
    data = json.loads(run("show", "cross_entropy", "--json").stdout)
    assert data["name"] == "token_ce" and data["provider"] == "losses-core"
    assert {"name": "ignore_index", "default": -100, "required": False, "annotation": "int"} in data[
        "parameters"
    ]


def test_show_unknown_exits_1_with_suggestion():
    out = run("show", "mse_los")
    assert out.returncode == 1
    assert "Did you mean:" in out.stderr and "'mse'" in out.stderr


def test_check_valid_and_invalid_config(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  loss: {type: token_ce, kwargs: {label_smoothing: 0.1}}\nval:\n  loss: mse\n")
    out = run("check", str(good))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout and "token_ce" in out.stdout and "val:" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "train:\n  loss:\n    terms:\n      - {type: token_ce, kwargs: {label_smothing: 0.1}}\n"
        "      - {type: mse_typo}\n      - {type: mse, weight: heavy}\n"
    )
    out = run("check", str(bad), "--section", "train")
    assert out.returncode == 1
    text = " ".join(out.stdout.split())  # lines wrapped to the terminal joined again
    assert "3 problem(s)" in text
    assert "train.loss.terms[0].kwargs" in text and "label_smoothing" in text
    assert "train.loss.terms[1].type" in text and "train.loss.terms[2].weight" in text
    report = json.loads(run("check", str(bad), "--json").stdout)
    assert report["valid"] is False and len(report["problems"]) == 3


def test_doctor_healthy_environment_json():
    out = run("doctor", "--json")
    report = json.loads(out.stdout)
    assert set(report) >= {"conflicts", "broken_plugins", "duplicate_installs", "disabled_plugins", "healthy"}
    assert out.returncode == (0 if report["healthy"] else 1)


def test_doctor_reports_disabled_plugins(monkeypatch):
    env_out = subprocess.run(
        [*losses_command(), "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    report = json.loads(env_out.stdout)
    assert report["environment"]["autoload"] is False


def test_new_plugin_writes_package(tmp_path):
    out = run("new-plugin", "losses-foo", "--directory", str(tmp_path))
    assert out.returncode == 0, out.stderr
    root = tmp_path / "losses-foo"
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."losses.plugins"]' in pyproject
    assert 'losses-foo = "losses_foo:losses.json"' in pyproject  # the static form: it names the manifest
    assert '"losses-core>=0.3,<0.4"' in pyproject
    assert '"losses_core._registry".msg' in pyproject  # the private-import ban
    assert (root / "src" / "losses_foo" / "py.typed").exists()
    assert "register_loss(" in (root / "src" / "losses_foo" / "foo_huber.py").read_text()
    assert (root / "tests" / "test_losses_foo.py").exists()
    again = run("new-plugin", "losses-foo", "--directory", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert run("new-plugin", "bad name!", "--directory", str(tmp_path)).returncode == 1


def test_new_plugin_manifest_is_what_losses_manifest_generates(tmp_path):
    from losses_core._scaffold import write_plugin

    root = write_plugin("losses-foo", tmp_path)
    package = root / "src" / "losses_foo"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "losses_core", "manifest", "losses_foo", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr  # losses.json and the pyproject's entry points are current
    assert "up to date (1 losses)" in out.stdout
    manifest = json.loads((package / "losses.json").read_text(encoding="utf-8"))
    assert list(manifest["losses"]) == ["foo_huber"]
    assert 'foo_huber = "losses_foo.foo_huber:foo_huber"' in (root / "pyproject.toml").read_text(
        encoding="utf-8"
    )
    # the package __init__ is lazy: importing it imports no loss module, and the
    # function (not its module) stays the package attribute once the module is imported
    code = (
        "import sys, types, losses_foo; "
        "assert 'losses_foo.foo_huber' not in sys.modules; "
        "import losses_foo.foo_huber; "
        "assert not isinstance(losses_foo.foo_huber, types.ModuleType); "
        "assert callable(losses_foo.foo_huber)"
    )
    lazy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert lazy.returncode == 0, lazy.stderr
    test_module = (root / "tests" / "test_losses_foo.py").read_text(encoding="utf-8")
    assert "def test_manifest_matches_the_code():" in test_module
    assert 'check_manifest("losses-foo") == []' in test_module
