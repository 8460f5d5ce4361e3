"""Malformed installs, written by hand: each case is a directory that a test
puts on ``PYTHONPATH`` next to the healthy fixture plugins, so the folders
never disturb the other tests.

Each case says how ``losses doctor --json`` must report it: as a malformed
install (``malformed_installs``), a broken plugin (``broken_plugins``) or
not at all, under which distribution name, and with which words.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GROUP = "[losses.plugins]"
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
"""chmod does not keep root from reading a file."""


def _metadata(name: str | None, version: str = "1.0") -> str:
    lines = ["Metadata-Version: 2.1"]
    if name is not None:
        lines.append(f"Name: {name}")
    lines.append(f"Version: {version}")
    return "\n".join(lines) + "\n\n"


def _dist_info(
    root: Path,
    folder: str,
    *,
    entry_points: str | bytes | None,
    metadata: str | None,
    metadata_file: str = "METADATA",
) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    if metadata is not None:
        (path / metadata_file).write_text(metadata, encoding="utf-8")
    if isinstance(entry_points, bytes):
        (path / "entry_points.txt").write_bytes(entry_points)
    elif entry_points is not None:
        (path / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return path


def _plugin(root: Path, distribution: str, value: str) -> None:
    """A well-formed ``.dist-info`` whose entry point has ``value``."""
    module = distribution.replace("-", "_")
    _dist_info(
        root,
        f"{module}-1.0.dist-info",
        entry_points=f"{GROUP}\n{distribution} = {value}\n",
        metadata=_metadata(distribution),
    )


def _package(root: Path, name: str, manifest: str | None) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text('"""A package of a malformed-install case."""\n', encoding="utf-8")
    if manifest is not None:
        (package / "losses.json").write_text(manifest, encoding="utf-8")


def no_metadata(root: Path) -> None:
    _dist_info(
        root,
        "losses_fixture_nometa-1.0.dist-info",
        entry_points=f"{GROUP}\nlosses-fixture-nometa = losses_fixture_nometa:losses.json\n",
        metadata=None,
    )


def no_name(root: Path) -> None:
    # "-1.0.dist-info": a version but no name in the folder's name, and none in METADATA
    _dist_info(
        root,
        "-1.0.dist-info",
        entry_points=f"{GROUP}\nnameless = losses_fixture_nameless:losses.json\n",
        metadata=_metadata(None),
    )


def no_name_at_all(root: Path) -> None:
    _dist_info(
        root,
        ".dist-info",
        entry_points=f"{GROUP}\nnameless = losses_fixture_nameless:losses.json\n",
        metadata=_metadata(None),
    )


def egg_info_without_pkg_info(root: Path) -> None:
    _dist_info(
        root,
        "losses_fixture_egg-1.0.egg-info",
        entry_points=f"{GROUP}\nlosses-fixture-egg = losses_fixture_egg:losses.json\n",
        metadata=None,
    )


def egg_info_of_another_tool(root: Path) -> None:
    # Not ours: no losses.plugins group, no PKG-INFO; and one with nothing at all.
    _dist_info(
        root,
        "other_tool-2.0.egg-info",
        entry_points="[console_scripts]\nother-tool = other_tool:main\n",
        metadata=None,
    )
    _dist_info(root, "bare_tool.egg-info", entry_points=None, metadata=None)


def missing_module(root: Path) -> None:
    _plugin(root, "losses-fixture-ghost", "losses_fixture_ghost:losses.json")


def missing_module_dynamic(root: Path) -> None:
    _plugin(root, "losses-fixture-ghostdyn", "losses_fixture_ghostdyn.plugin")


def missing_manifest(root: Path) -> None:
    _plugin(root, "losses-fixture-nomanifest", "losses_fixture_nomanifest:losses.json")
    _package(root, "losses_fixture_nomanifest", None)


def invalid_manifest(root: Path) -> None:
    _plugin(root, "losses-fixture-badjson", "losses_fixture_badjson:losses.json")
    _package(root, "losses_fixture_badjson", '{"losses-manifest": 1, "losses": {')


def deeply_nested_manifest(root: Path) -> None:
    _plugin(root, "losses-fixture-deep", "losses_fixture_deep:losses.json")
    _package(root, "losses_fixture_deep", "[" * 100_000 + "]" * 100_000)


def manifest_names_a_missing_module(root: Path) -> None:
    _plugin(root, "losses-fixture-hollow", "losses_fixture_hollow:losses.json")
    manifest = (
        '{"losses-manifest": 1, "losses": {"hollow_loss": '
        '{"object": "losses_fixture_hollow.gone:hollow_loss", "summary": "Its module is missing."}}}'
    )
    _package(root, "losses_fixture_hollow", manifest)


def entry_points_is_a_directory(root: Path) -> None:
    path = _dist_info(
        root,
        "losses_fixture_epdir-1.0.dist-info",
        entry_points=None,
        metadata=_metadata("losses-fixture-epdir"),
    )
    (path / "entry_points.txt").mkdir()


def entry_points_not_utf8(root: Path) -> None:
    _dist_info(
        root,
        "losses_fixture_epbytes-1.0.dist-info",
        entry_points=b"[losses.plugins]\nlosses-fixture-epbytes = \xff\xfe:losses.json\n",
        metadata=_metadata("losses-fixture-epbytes"),
    )


def entry_points_unreadable(root: Path) -> None:
    path = _dist_info(
        root,
        "losses_fixture_locked-1.0.dist-info",
        entry_points=f"{GROUP}\nlosses-fixture-locked = losses_fixture_locked:losses.json\n",
        metadata=_metadata("losses-fixture-locked"),
    )
    os.chmod(path / "entry_points.txt", 0)


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], None]
    kind: str | None
    """``malformed_installs``, ``broken_plugins`` or ``None`` (nothing to report)."""
    distribution: str | None
    """The name it is reported under."""
    says: str = ""
    """Words the report's problem or error contains."""
    as_root: bool = True
    """Whether the case means anything when the tests run as root."""
    core_bug: str | None = None
    """Why the case fails with this losses-core (the test is an expected failure)."""


CASES = (
    Case("no_metadata", no_metadata, "malformed_installs", "losses-fixture-nometa", "no METADATA file"),
    Case("no_name", no_name, "malformed_installs", "-1.0.dist-info", "names no distribution"),
    Case("no_name_at_all", no_name_at_all, "malformed_installs", ".dist-info", "names no distribution"),
    Case(
        "egg_info_without_pkg_info",
        egg_info_without_pkg_info,
        "malformed_installs",
        "losses-fixture-egg",
        "no PKG-INFO file",
    ),
    Case("egg_info_of_another_tool", egg_info_of_another_tool, None, None),
    Case("missing_module", missing_module, "broken_plugins", "losses-fixture-ghost", "is not installed"),
    Case(
        "missing_module_dynamic",
        missing_module_dynamic,
        "broken_plugins",
        "losses-fixture-ghostdyn",
        "ModuleNotFoundError",
    ),
    Case(
        "missing_manifest",
        missing_manifest,
        "broken_plugins",
        "losses-fixture-nomanifest",
        "has no file 'losses.json'",
    ),
    Case("invalid_manifest", invalid_manifest, "broken_plugins", "losses-fixture-badjson", "not valid JSON"),
    Case(
        "deeply_nested_manifest",
        deeply_nested_manifest,
        "broken_plugins",
        "losses-fixture-deep",
        "losses.json",
        core_bug=(
            "parse_manifest catches ValueError from json.loads, not the RecursionError of a deeply "
            "nested document: it escapes the catalogue and every lookup and listing fails"
        ),
    ),
    # Catalogued from its valid manifest: reported only when the loss is looked up.
    Case("manifest_names_a_missing_module", manifest_names_a_missing_module, None, None),
    Case(
        "entry_points_is_a_directory",
        entry_points_is_a_directory,
        "malformed_installs",
        "losses-fixture-epdir",
        "IsADirectoryError",
    ),
    Case(
        "entry_points_not_utf8",
        entry_points_not_utf8,
        "malformed_installs",
        "losses-fixture-epbytes",
        "UnicodeDecodeError",
    ),
    Case(
        "entry_points_unreadable",
        entry_points_unreadable,
        "malformed_installs",
        "losses-fixture-locked",
        "PermissionError",
        as_root=False,
    ),
)


def write_cases(root: Path) -> dict[str, str]:
    """Write every case under ``root/<case>``; return each case's directory."""
    directories = {}
    for case in CASES:
        directory = root / case.name
        directory.mkdir(parents=True)
        case.write(directory)
        directories[case.name] = str(directory)
    return directories
