"""The ``losses`` command line fits the terminal: every line of ``list``,
``plugins``, ``doctor`` and ``show`` at most ``$COLUMNS`` wide (80 when the
output is piped and ``COLUMNS`` unset), no name cut, ``--json`` untouched,
and ``show`` free of reST and LaTeX markup for every first-party loss."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from test_core_cli import losses_command

from losses_core import list_losses
from losses_core._cli import main
from losses_core._plugins import LOADER

FIRST_PARTY = {"losses-core", "losses-vae", "losses-sae", "losses-ranking", "losses-llm"}
MARKUP = re.compile(r"\\[A-Za-z]+|:[\w:+.-]+:`|``|^\s*\.\. [\w-]+::", re.M)
"""A LaTeX command, a reST role, a literal or a directive."""


def run(*args: str, columns: int | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    out = subprocess.run([*losses_command(), *args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode in (0, 1), out.stderr
    return out.stdout


def assert_fits(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} lines wider than {width}: {long[:3]}"


WIDTHS = [60, 80, 120, None]  # None: COLUMNS unset and stdout a pipe, so 80


@pytest.fixture(scope="module")
def listed() -> list[dict[str, object]]:
    return json.loads(run("list", "--json", columns=None))  # type: ignore[no-any-return]


@pytest.mark.parametrize("columns", WIDTHS)
def test_list_fits_and_keeps_every_name(columns: int | None, listed: list[dict[str, object]]) -> None:
    text = run("list", columns=columns)
    assert_fits(text, columns or 80)
    first_words = {line.split()[0] for line in text.splitlines() if line and not line.startswith(" ")}
    names = {str(row["qualified_name"] if row["ambiguous"] else row["name"]) for row in listed}
    assert names <= first_words  # each name whole, at the start of its row
    words = set(re.findall(r"[\w@.-]+", text))
    assert {str(a) for row in listed for a in row["aliases"]} <= words  # type: ignore[attr-defined]
    flat = " ".join(text.split())
    assert all(str(row["summary"])[:25] in flat for row in listed)  # summaries cut, never dropped


@pytest.mark.parametrize("columns", WIDTHS)
def test_plugins_fits_and_keeps_every_name(columns: int | None) -> None:
    text = run("plugins", columns=columns)
    assert_fits(text, columns or 80)
    rows = json.loads(run("plugins", "--json", columns=columns))
    first_words = {line.split()[0] for line in text.splitlines() if line and not line.startswith(" ")}
    assert {row["name"] for row in rows} <= first_words
    words = set(re.findall(r"[\w@.-]+", text))
    assert {name for row in rows for name in row["losses"]} <= words  # wrapped, never broken


@pytest.mark.parametrize("columns", WIDTHS)
def test_doctor_fits(columns: int | None) -> None:
    assert_fits(run("doctor", columns=columns), columns or 80)


@pytest.mark.parametrize("command", ["list", "plugins", "doctor"])
def test_json_output_does_not_depend_on_the_width(command: str) -> None:
    narrow = run(command, "--json", columns=40)
    assert narrow == run(command, "--json", columns=500)
    assert narrow == json.dumps(json.loads(narrow), indent=2) + "\n"  # as json.dumps writes it, not wrapped


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``losses ARGS`` in this process, at ``columns`` (``None``: as when piped)."""
    monkeypatch.setattr(LOADER, "replay_output", LOADER.replay_output)  # main() turns it off

    def not_a_terminal(fd: int = 1) -> os.terminal_size:
        raise OSError("not a terminal")

    def call(*args: str, columns: int | None) -> str:
        if columns is None:
            monkeypatch.delenv("COLUMNS", raising=False)
            monkeypatch.setattr(os, "get_terminal_size", not_a_terminal)
        else:
            monkeypatch.setenv("COLUMNS", str(columns))
        assert main(list(args)) == 0
        return capsys.readouterr().out

    return call


def test_show_json_does_not_depend_on_the_width(cli) -> None:  # type: ignore[no-untyped-def]
    narrow = cli("show", "beta_tcvae", "--json", columns=40)
    assert narrow == cli("show", "beta_tcvae", "--json", columns=500)
    assert json.loads(narrow)["doc"].startswith("beta-TCVAE")  # the docstring as written, markup and all
    assert ":math:" in json.loads(narrow)["doc"]


def test_show_fits_when_piped(cli) -> None:  # type: ignore[no-untyped-def]
    text = cli("show", "focal", columns=None)
    assert_fits(text, 80)
    assert "\n    FL(p_t) = -α_t (1 - p_t)^γ log p_t\n" in text  # the formula, readable and indented
    assert not MARKUP.search(text)


def test_show_of_every_first_party_loss_is_plain_text_and_fits(cli) -> None:  # type: ignore[no-untyped-def]
    infos = [i for i in list_losses() if i.provider in FIRST_PARTY]
    assert {i.provider for i in infos} == FIRST_PARTY
    for info in infos:
        for columns in (60, 120):
            text = cli("show", info.qualified_name, columns=columns)
            assert_fits(text, columns)
            found = MARKUP.search(text)
            assert found is None, f"{info.qualified_name}: {found.group(0)!r} at {columns} columns"
            assert text.startswith(f"{info.name}  ({info.provider}")
