"""The minimal ``losses`` command line, through the real console script."""

from __future__ import annotations

import json
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
