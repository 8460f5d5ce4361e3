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

from losses_core._names import ENTRY_POINT_GROUP, normalize_distribution


class InstalledPlugin:
    """One entry point of the group, with its distribution: the normalised
    distribution name, its version, the entry point's name and object
    reference (extras removed), and the metadata folder it was read from."""

    __slots__ = ("distribution", "location", "name", "value", "version")

    def __init__(self, distribution: str, version: str | None, name: str, value: str, location: str) -> None:
        self.distribution = distribution
        self.version = version
        self.name = name
        self.value = value
        self.location = location

    def __repr__(self) -> str:
        return f"InstalledPlugin({self.distribution!r}, {self.entry_point!r})"

    @property
    def entry_point(self) -> str:
        return f"{self.name} = {self.value}"


class InstallProblem:
    """A malformed install found by the scan: the distribution's name (the
    folder's when it has none), where, and what is wrong."""

    __slots__ = ("distribution", "location", "problem")

    def __init__(self, distribution: str, location: str, problem: str) -> None:
        self.distribution = distribution
        self.location = location
        self.problem = problem

    def __repr__(self) -> str:
        return f"InstallProblem({self.describe()!r})"

    def describe(self) -> str:
        return f"{self.distribution} at {self.location}: {self.problem}"


class Installed:
    """What the scan found: the entry points, malformed installs, and the
    plugin distributions (and losses-core) found more than once, with every
    location, the one used first."""

    __slots__ = ("duplicates", "plugins", "problems")

    def __init__(
        self, plugins: list[InstalledPlugin], problems: list[InstallProblem], duplicates: dict[str, list[str]]
    ) -> None:
        self.plugins = plugins
        self.problems = problems
        self.duplicates = duplicates


def scan_installed(group: str = ENTRY_POINT_GROUP) -> Installed:
    """The group's entry points, one per (distribution, name), sorted by
    distribution and, within one, in the order its metadata lists them; the
    first of several installs of a distribution wins, as for imports."""
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
        # distributions sorted by name; a distribution's entry points in file order
        order = {key: i for i, key in enumerate(self.plugins)}
        plugins = [self.plugins[key] for key in sorted(self.plugins, key=lambda key: (key[0], order[key]))]
        return Installed(plugins, self.problems, duplicates)

    # -- sys.path folders --------------------------------------------------------------
    def scan_path(self) -> None:
        seen: set[str] = set()
        header = self.header.encode()
        for entry in sys.path:
            directory = os.path.abspath(entry or ".")
            if directory in seen:
                continue
            seen.add(directory)
            try:
                names = sorted(os.listdir(directory))
            except (OSError, TypeError, ValueError):
                continue
            prefix = directory + os.sep
            for folder in names:
                if folder.endswith(".dist-info"):
                    self._folder(prefix, folder, ".dist-info", "METADATA", "", header)
                elif folder.endswith(".egg-info"):
                    self._folder(prefix, folder, ".egg-info", "PKG-INFO", "", header)
                elif folder.endswith(".egg"):
                    self._folder(prefix, folder, ".egg", "PKG-INFO", "EGG-INFO" + os.sep, header)

    def _folder(
        self, prefix: str, folder: str, suffix: str, metadata_file: str, inner: str, header: bytes
    ) -> None:
        """One metadata folder; most distributions have no ``entry_points.txt``
        or not our group, and cost one failed ``open`` or one byte search."""
        path = prefix + folder
        info = path + os.sep + inner
        try:
            with open(info + "entry_points.txt", "rb") as file:
                data = file.read()
        except (FileNotFoundError, NotADirectoryError):
            data = b""  # no entry points, or a single-file .egg-info / zipped egg
        except OSError as exc:
            self._problem(folder, suffix, path, f"cannot read entry_points.txt: {type(exc).__name__}: {exc}")
            return
        ours = header in data
        raw_name, _, rest = folder[: -len(suffix)].partition("-")
        if not ours and not raw_name.lower().startswith("losses"):
            return  # only our plugins and losses-core itself matter (for duplicate installs)
        name = normalize_distribution(raw_name) if raw_name else ""
        if not ours and name != "losses-core":
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._problem(folder, suffix, path, f"cannot read entry_points.txt: UnicodeDecodeError: {exc}")
            return
        version = rest.partition("-")[0] or None
        if ours or data:
            metadata_path = info + metadata_file
            # a missing metadata file is found by LOADER.verify() (listing, doctor), not here
            if not name or not version:
                fields = _read_fields(metadata_path)
                name = normalize_distribution(fields["name"]) if fields.get("name") else name
                version = version or fields.get("version")
            if not name:
                self.problems.append(
                    InstallProblem(folder, path, f"its {metadata_file} names no distribution")
                )
                return
        self.locations.setdefault(name, []).append(path)
        if len(self.locations[name]) > 1:
            return
        if ours:
            self.relevant.add(name)
            self._entry_points(name, version, text, path)

    def _problem(self, folder: str, suffix: str, path: str, problem: str) -> None:
        raw_name = folder[: -len(suffix)].partition("-")[0]
        self.problems.append(
            InstallProblem(normalize_distribution(raw_name) if raw_name else folder, path, problem)
        )

    def _entry_points(self, name: str, version: str | None, text: str, location: str) -> None:
        for ep_name, value in entry_point_section(text, self.header):
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


def entry_point_section(text: str, header: str) -> list[tuple[str, str]]:
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
