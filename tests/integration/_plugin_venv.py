"""Build real wheels and install them into a fresh virtual environment that
reuses this interpreter's CPU torch without reinstalling it.

The fresh environment is made with ``python -m venv --without-pip``. torch,
its runtime dependencies, pluggy and PyYAML are made importable there by a
directory of symlinks to exactly those distributions' top-level packages and
``.dist-info`` directories, named by a ``.pth`` file in the environment's
site-packages. Nothing else of the parent environment is visible. Wheels are
installed with the parent's pip (``pip --python``), or, when the parent has no
usable pip, with a pip that ``ensurepip`` bootstraps into a separate tools venv.

It also names the fixture plugins and the scenarios the tests run in that
environment (invalid ``LOSSES_*`` values, a program whose other threads print).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORE_PROJECT = REPO / "packages" / "losses-core"
FIXTURE_PLUGINS = REPO / "tests" / "fixtures" / "plugins"
FIXTURE_NAMES = (
    "losses-fixture-alpha",  # static: alpha_mse (alias alpha-mse-alias) and shared_loss, one module each
    "losses-fixture-beta",  # static: beta_l1 and shared_loss (a conflict with alpha)
    "losses-fixture-broken",  # dynamic: raises RuntimeError when imported
    "losses-fixture-exit",  # static: exit_loss's module calls sys.exit(3); exit_neighbour is fine
    "losses-fixture-exit-dynamic",  # dynamic: calls sys.exit(3) when imported
    "losses-fixture-noisy",  # dynamic: prints at import; noisy_loss and noisy_hooked
    "losses-fixture-loud",  # static: loud_loss's module prints at import
    "losses-fixture-override",  # static: mse with override=True, aliases MSE and squared_error
    "losses-fixture-hooked",  # static, with a hooks module (pre/post-loss hooks); hooked_loss
)
ALPHA, BETA, BROKEN, EXIT, EXIT_DYNAMIC, NOISY, LOUD, OVERRIDE, HOOKED = FIXTURE_NAMES
STATIC_PACKAGES = {
    ALPHA: "losses_fixture_alpha",
    BETA: "losses_fixture_beta",
    EXIT: "losses_fixture_exit",
    LOUD: "losses_fixture_loud",
    OVERRIDE: "losses_fixture_override",
    HOOKED: "losses_fixture_hooked",
}
"""The static fixture plugins and their packages."""
DYNAMIC = (BROKEN, EXIT_DYNAMIC, NOISY)
"""The fixture plugins whose only entry point names a module (the others
declare each loss with an entry point, and ship a manifest): a listing
imports them."""

BAD_ENVIRONMENT = {
    "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "maybe",
    "LOSSES_TRACE_PLUGINS": "2",
    "LOSSES_CONFIG_ALLOW_IMPORT": "sometimes",
    "LOSSES_LOAD_PLUGINS": "bad name!",
    "LOSSES_DISABLE_PLUGINS": "a,,b c",
}
"""An invalid value of each ``LOSSES_*`` variable."""

# Another thread of the program prints while a lookup imports a loss's module
# (and torch with it: seconds).
CHATTER = "chatter from another thread"
CHATTER_SOURCE = f"""
import threading, time
from losses_core import LOSSES
stop = threading.Event()
def chatter():
    while not stop.is_set():
        print({CHATTER!r}, flush=True)
        time.sleep(0.001)
thread = threading.Thread(target=chatter)
thread.start()
time.sleep(0.05)
LOSSES["loud_loss"]
time.sleep(0.05)
stop.set()
thread.join()
"""

# What the fresh environment borrows from this one: torch's requirement
# closure plus losses-core's other runtime dependencies.
BORROWED_ROOTS = ("torch", "pluggy", "PyYAML")

_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build", "*.egg-info")


# -- wheels ------------------------------------------------------------------
def build_wheels(work: Path) -> list[Path]:
    """Build losses-core and the fixture plugins into wheels under ``work/wheels``.

    Each project is copied out of the repository first (nothing is written
    into the source tree) and built with ``python -m hatchling build -t wheel``
    in its own directory; the builds run concurrently.
    """
    sources = work / "src"
    out = work / "wheels"
    out.mkdir(parents=True)
    projects = [(CORE_PROJECT, sources / "losses-core")]
    projects += [(FIXTURE_PLUGINS / name, sources / name) for name in FIXTURE_NAMES]
    for src, dst in projects:
        shutil.copytree(src, dst, ignore=_COPY_IGNORE)

    def build(project: Path) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"building {project.name} failed:\n{proc.stdout}\n{proc.stderr}")

    with ThreadPoolExecutor(max_workers=len(projects)) as pool:
        list(pool.map(build, [dst for _, dst in projects]))
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != len(projects):
        raise RuntimeError(f"expected {len(projects)} wheels, got {[w.name for w in wheels]}")
    return wheels


# -- borrowed distributions --------------------------------------------------
def _requirement_closure(roots: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``roots`` need at run time, recursively.

    A requirement counts when its environment marker holds here, either
    plainly or for one of the extras its dependent asked for (so
    ``cuda-toolkit[cublas]`` brings the cuBLAS distribution of a CUDA torch);
    the roots' own optional extras are not followed.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()  # (distribution, extra); "" is the base
    pending = [(root, "") for root in roots]
    while pending:
        raw_name, extra = pending.pop()
        name = canonicalize_name(raw_name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = found[name] = found.get(name) or metadata.distribution(name)
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                pending.append((req.name, ""))
                pending.extend((req.name, wanted) for wanted in req.extras)
    return [found[n] for n in sorted(found)]


def _top_level_entries(dist: metadata.Distribution) -> list[Path]:
    """The top-level files and directories of ``dist`` in its site directory:
    its packages and modules, and its ``.dist-info`` directory."""
    names: set[str] = set()
    for file in dist.files or ():
        head = file.parts[0]
        if head in ("..", "__pycache__") or head.endswith((".pth", ".data")):
            continue
        names.add(head)
    if not names:  # no RECORD: fall back to top_level.txt
        names = set((dist.read_text("top_level.txt") or "").split())
        names.add(Path(str(getattr(dist, "_path", ""))).name)
    return [Path(str(dist.locate_file(n))) for n in sorted(names) if n]


def link_borrowed_distributions(target: Path) -> list[str]:
    """Fill ``target`` with symlinks to the borrowed distributions' files;
    return the distributions' names."""
    target.mkdir(parents=True)
    dists = _requirement_closure(BORROWED_ROOTS)
    for dist in dists:
        for entry in _top_level_entries(dist):
            link = target / entry.name
            if entry.exists() and not link.exists():
                link.symlink_to(entry, target_is_directory=entry.is_dir())
    return [d.metadata["Name"] for d in dists]


# -- the environment ----------------------------------------------------------
def _parent_pip_supports_python_option() -> bool:
    try:
        import pip
    except ImportError:
        return False
    try:
        major, minor = (int(p) for p in pip.__version__.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (22, 3)  # pip 22.3 added --python


def pip_command(tools: Path) -> list[str]:
    """How to run pip against another interpreter (``... --python VENV/bin/python``).

    This interpreter's pip when it supports ``--python``. Otherwise (hatch's
    uv-made environments have no pip) pip is bootstrapped once, by ensurepip,
    into a tools venv at ``tools``, and that pip is used with ``--python``,
    so the environments under test stay without pip.
    """
    if _parent_pip_supports_python_option():
        return [sys.executable, "-m", "pip"]
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True, capture_output=True)
    return [str(tools / ("Scripts" if os.name == "nt" else "bin") / "python"), "-m", "pip"]


@dataclass
class PluginVenv:
    """A fresh virtual environment with wheels installed in it."""

    root: Path
    site_packages: Path
    work: Path  # a scratch directory, used as the working directory of probes
    pip_base: list[str]  # see pip_command

    @property
    def python(self) -> Path:
        return self.root / ("Scripts" if os.name == "nt" else "bin") / "python"

    @property
    def losses_script(self) -> Path:
        return self.root / ("Scripts" if os.name == "nt" else "bin") / "losses"

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``pip --python VENV/bin/python ARGS``."""
        options = ["--python", str(self.python), "--disable-pip-version-check", "--no-input"]
        proc = subprocess.run(
            [*self.pip_base, *options, *args],
            capture_output=True,
            text=True,
            env=clean_environment(self),
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


def create_venv(root: Path, borrowed: Path, wheels: list[Path], pip_base: list[str]) -> PluginVenv:
    """Create a venv at ``root`` that sees ``borrowed`` and install ``wheels``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site_packages = Path(purelib)
    (site_packages / "_losses_borrowed_from_parent.pth").write_text(f"{borrowed}\n", encoding="utf-8")
    work = root.parent / f"{root.name}-work"
    work.mkdir(exist_ok=True)
    venv = PluginVenv(root, site_packages, work, pip_base)
    venv.pip("install", "--no-index", "--no-deps", *map(str, wheels))
    return venv


def clean_environment(venv: PluginVenv, **extra: str) -> dict[str, str]:
    """A minimal environment for subprocesses in ``venv``: no PYTHONPATH, no
    PYTHONHOME, no ``LOSSES_*`` variable of the calling process, no user site."""
    bin_dir = venv.python.parent
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "PYTHONNOUSERSITE": "1",
        "PYTHONUTF8": "1",
        "LC_ALL": "C.UTF-8",
    }
    for name in ("HOME", "TMPDIR", "SYSTEMROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def run_in_venv(
    venv: PluginVenv, args: list[str], timeout: float = 120, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` (the first is resolved in the venv's bin directory when
    it is ``python`` or ``losses``) with a clean environment, in the venv's
    scratch directory."""
    if args[0] == "python":
        args = [str(venv.python), *args[1:]]
    elif args[0] == "losses":
        args = [str(venv.losses_script), *args[1:]]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=clean_environment(venv, **extra_env),
        cwd=venv.work,
        timeout=timeout,
        check=False,
    )


def shared_venv(once: Any, key: str, wheels: list[Path], borrowed: Path, pip_base: list[str]) -> Any:
    """A venv with ``wheels`` installed, created once per session under ``key``."""

    def create() -> dict[str, str]:
        venv = create_venv(once.directory(key) / "env", borrowed, wheels, pip_base)
        return {"root": str(venv.root), "site_packages": str(venv.site_packages), "work": str(venv.work)}

    paths = once.run(key, create)
    return PluginVenv(Path(paths["root"]), Path(paths["site_packages"]), Path(paths["work"]), pip_base)
