"""Installed distributions: the ``losses.plugins`` entry points, read from
package metadata on ``sys.path`` without importing anything.

The scan reads ``*.dist-info``, ``*.egg-info`` and ``*.egg`` folders directly,
which costs a fraction of ``importlib.metadata``'s generic search, and
survives malformed installs: a folder without metadata or without a name, an
unreadable ``entry_points.txt`` or a distribution visible twice is reported,
never raised. When an import hook provides distributions of its own, it
falls back to ``importlib.metadata``, guarding each distribution.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

from losses_core._names import ENTRY_POINT_GROUP, normalize_distribution


class InstalledPlugin(NamedTuple):
    """One entry point of the group, with its distribution."""

    distribution: str
    """The normalised distribution name."""
    version: str | None
    name: str
    """The entry point's name."""
    value: str
    """The entry point's object reference (extras removed)."""
    location: str
    """The metadata folder it was read from."""

    @property
    def entry_point(self) -> str:
        return f"{self.name} = {self.value}"


class InstallProblem(NamedTuple):
    """A malformed install found by the scan."""

    distribution: str
    """The distribution's name, or the folder's name when it has none."""
    location: str
    problem: str

    def describe(self) -> str:
        return f"{self.distribution} at {self.location}: {self.problem}"


class Installed(NamedTuple):
    """What the scan found."""

    plugins: list[InstalledPlugin]
    problems: list[InstallProblem]
    duplicates: dict[str, list[str]]
    """Plugin distributions (and losses-core) found more than once: every
    location, the one used first."""


def scan_installed(group: str = ENTRY_POINT_GROUP) -> Installed:
    """The group's entry points, one per (distribution, name), sorted by
    distribution then entry-point name; the first of several installs of a
    distribution wins, as for imports."""
    scanner = _Scanner(group)
    if _only_standard_finders():
        scanner.scan_path()
    else:
        scanner.scan_importlib()
    return scanner.result()


def _only_standard_finders() -> bool:
    from importlib.machinery import PathFinder

    return all(
        finder is PathFinder or not hasattr(finder, "find_distributions") for finder in sys.meta_path
    ) and all(not hasattr(hook, "find_distributions") for hook in sys.path_hooks)


class _Scanner:
    def __init__(self, group: str) -> None:
        self.header = f"[{group}]"
        self.plugins: dict[tuple[str, str], InstalledPlugin] = {}
        self.problems: list[InstallProblem] = []
        self.locations: dict[str, list[str]] = {}
        self.relevant: set[str] = {"losses-core"}

    def result(self) -> Installed:
        duplicates = {
            name: places
            for name, places in sorted(self.locations.items())
            if len(places) > 1 and name in self.relevant
        }
        plugins = [self.plugins[key] for key in sorted(self.plugins)]
        return Installed(plugins, self.problems, duplicates)

    # -- sys.path folders --------------------------------------------------------------
    def scan_path(self) -> None:
        seen: set[str] = set()
        for entry in sys.path:
            directory = os.path.abspath(entry or ".")
            if directory in seen:
                continue
            seen.add(directory)
            try:
                names = sorted(os.listdir(directory))
            except (OSError, TypeError, ValueError):
                continue
            for folder in names:
                if folder.endswith(".dist-info"):
                    self._folder(directory, folder, ".dist-info", "METADATA", "")
                elif folder.endswith(".egg-info"):
                    self._folder(directory, folder, ".egg-info", "PKG-INFO", "")
                elif folder.endswith(".egg"):
                    self._folder(directory, folder, ".egg", "PKG-INFO", "EGG-INFO")

    def _folder(self, directory: str, folder: str, suffix: str, metadata_file: str, inner: str) -> None:
        path = os.path.join(directory, folder)
        info = os.path.join(path, inner) if inner else path
        if not os.path.isdir(info):
            return  # a single-file .egg-info or a zipped egg: no entry points to read
        raw_name, _, rest = folder[: -len(suffix)].partition("-")
        version = rest.partition("-")[0] or None
        try:
            with open(os.path.join(info, "entry_points.txt"), encoding="utf-8") as file:
                text = file.read()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            name = normalize_distribution(raw_name) if raw_name else folder
            self.problems.append(
                InstallProblem(name, path, f"cannot read entry_points.txt: {type(exc).__name__}: {exc}")
            )
            return
        ours = self.header in text
        name = normalize_distribution(raw_name) if raw_name else ""
        if ours or name == "losses-core":
            metadata_path = os.path.join(info, metadata_file)
            if not os.path.isfile(metadata_path):
                self.problems.append(
                    InstallProblem(
                        name or folder, path, f"no {metadata_file} file: a broken or partial install"
                    )
                )
                return
            if not name or not version:
                fields = _read_fields(metadata_path)
                name = normalize_distribution(fields.get("name", "")) if fields.get("name") else name
                version = version or fields.get("version")
            if not name:
                self.problems.append(
                    InstallProblem(folder, path, f"its {metadata_file} names no distribution")
                )
                return
        if not name:
            return
        self.locations.setdefault(name, []).append(path)
        if len(self.locations[name]) > 1:
            return
        if ours:
            self.relevant.add(name)
            self._entry_points(name, version, text, path)

    def _entry_points(self, name: str, version: str | None, text: str, location: str) -> None:
        for ep_name, value in _section(text, self.header):
            value = value.partition("[")[0].strip()
            self.plugins.setdefault((name, ep_name), InstalledPlugin(name, version, ep_name, value, location))

    # -- importlib.metadata -------------------------------------------------------------
    def scan_importlib(self) -> None:
        from importlib.metadata import distributions

        try:
            found = list(distributions())
        except Exception as exc:
            self.problems.append(InstallProblem("?", "sys.path", f"cannot list distributions: {exc}"))
            return
        for dist in found:
            location = str(getattr(dist, "_path", "?"))
            try:
                text = dist.read_text("entry_points.txt") or ""
            except Exception as exc:
                self.problems.append(InstallProblem("?", location, f"cannot read entry_points.txt: {exc}"))
                continue
            ours = self.header in text
            try:
                raw_name = dist.metadata["Name"] if ours else getattr(dist, "name", None)
                version = dist.version if ours else None
            except Exception as exc:
                if ours:
                    self.problems.append(InstallProblem("?", location, f"unreadable metadata: {exc}"))
                continue
            if not raw_name:
                if ours:
                    self.problems.append(InstallProblem("?", location, "its metadata names no distribution"))
                continue
            name = normalize_distribution(raw_name)
            self.locations.setdefault(name, []).append(location)
            if len(self.locations[name]) > 1 or not ours:
                continue
            self.relevant.add(name)
            self._entry_points(name, version, text, location)


def _read_fields(path: str) -> dict[str, str]:
    """``Name`` and ``Version`` from a METADATA/PKG-INFO header."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for line in file:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key.lower() in ("name", "version"):
                    fields.setdefault(key.lower(), value.strip())
    except OSError:
        pass
    return fields


def _section(text: str, header: str) -> list[tuple[str, str]]:
    """``name = value`` lines of one ``[section]`` of an entry_points.txt."""
    items = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            inside = line == header
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            items.append((name.strip(), value.strip()))
    return items
