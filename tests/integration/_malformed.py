"""Installs written by hand: malformed ones, and valid ones that no build
tool writes. Each case is a directory that a test puts on ``PYTHONPATH``
next to the healthy fixture plugins, so the folders never disturb the other
tests.

Each case says how ``losses doctor --json`` must report it: as a malformed
install (``malformed_installs``), a broken plugin (``broken_plugins``) or
not at all, under which distribution name, and with which words. Some cases
declare losses that the ``malformed`` probe looks up (``LOOKUPS``: those
that must work, ``FAILING_LOOKUPS``: those that must raise naming their
distribution).
"""

from __future__ import annotations

import json
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


def _plugin(root: Path, distribution: str, *entries: str, version: str = "1.0") -> None:
    """A well-formed ``.dist-info`` with the entry points ``entries``
    (``name = value`` lines; ``value`` alone is the distribution's own entry
    point, a manifest or a plugin module)."""
    module = distribution.replace("-", "_")
    lines = [entry if " = " in entry else f"{distribution} = {entry}" for entry in entries]
    _dist_info(
        root,
        f"{module}-{version}.dist-info",
        entry_points=GROUP + "\n" + "\n".join(lines) + "\n",
        metadata=_metadata(distribution, version),
    )


def _manifest(**summaries: str) -> str:
    """A valid manifest giving these losses' summaries."""
    losses = {name: {"summary": summary} for name, summary in summaries.items()}
    return json.dumps({"losses-manifest": 1, "losses": losses}, indent=2) + "\n"


def _package(root: Path, name: str, manifest: str | None, modules: dict[str, str] | None = None) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text('"""A package of a malformed-install case."""\n', encoding="utf-8")
    if manifest is not None:
        (package / "losses.json").write_text(manifest, encoding="utf-8")
    for module, source in (modules or {}).items():
        (package / f"{module}.py").write_text(source, encoding="utf-8")


def _constant_loss(name: str, value: float) -> str:
    """The source of a module registering ``name``, a constant connected to the graph."""
    return (
        "from losses_core import register_loss\n\n\n"
        f"@register_loss({name!r})\n"
        f"def {name}(model_output, targets):\n"
        f'    """A constant {value:g} connected to the graph."""\n'
        f'    return model_output["predictions"].sum() * 0.0 + {value!r}\n'
    )


def no_metadata(root: Path) -> None:
    # (its package and manifest are there: only the metadata folder is wrong)
    _dist_info(
        root,
        "losses_fixture_nometa-1.0.dist-info",
        entry_points=f"{GROUP}\nlosses-fixture-nometa = losses_fixture_nometa:losses.json\n",
        metadata=None,
    )
    _package(root, "losses_fixture_nometa", _manifest())


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
    _package(root, "losses_fixture_egg", _manifest())


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
    # Declared, but its package is not there: the manifest cannot be found.
    _plugin(
        root,
        "losses-fixture-ghost",
        "ghost_loss = losses_fixture_ghost.ghost:ghost_loss",
        "losses_fixture_ghost:losses.json",
    )


def missing_module_dynamic(root: Path) -> None:
    _plugin(root, "losses-fixture-ghostdyn", "losses_fixture_ghostdyn.plugin")


def missing_manifest(root: Path) -> None:
    # Its loss works; only the summary is missing.
    _plugin(
        root,
        "losses-fixture-nomanifest",
        "nomanifest_loss = losses_fixture_nomanifest.loss:nomanifest_loss",
        "losses_fixture_nomanifest:losses.json",
    )
    _package(root, "losses_fixture_nomanifest", None, {"loss": _constant_loss("nomanifest_loss", 8.0)})


def invalid_manifest(root: Path) -> None:
    _plugin(root, "losses-fixture-badjson", "losses_fixture_badjson:losses.json")
    _package(root, "losses_fixture_badjson", '{"losses-manifest": 1, "losses": {')


def deeply_nested_manifest(root: Path) -> None:
    _plugin(root, "losses-fixture-deep", "losses_fixture_deep:losses.json")
    _package(root, "losses_fixture_deep", "[" * 100_000 + "]" * 100_000)


def manifest_of_the_first_design(root: Path) -> None:
    # The first 0.3 design's manifest (objects and aliases in the manifest):
    # invalid now; the loss its entry point declares still works.
    _plugin(
        root,
        "losses-fixture-olddesign",
        "olddesign_loss = losses_fixture_olddesign.loss:olddesign_loss",
        "losses_fixture_olddesign:losses.json",
    )
    manifest = {
        "losses-manifest": 1,
        "losses": {
            "olddesign_loss": {
                "object": "losses_fixture_olddesign.loss:olddesign_loss",
                "summary": "A constant 9 connected to the graph.",
                "aliases": ["olddesign-alias"],
            }
        },
    }
    _package(
        root,
        "losses_fixture_olddesign",
        json.dumps(manifest),
        {"loss": _constant_loss("olddesign_loss", 9.0)},
    )


def entry_point_names_a_missing_object(root: Path) -> None:
    # Valid metadata and manifest; two loss entry points name objects that
    # are not there (a missing module; a missing attribute of a module that
    # registers another loss), found out only when they are looked up.
    _plugin(
        root,
        "losses-fixture-hollow",
        "hollow_fine = losses_fixture_hollow.fine:hollow_fine",
        "hollow_loss = losses_fixture_hollow.gone:hollow_loss",
        "losses_fixture_hollow:losses.json",
    )
    manifest = _manifest(
        hollow_fine="A constant 10 connected to the graph.", hollow_loss="Its module is missing."
    )
    _package(root, "losses_fixture_hollow", manifest, {"fine": _constant_loss("hollow_fine", 10.0)})


def entry_point_names_a_missing_attribute(root: Path) -> None:
    # A loss entry point naming an attribute its (existing) module lacks; the
    # same module registers a healthy loss, looked up after the failed one.
    _plugin(
        root,
        "losses-fixture-noattr",
        "noattr_fine = losses_fixture_noattr.losses:noattr_fine",
        "noattr_loss = losses_fixture_noattr.losses:renamed_away",
        "losses_fixture_noattr:losses.json",
    )
    manifest = _manifest(
        noattr_fine="A constant 12 connected to the graph.", noattr_loss="Renamed in the code."
    )
    _package(root, "losses_fixture_noattr", manifest, {"losses": _constant_loss("noattr_fine", 12.0)})


def entry_point_value_is_not_a_reference(root: Path) -> None:
    _plugin(
        root,
        "losses-fixture-badref",
        "badref_loss = losses-fixture-badref.loss:badref_loss",
        "losses_fixture_badref:losses.json",
    )
    _package(root, "losses_fixture_badref", _manifest(badref_loss="Never catalogued."))


def entry_point_name_is_not_a_loss_name(root: Path) -> None:
    _plugin(
        root,
        "losses-fixture-badname",
        "bad@name = losses_fixture_badname.loss:bad_name",
        "losses_fixture_badname:losses.json",
    )
    _package(root, "losses_fixture_badname", _manifest())


def aliases_before_the_name(root: Path) -> None:
    # Valid, though no build tool writes it: the alias's entry point comes
    # first. The manifest says which name is the loss's name.
    _plugin(
        root,
        "losses-fixture-reordered",
        "Reordered = losses_fixture_reordered.loss:reordered_loss",
        "reordered_loss = losses_fixture_reordered.loss:reordered_loss",
        "losses_fixture_reordered:losses.json",
    )
    source = _constant_loss("reordered_loss", 13.0).replace(
        "@register_loss('reordered_loss')", "@register_loss('reordered_loss', aliases=('Reordered',))"
    )
    manifest = _manifest(reordered_loss="A constant 13 connected to the graph.")
    _package(root, "losses_fixture_reordered", manifest, {"loss": source})


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
    """The name it is reported under (or, with nothing to report, its name)."""
    says: str = ""
    """Words the report's problem or error contains."""
    as_root: bool = True
    """Whether the case means anything when the tests run as root."""
    core_bug: str | None = None
    """Why its report is wrong with this losses-core (the report's test is an expected failure)."""
    lookups: tuple[tuple[str, float], ...] = ()
    """Losses it declares that work: ``(name, value)``, value of the loss at the probe's inputs."""
    failing: tuple[tuple[str, str], ...] = ()
    """Losses it declares whose lookup raises ``UnknownLossError`` naming
    the distribution: ``(name, words the message contains)``; looked up
    before ``lookups`` in the case's own process."""
    lookup_bug: str | None = None
    """Why its lookups go wrong with this losses-core (their test is an expected failure)."""
    listed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``(name, aliases)`` of losses it declares, as a listing shows them before any import."""


CASES = (
    Case(
        "no_metadata",
        no_metadata,
        "malformed_installs",
        "losses-fixture-nometa",
        "no METADATA file",
    ),
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
    Case(
        "missing_module",
        missing_module,
        "broken_plugins",
        "losses-fixture-ghost",
        "is not installed",
        failing=(("ghost_loss", "ModuleNotFoundError"),),
    ),
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
        lookups=(("nomanifest_loss", 8.0),),
    ),
    Case("invalid_manifest", invalid_manifest, "broken_plugins", "losses-fixture-badjson", "not valid JSON"),
    Case(
        "deeply_nested_manifest",
        deeply_nested_manifest,
        "broken_plugins",
        "losses-fixture-deep",
        "RecursionError",
    ),
    Case(
        "manifest_of_the_first_design",
        manifest_of_the_first_design,
        "broken_plugins",
        "losses-fixture-olddesign",
        "unknown key(s) 'aliases', 'object'",
        lookups=(("olddesign_loss", 9.0),),
    ),
    # Catalogued from valid entry points: reported only when the loss is looked up.
    Case(
        "entry_point_names_a_missing_object",
        entry_point_names_a_missing_object,
        None,
        "losses-fixture-hollow",
        lookups=(("hollow_fine", 10.0),),
        failing=(("hollow_loss", "ModuleNotFoundError"),),
    ),
    Case(
        "entry_point_names_a_missing_attribute",
        entry_point_names_a_missing_attribute,
        None,
        "losses-fixture-noattr",
        lookups=(("noattr_fine", 12.0),),
        failing=(("noattr_loss", "AttributeError"),),
    ),
    Case(
        "entry_point_value_is_not_a_reference",
        entry_point_value_is_not_a_reference,
        "broken_plugins",
        "losses-fixture-badref",
        "expected an object reference",
    ),
    Case(
        "entry_point_name_is_not_a_loss_name",
        entry_point_name_is_not_a_loss_name,
        "broken_plugins",
        "losses-fixture-badname",
        "cannot contain '@'",
    ),
    Case(
        "aliases_before_the_name",
        aliases_before_the_name,
        None,
        "losses-fixture-reordered",
        lookups=(("Reordered", 13.0), ("reordered_loss", 13.0)),
        listed=(("reordered_loss", ("Reordered",)),),
    ),
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
