"""Fixtures of the integration tests: real wheels in a fresh virtual environment.

The wheels (losses-core and the fixture plugins under ``tests/fixtures/plugins``)
are built once per test session; the environment borrows this interpreter's
torch through symlinks instead of reinstalling it (see ``_plugin_venv``).
Probes of that environment (``_probe.py`` run in a fresh process, once per set
of environment variables) and commands (the ``losses`` console script and
others) start in the background as soon as the environment exists, two at a
time per worker, and each test waits for the one it reads.

Under pytest-xdist every piece of that work (the wheels, each environment,
each probe and command) is done once per session, by whichever worker gets
to it first, and shared with the others (see ``_once``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _malformed import CASES, RUNNING_AS_ROOT, Case, write_cases
from _once import ELSEWHERE, Once
from _plugin_venv import (
    ALPHA,
    BAD_ENVIRONMENT,
    BETA,
    CHATTER_SOURCE,
    DYNAMIC,
    FIXTURE_PLUGINS,
    NOISY,
    STATIC_PACKAGES,
    build_wheels,
    link_borrowed_distributions,
    pip_command,
    run_in_venv,
    shared_venv,
)

HERE = Path(__file__).resolve().parent
PROBE_SOURCE = (HERE / "_probe.py").read_text(encoding="utf-8")
REPORT_MARKER = "PROBE-REPORT "

# Runs the command line in-process, as the console script does, then writes
# on the last line of stderr which plugin modules it imported and whether torch.
CLI_MODULES_MARKER = "CLI-MODULES "
CLI_MODULES_SOURCE = """
import json, sys
from losses_core._cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
modules = sorted(m for m in sys.modules if m.startswith("losses_fixture"))
report = {"plugin_modules": modules, "torch": "torch" in sys.modules}
sys.stderr.write("\\nCLI-MODULES " + json.dumps(report) + "\\n")
sys.exit(code)
"""

STATIC_ONLY = {"LOSSES_DISABLE_PLUGINS": ",".join(DYNAMIC)}
"""Only the static plugins, whose entry points declare their losses (and
losses-core); losses-fixture-hooked's hooks module is one of them."""

# In the process of one hand-written install (``_malformed``): the listing of
# its distribution's losses, then the lookups that must fail, then those that
# must work, then a healthy plugin's loss.
LOOKUPS_SOURCE = """
import json, sys, torch
from losses_core import LOSSES, list_losses
spec = json.loads(sys.argv[1])
x = {"predictions": torch.tensor([1.0, 2.0, 3.0], requires_grad=True)}
y = {"target": torch.tensor([1.0, 0.0, 0.0])}
def value(name):
    try:
        return LOSSES[name](x, y).item()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
def error(name):
    try:
        LOSSES[name]
    except Exception as exc:
        return {"type": type(exc).__name__, "message": str(exc.args[0]) if exc.args else str(exc)}
    return None
mine = [i for i in list_losses() if i.provider == spec["distribution"]]
out = {"listed": sorted([i.name, list(i.aliases)] for i in mine)}
out["failing"] = {name: [error(name), error(name)] for name in spec["failing"]}
out["lookups"] = {name: value(name) for name in spec["lookups"]}
out["alpha_mse"] = value("alpha_mse")
print(json.dumps(out))
"""
QUIET = {"LOSSES_DISABLE_PLUGINS": NOISY}
"""Every plugin but the one that imports torch when listed (registering imports
torch): commands run in a fraction of a second."""


@dataclass
class ProbeResult:
    """A finished probe: its JSON report, and the rest of its output."""

    report: dict[str, Any]
    stdout: str
    """stdout without the report's line."""
    stderr: str


@dataclass
class CommandResult:
    """A finished command in the venv."""

    args: list[str]
    env: dict[str, str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"{self.args} (env {self.env}) exited with {self.returncode}\n"
            f"stdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
        )

    def check(self, returncode: int = 0) -> CommandResult:
        assert self.returncode == returncode, self.describe()
        return self

    def json(self, returncode: int = 0) -> Any:
        return json.loads(self.check(returncode).stdout)

    def modules(self) -> dict[str, Any]:
        """What a ``CLI_MODULES_SOURCE`` command imported."""
        lines = [line for line in self.stderr.splitlines() if line.startswith(CLI_MODULES_MARKER)]
        assert lines, self.describe()
        result: dict[str, Any] = json.loads(lines[-1][len(CLI_MODULES_MARKER) :])
        return result


Command = tuple[list[str], dict[str, str]]


class VenvRunner:
    """Runs the named probes and commands in one venv, each once per session
    (see ``_once``), in a pool of threads; ``probe(key)`` and ``command(key)``
    wait for the result."""

    def __init__(
        self,
        venv: Any,
        pool: ThreadPoolExecutor,
        once: Once,
        prefix: str,
        probes: dict[str, dict[str, str]],
        commands: dict[str, Command] | None = None,
    ) -> None:
        self.venv = venv
        self._pool = pool
        self._once = once
        self._prefix = prefix
        self.probes = probes
        self.commands = commands or {}
        self._futures: dict[str, Future[Any]] = {}

    def _submit(self, key: str, work: Callable[[], Any]) -> Future[Any]:
        # In the pool, the work is done here unless another worker claimed it first.
        key = f"{self._prefix}-{key}"
        if key not in self._futures:
            self._futures[key] = self._pool.submit(self._once.run_if_first, key, work)
        return self._futures[key]

    def _result(self, key: str, work: Callable[[], Any]) -> Any:
        value = self._submit(key, work).result()
        return self._once.wait(f"{self._prefix}-{key}") if value is ELSEWHERE else value

    def _probe(self, key: str) -> dict[str, Any]:
        env = self.probes[key]
        log = self.venv.work / f"fixture-log-{key}.txt"
        proc = run_in_venv(self.venv, ["python", "-c", PROBE_SOURCE], LOSSES_FIXTURE_LOG=str(log), **env)
        lines = proc.stdout.splitlines()
        reports = [line for line in lines if line.startswith(REPORT_MARKER)]
        if proc.returncode != 0 or not reports:
            raise AssertionError(
                f"probe {key!r} (env {env}) failed with exit code {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        rest = "\n".join(line for line in lines if not line.startswith(REPORT_MARKER))
        report = json.loads(reports[-1][len(REPORT_MARKER) :])
        return {"report": report, "stdout": rest, "stderr": proc.stderr}

    def _command(self, key: str) -> dict[str, Any]:
        args, env = self.commands[key]
        proc: subprocess.CompletedProcess[str] = run_in_venv(self.venv, args, **env)
        return {
            "args": args,
            "env": env,
            "returncode": proc.returncode,
            "stdout": proc.stdout,
            "stderr": proc.stderr,
        }

    def start_all(self) -> None:
        """Start every probe and command in the background."""
        for key in self.probes:
            self._submit(f"probe-{key}", lambda key=key: self._probe(key))
        for key in self.commands:
            self._submit(f"cmd-{key}", lambda key=key: self._command(key))

    def probe(self, key: str) -> ProbeResult:
        """The report of ``_probe.py`` run with the environment of probe ``key``."""
        return ProbeResult(**self._result(f"probe-{key}", lambda: self._probe(key)))

    def command(self, key: str) -> CommandResult:
        """The result of command ``key`` (``python ...`` or ``losses ...``) in the venv."""
        return CommandResult(**self._result(f"cmd-{key}", lambda: self._command(key)))


# -- what runs in the plugin venv ---------------------------------------------------------------


def _bad(variable: str) -> str:
    return f"{variable}={BAD_ENVIRONMENT[variable]}"


def plugin_probes(again: Path, malformed: list[str], cases: list[Case]) -> dict[str, dict[str, str]]:
    """Every probe of the plugin venv; each with an invalid ``LOSSES_*`` value
    first (``PROBE_BAD_ENV``) goes on, once it is fixed, as the probe without it."""
    return {
        "default": {"PROBE_SPAWN": "1"},
        "static_only": {
            **STATIC_ONLY,
            "PROBE_LIST_FIRST": "1",
            "PROBE_BAD_ENV": _bad("LOSSES_DISABLE_PLUGINS"),
        },
        "autoload_off": {
            "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PROBE_LOOKUP": "mse",
            "PROBE_BAD_ENV": _bad("LOSSES_DISABLE_PLUGIN_AUTOLOAD"),
        },
        "allow_alpha": {
            "LOSSES_LOAD_PLUGINS": ALPHA,
            "PROBE_BAD_ENV": _bad("LOSSES_LOAD_PLUGINS"),
        },
        "allow_none": {
            "LOSSES_LOAD_PLUGINS": "",
            "PROBE_LOOKUP": "mse",
            "PROBE_BAD_ENV": _bad("LOSSES_CONFIG_ALLOW_IMPORT"),
        },
        "trace": {
            "LOSSES_TRACE_PLUGINS": "1",
            "PROBE_LIST_FIRST": "1",
            "PROBE_BAD_ENV": _bad("LOSSES_TRACE_PLUGINS"),
        },
        "preimport_beta": {"PROBE_PREIMPORT": "losses_fixture_beta.losses"},
        "duplicate": {"PYTHONPATH": str(again)},
        "malformed": {
            "PYTHONPATH": os.pathsep.join(malformed),
            "PROBE_ERRORS": ",".join(name for case in cases for name, _ in case.failing),
            "PROBE_CALLS": ",".join(name for case in cases for name, _ in case.lookups),
            # torch's own scan of the entry points of its group fails on a
            # non-UTF-8 entry_points.txt (it breaks torch's import, not ours)
            "TORCH_DEVICE_BACKEND_AUTOLOAD": "0",
        },
    }


def plugin_commands(
    work: Path, again: Path, malformed: dict[str, str], combined: list[str], sources: Path
) -> dict[str, Command]:
    """Every command run in the plugin venv."""
    commands: dict[str, Command] = {
        # every plugin, the noisy one included
        "list_json": (["losses", "list", "--json"], {}),
        "plugins_json": (["losses", "plugins", "--json"], {}),
        "doctor_json": (["losses", "doctor", "--json"], {}),
        "doctor_table": (["losses", "doctor"], {}),
        "doctor_import_json": (["losses", "doctor", "--import", "--json"], {}),
        "show_loud_json": (["losses", "show", "loud_loss", "--json"], {}),
        "manifest_loud": (["losses", "manifest", "losses_fixture_loud"], {}),
        # without the noisy plugin, whose import (registering) imports torch
        "chatter": (["python", "-c", CHATTER_SOURCE], QUIET),
        "plugins_table": (["losses", "plugins"], QUIET),
        "module_list": (["python", "-m", "losses_core", "list", "*_l1"], QUIET),
        "show_exit": (["losses", "show", "exit_loss"], QUIET),
        "show_exit_json": (["losses", "show", "exit_loss", "--json"], QUIET),
        "check_ambiguous": (["losses", "check", str(work / "ambiguous.yaml")], QUIET),
        "check_qualified": (["losses", "check", str(work / "qualified.yaml")], QUIET),
        "doctor_duplicate": (["losses", "doctor", "--json"], {**QUIET, "PYTHONPATH": str(again)}),
        "doctor_blocked": (
            ["losses", "doctor", "--json"],
            {"LOSSES_DISABLE_PLUGINS": ",".join((BETA, *DYNAMIC))},
        ),
        "malformed_list_json": (
            ["losses", "list", "--json"],
            {**QUIET, "PYTHONPATH": os.pathsep.join(combined)},
        ),
        "malformed_table": (["losses", "doctor"], {**QUIET, "PYTHONPATH": os.pathsep.join(combined)}),
    }
    # metadata only: no plugin module, no torch
    for name in ("list", "plugins", "doctor"):
        commands[f"lazy_{name}"] = (["python", "-c", CLI_MODULES_SOURCE, name, "--json"], STATIC_ONLY)
    # a listing with dynamic plugins: those, and no static plugin's module
    commands["lazy_list_dynamic"] = (["python", "-c", CLI_MODULES_SOURCE, "list", "--json"], QUIET)
    # the committed declarations of each static fixture, checked against its code
    for distribution, package in STATIC_PACKAGES.items():
        env = {"PYTHONPATH": str(sources / distribution / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        commands[f"manifest_check_{package}"] = (
            ["python", "-m", "losses_core", "manifest", package, "--check"],
            env,
        )
    for variable, value in BAD_ENVIRONMENT.items():
        commands[f"bad_{variable}"] = (["losses", "list"], {variable: value})
    for case in CASES:
        env = {**QUIET, "PYTHONPATH": malformed[case.name]}
        commands[f"malformed_{case.name}_doctor"] = (["losses", "doctor", "--json"], env)
        commands[f"malformed_{case.name}_plugins"] = (["losses", "plugins", "--json"], env)
        if case.lookups or case.failing or case.listed:
            spec = {
                "distribution": case.distribution,
                "failing": [name for name, _ in case.failing],
                "lookups": [name for name, _ in case.lookups],
            }
            commands[f"malformed_{case.name}_lookups"] = (
                ["python", "-c", LOOKUPS_SOURCE, json.dumps(spec)],
                env,
            )
    return commands


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def once(tmp_path_factory: pytest.TempPathFactory) -> Once:
    """Work shared by the xdist workers of this session."""
    return Once.for_session(tmp_path_factory)


@pytest.fixture(scope="session")
def wheels(once: Once) -> list[Path]:
    """losses-core and the fixture plugins, built once per session."""
    pytest.importorskip("hatchling", reason="building the fixture wheels needs hatchling")
    paths = once.run("wheels", lambda: [str(p) for p in build_wheels(once.directory("wheels"))])
    return [Path(p) for p in paths]


@pytest.fixture(scope="session")
def borrowed(once: Once) -> Path:
    """A directory of symlinks to torch, its dependencies, pluggy and PyYAML."""

    def link() -> str:
        target = once.directory("borrowed") / "site"
        link_borrowed_distributions(target)
        return str(target)

    return Path(once.run("borrowed", link))


@pytest.fixture(scope="session")
def pip_base(once: Once) -> list[str]:
    """The pip used (with ``--python``) to install into the test venvs."""
    base: list[str] = once.run("pip", lambda: pip_command(once.directory("pip") / "pip-venv"))
    return base


@pytest.fixture(scope="session")
def plugin_venv(once: Once, wheels: list[Path], borrowed: Path, pip_base: list[str]) -> Iterator[VenvRunner]:
    """A fresh venv with every fixture wheel installed; probes and commands start at once."""
    venv = shared_venv(once, "plugin-venv", wheels, borrowed, pip_base)
    again = venv.work / "site-packages-again"
    malformed_root = venv.work / "malformed"
    sources = venv.work / "fixture-sources"

    def prepare() -> dict[str, str]:
        # The same distributions visible twice on sys.path: site-packages, and
        # a symlink to it through PYTHONPATH.
        again.symlink_to(venv.site_packages, target_is_directory=True)
        (venv.work / "ambiguous.yaml").write_text("loss: {type: shared_loss}\n", encoding="utf-8")
        (venv.work / "qualified.yaml").write_text(f"loss: {{type: shared_loss@{ALPHA}}}\n", encoding="utf-8")
        # the fixture projects, for `losses manifest --check` (nothing is written into the repository)
        for distribution in STATIC_PACKAGES:
            shutil.copytree(
                FIXTURE_PLUGINS / distribution,
                sources / distribution,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build"),
            )
        return write_cases(malformed_root)

    malformed: dict[str, str] = once.run("plugin-venv-files", prepare)
    # Every case at once (each has its own tests too).
    cases = [c for c in CASES if c.as_root or not RUNNING_AS_ROOT]
    combined = [malformed[c.name] for c in cases]
    probes = plugin_probes(again, combined, cases)
    commands = plugin_commands(venv.work, again, malformed, combined, sources)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe") as pool:
        runner = VenvRunner(venv, pool, once, "plugin", probes, commands)
        runner.start_all()
        yield runner


@pytest.fixture(scope="session")
def uninstall_venv(
    once: Once, wheels: list[Path], borrowed: Path, pip_base: list[str]
) -> Iterator[VenvRunner]:
    """A second venv with every fixture wheel installed, for the uninstall test
    (which changes it), so test order does not matter."""
    venv = shared_venv(once, "uninstall-venv", wheels, borrowed, pip_base)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="uninstall") as pool:
        yield VenvRunner(venv, pool, once, "uninstall", {"after_uninstall": {}})
