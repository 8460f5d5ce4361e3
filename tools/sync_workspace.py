"""Reinstall the workspace's editable distributions whose installed metadata is stale.

Hatch installs ``packages/*`` in editable mode when it creates an environment,
and does not look at them again. Source edits show up through the editable
install, but packaging metadata does not: after a pull that changes a
distribution's version or its ``losses.plugins`` entry points, or adds a new
distribution, an existing environment still carries the old ``.dist-info``,
and plugin discovery (which reads that metadata) sees the old declarations.

``python tools/sync_workspace.py`` compares each ``packages/*/pyproject.toml``
with what is installed (version, entry points, and the directory the editable
install points at) and runs ``pip install --no-deps -e`` for the ones that
differ or are missing. The ``hatch test``, ``hatch run demo``, benchmark and
docs scripts run it first (``hatch.toml``); it prints nothing when everything
is current.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


def _load_toml(path: Path) -> dict[str, Any] | None:
    """The parsed file, or None on Python 3.10, which has no ``tomllib``."""
    try:
        import tomllib
    except ImportError:
        return None
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _declared_entry_points(project: dict[str, Any]) -> set[tuple[str, str, str]]:
    tables = project.get("entry-points", {})
    points = {(group, name, value) for group, table in tables.items() for name, value in table.items()}
    for name, value in project.get("scripts", {}).items():
        points.add(("console_scripts", name, value))
    for name, value in project.get("gui-scripts", {}).items():
        points.add(("gui_scripts", name, value))
    return points


def _installed_location(dist: importlib.metadata.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        url = json.loads(text).get("url", "")
    except ValueError:
        return None
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path)).resolve()


def stale_reason(package: Path) -> str | None:
    """Why the installed metadata of the distribution in ``package`` is stale, or None."""
    pyproject = _load_toml(package / "pyproject.toml")
    if pyproject is None:
        return "cannot read pyproject.toml without tomllib (Python 3.10): reinstalling to be sure"
    project = pyproject["project"]
    name = project["name"]
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    if dist.version != project.get("version", dist.version):
        return f"installed {dist.version}, pyproject says {project['version']}"
    installed = {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
    if installed != _declared_entry_points(project):
        return "entry points changed"
    location = _installed_location(dist)
    if location is not None and location != package.resolve():
        return f"installed from {location}"
    return None


def main() -> int:
    stale: list[tuple[Path, str]] = []
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        reason = stale_reason(pyproject.parent)
        if reason is not None:
            stale.append((pyproject.parent, reason))
    if not stale:
        return 0
    for package, reason in stale:
        print(f"sync_workspace: reinstalling {package.name} ({reason})", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    for package, _ in stale:
        command += ["-e", str(package)]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
