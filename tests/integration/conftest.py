"""Fixtures of the integration tests: real wheels in a fresh virtual environment.

The wheels (losses-core and the fixture plugins under ``tests/fixtures/plugins``)
are built once per test session; the environment borrows this interpreter's
torch through symlinks instead of reinstalling it (see ``_plugin_venv``).
Probes of that environment (``_probe.py`` run in a fresh process, once per set
of environment variables) start in the background as soon as the environment
exists, two at a time, and each test waits for the one it reads.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PROBE_SOURCE = (HERE / "_probe.py").read_text(encoding="utf-8")
REPORT_MARKER = "PROBE-REPORT "


@dataclass
class ProbeResult:
    """A finished probe: its JSON report, and the process's stderr."""

    report: dict[str, Any]
    stderr: str
    log: Path


@dataclass
class CommandResult:
    """A finished command in the venv."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> CommandResult:
        assert self.returncode == 0, (
            f"{self.args} exited with {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )
        return self

    def json(self) -> Any:
        return json.loads(self.check().stdout)


class VenvRunner:
    """Runs the named probes and commands in one venv, each once, in a pool
    of threads; ``probe(key)`` and ``command(key)`` wait for the result."""

    def __init__(
        self,
        venv: Any,
        pool: ThreadPoolExecutor,
        probes: dict[str, dict[str, str]],
        commands: dict[str, list[str]] | None = None,
    ) -> None:
        self.venv = venv
        self._pool = pool
        self._probes = probes
        self._commands = commands or {}
        self._futures: dict[str, Future[Any]] = {}

    def _submit(self, key: str, fn: Any, *args: Any) -> Future[Any]:
        if key not in self._futures:
            self._futures[key] = self._pool.submit(fn, *args)
        return self._futures[key]

    def _probe(self, key: str, env: dict[str, str]) -> ProbeResult:
        from _plugin_venv import run_in_venv

        log = self.venv.work / f"fixture-log-{key}.txt"
        proc = run_in_venv(self.venv, ["python", "-c", PROBE_SOURCE], LOSSES_FIXTURE_LOG=str(log), **env)
        lines = [line for line in proc.stdout.splitlines() if line.startswith(REPORT_MARKER)]
        if proc.returncode != 0 or not lines:
            raise AssertionError(
                f"probe {key!r} (env {env}) failed with exit code {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return ProbeResult(json.loads(lines[-1][len(REPORT_MARKER) :]), proc.stderr, log)

    def _command(self, args: list[str]) -> CommandResult:
        from _plugin_venv import run_in_venv

        proc: subprocess.CompletedProcess[str] = run_in_venv(self.venv, args)
        return CommandResult(args, proc.returncode, proc.stdout, proc.stderr)

    def start_all(self) -> None:
        """Start every probe and command in the background."""
        for key, env in self._probes.items():
            self._submit(f"probe:{key}", self._probe, key, env)
        for key, args in self._commands.items():
            self._submit(f"cmd:{key}", self._command, args)

    def probe(self, key: str) -> ProbeResult:
        """The report of ``_probe.py`` run with the environment of probe ``key``."""
        result: ProbeResult = self._submit(f"probe:{key}", self._probe, key, self._probes[key]).result()
        return result

    def command(self, key: str) -> CommandResult:
        """The result of command ``key`` (``python ...`` or ``losses ...``) in the venv."""
        result: CommandResult = self._submit(f"cmd:{key}", self._command, self._commands[key]).result()
        return result


# Every probe and command the tests use, started in the background at once.
PROBES: dict[str, dict[str, str]] = {
    "default": {"PROBE_SPAWN": "1"},
    "autoload_off": {"LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1", "PROBE_LOOKUP": "mse"},
    "allow_alpha": {"LOSSES_LOAD_PLUGINS": "losses-fixture-alpha"},
    "allow_none": {"LOSSES_LOAD_PLUGINS": "", "PROBE_LOOKUP": "mse"},
    "block_broken": {"LOSSES_DISABLE_PLUGINS": "losses-fixture-broken"},
    "trace": {"LOSSES_TRACE_PLUGINS": "1"},
    "preimport_beta": {"PROBE_PREIMPORT": "losses_fixture_beta._plugin"},
}
COMMANDS: dict[str, list[str]] = {
    "list_json": ["losses", "list", "--json"],
    "plugins_json": ["losses", "plugins", "--json"],
    "module_list": ["python", "-m", "losses_core", "list", "*_l1"],
}


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """losses-core and the three fixture plugins, built once per session."""
    pytest.importorskip("hatchling", reason="building the fixture wheels needs hatchling")
    from _plugin_venv import build_wheels

    return build_wheels(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="session")
def borrowed(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Path:
    """A directory of symlinks to torch, its dependencies, pluggy and PyYAML."""
    from _plugin_venv import link_borrowed_distributions

    target = tmp_path_factory.mktemp("borrowed") / "site"
    link_borrowed_distributions(target)
    return target


@pytest.fixture(scope="session")
def pip_base(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The pip used (with ``--python``) to install into the test venvs."""
    from _plugin_venv import pip_command

    return pip_command(tmp_path_factory.mktemp("tools") / "pip-venv")


@pytest.fixture(scope="session")
def plugin_venv(
    tmp_path_factory: pytest.TempPathFactory, wheels: list[Path], borrowed: Path, pip_base: list[str]
) -> Iterator[VenvRunner]:
    """A fresh venv with every fixture wheel installed; probes start at once."""
    from _plugin_venv import create_venv

    venv = create_venv(tmp_path_factory.mktemp("venv") / "env", borrowed, wheels, pip_base)
    # The same distributions visible twice on sys.path: site-packages, and
    # a symlink to it through PYTHONPATH.
    again = venv.work / "site-packages-again"
    again.symlink_to(venv.site_packages, target_is_directory=True)
    probes = {**PROBES, "duplicate": {"PYTHONPATH": str(again)}}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe") as pool:
        runner = VenvRunner(venv, pool, probes, COMMANDS)
        runner.start_all()
        yield runner


@pytest.fixture(scope="session")
def uninstall_venv(
    tmp_path_factory: pytest.TempPathFactory, wheels: list[Path], borrowed: Path, pip_base: list[str]
) -> Iterator[VenvRunner]:
    """A second venv with every fixture wheel installed, for the uninstall test
    (which changes it), so test order does not matter."""
    from _plugin_venv import create_venv

    venv = create_venv(tmp_path_factory.mktemp("venv-uninstall") / "env", borrowed, wheels, pip_base)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="uninstall") as pool:
        yield VenvRunner(venv, pool, {"after_uninstall": {}})
