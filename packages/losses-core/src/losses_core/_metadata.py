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

import contextlib
import os
import sys
from typing import Any

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


def scan_installed(group: str = ENTRY_POINT_GROUP, *, use_cache: bool = True) -> Installed:
    """The group's entry points, one per (distribution, name), sorted by
    distribution and, within one, in the order its metadata lists them; the
    first of several installs of a distribution wins, as for imports.

    With ``use_cache``, a directory on ``sys.path`` whose modification time
    is unchanged since it was last scanned is read from the cache (see
    :class:`ScanCache`), after checking that none of its plugins'
    ``entry_points.txt`` changed; without, every directory is scanned and
    the cache rewritten."""
    scanner = _Scanner(group)
    if _only_standard_finders():
        cache = ScanCache.load(group) if use_cache else ScanCache(ScanCache.location(), group, {})
        scanner.scan_path(cache if use_cache else None, cache)
        cache.save()
    else:
        scanner.scan_importlib()
    return scanner.result()


def _only_standard_finders() -> bool:
    from importlib.machinery import PathFinder

    return all(
        finder is PathFinder or not hasattr(finder, "find_distributions") for finder in sys.meta_path
    ) and all(not hasattr(hook, "find_distributions") for hook in sys.path_hooks)


Item = list[Any]
"""What a directory holds for us, one item per relevant metadata folder:
``["plugin", name, version, path, [[entry, value], ...], [mtime_ns, size]]``,
``["core", name, version, path]`` (losses-core itself, for duplicate
installs) or ``["problem", name, path, message]``."""


class ScanCache:
    """The scan of each ``sys.path`` directory, kept between processes.

    A directory's modification time changes whenever an entry is added to or
    removed from it (an install, an uninstall, a reinstall), which is how the
    import system's own ``FileFinder`` invalidates its directory listings; a
    plugin's ``entry_points.txt`` edited in place is caught by its own
    modification time and size, checked on every use. The cache lives in
    ``$XDG_CACHE_HOME/losses`` (``~/.cache/losses``); it is only an
    optimisation: an unreadable, corrupt or unwritable cache is ignored.
    """

    FORMAT = 1

    def __init__(self, path: str, group: str, directories: dict[str, Any]) -> None:
        self.path = path
        self.group = group
        self.directories = directories
        self.changed = False

    @classmethod
    def location(cls) -> str:
        """One file per Python environment (``sys.prefix``)."""
        import zlib

        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        environment = f"{zlib.crc32(sys.prefix.encode()):08x}"
        return os.path.join(base, "losses", f"entry-points-{cls.FORMAT}-{environment}.json")

    @classmethod
    def load(cls, group: str) -> ScanCache:
        import json

        path = cls.location()
        directories: dict[str, Any] = {}
        try:
            with open(path, "rb") as file:
                data = json.loads(file.read())
            if data.get("format") == cls.FORMAT and data.get("group") == group:
                directories = dict(data["directories"])
        except Exception:
            directories = {}
        return cls(path, group, directories)

    def get(self, directory: str, mtime: int) -> list[Item] | None:
        """The directory's items, if it and its plugins are unchanged."""
        cached = self.directories.get(directory)
        if not isinstance(cached, dict) or cached.get("mtime") != mtime:
            return None
        items: list[Item] = cached["items"]
        for item in items:
            if item[0] == "plugin":
                try:
                    stat = os.stat(item[3] + os.sep + "entry_points.txt")
                except OSError:
                    return None
                if [stat.st_mtime_ns, stat.st_size] != item[5]:
                    return None
        return items

    def put(self, directory: str, mtime: int, items: list[Item]) -> None:
        """Record a directory's scan; the file is rewritten only when a
        directory holding (or having held) plugins changed: rescanning one
        without any costs less than rewriting the cache."""
        before = self.directories.get(directory)
        self.directories[directory] = {"mtime": mtime, "items": items}
        if items or (isinstance(before, dict) and before.get("items")):
            self.changed = True

    def save(self) -> None:
        """Write the cache if it changed (atomically; never raises)."""
        if not self.changed:
            return
        import json

        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            on_path = {os.path.abspath(entry or ".") for entry in sys.path}
            directories = {d: v for d, v in self.directories.items() if d in on_path}
            payload = {"format": self.FORMAT, "group": self.group, "directories": directories}
            with open(temporary, "w", encoding="utf-8") as file:
                json.dump(payload, file)
            os.replace(temporary, self.path)
        except Exception:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


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
    def scan_path(self, cache: ScanCache | None = None, update: ScanCache | None = None) -> None:
        """Scan each ``sys.path`` directory, or read it from ``cache``; record
        the scans in ``update`` (default: ``cache``)."""
        update = update or cache
        seen: set[str] = set()
        header = self.header.encode()
        for entry in sys.path:
            directory = os.path.abspath(entry or ".")
            if directory in seen:
                continue
            seen.add(directory)
            try:
                mtime = os.stat(directory).st_mtime_ns
            except (OSError, TypeError, ValueError):
                continue
            items = cache.get(directory, mtime) if cache is not None else None
            if items is None:
                items = self._scan_directory(directory, header)
                if items is None:
                    continue
                if update is not None:
                    update.put(directory, mtime, items)
            for item in items:
                self._merge(item)

    def _scan_directory(self, directory: str, header: bytes) -> list[Item] | None:
        try:
            names = sorted(os.listdir(directory))
        except (OSError, TypeError, ValueError):
            return None
        prefix = directory + os.sep
        items: list[Item] = []
        for folder in names:
            if folder.endswith(".dist-info"):
                item = self._folder(prefix, folder, ".dist-info", "METADATA", "", header)
            elif folder.endswith(".egg-info"):
                item = self._folder(prefix, folder, ".egg-info", "PKG-INFO", "", header)
            elif folder.endswith(".egg"):
                item = self._folder(prefix, folder, ".egg", "PKG-INFO", "EGG-INFO" + os.sep, header)
            else:
                continue
            if item is not None:
                items.append(item)
        return items

    def _folder(
        self, prefix: str, folder: str, suffix: str, metadata_file: str, inner: str, header: bytes
    ) -> Item | None:
        """One metadata folder; most distributions have no ``entry_points.txt``
        or not our group, and cost one failed ``open`` or one byte search."""
        path = prefix + folder
        info = path + os.sep + inner
        try:
            with open(info + "entry_points.txt", "rb") as file:
                data = file.read()
                stat = os.fstat(file.fileno())
        except (FileNotFoundError, NotADirectoryError):
            data = b""  # no entry points, or a single-file .egg-info / zipped egg
        except OSError as exc:
            return self._problem(
                folder, suffix, path, f"cannot read entry_points.txt: {type(exc).__name__}: {exc}"
            )
        ours = header in data
        raw_name, _, rest = folder[: -len(suffix)].partition("-")
        if not ours and not raw_name.lower().startswith("losses"):
            return None  # only our plugins and losses-core itself matter (for duplicate installs)
        name = normalize_distribution(raw_name) if raw_name else ""
        if not ours and name != "losses-core":
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self._problem(
                folder, suffix, path, f"cannot read entry_points.txt: UnicodeDecodeError: {exc}"
            )
        version = rest.partition("-")[0] or None
        if ours or data:
            # a missing metadata file is found by LOADER.verify() (listing, doctor), not here
            if not name or not version:
                fields = _read_fields(info + metadata_file)
                name = normalize_distribution(fields["name"]) if fields.get("name") else name
                version = version or fields.get("version")
            if not name:
                return ["problem", folder, path, f"its {metadata_file} names no distribution"]
        if not ours:
            return ["core", name, version, path]
        entries = [
            [ep_name, value.partition("[")[0].strip()]
            for ep_name, value in entry_point_section(text, self.header)
        ]
        return ["plugin", name, version, path, entries, [stat.st_mtime_ns, stat.st_size]]

    def _problem(self, folder: str, suffix: str, path: str, problem: str) -> Item:
        raw_name = folder[: -len(suffix)].partition("-")[0]
        return ["problem", normalize_distribution(raw_name) if raw_name else folder, path, problem]

    def _merge(self, item: Item) -> None:
        """Add one folder's item, the first install of a distribution winning."""
        if item[0] == "problem":
            self.problems.append(InstallProblem(item[1], item[2], item[3]))
            return
        name, version, path = item[1], item[2], item[3]
        self.locations.setdefault(name, []).append(path)
        if len(self.locations[name]) > 1 or item[0] != "plugin":
            return
        self.relevant.add(name)
        for ep_name, value in item[4]:
            self.plugins.setdefault((name, ep_name), InstalledPlugin(name, version, ep_name, value, path))

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
            for ep_name, value in entry_point_section(text, self.header):
                value = value.partition("[")[0].strip()
                self.plugins.setdefault(
                    (name, ep_name), InstalledPlugin(name, version, ep_name, value, location)
                )


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
