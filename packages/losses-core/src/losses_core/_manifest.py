"""Declarations: what a distribution's packaging metadata says about its losses.

A distribution declares its losses with entry points in the ``losses.plugins``
group, one per name, and one for a manifest of what entry points cannot
carry::

    [project.entry-points."losses.plugins"]
    foo_huber = "losses_foo.foo_huber:foo_huber"     # a loss: its name and object
    FooHuber = "losses_foo.foo_huber:foo_huber"      # an alias: another name, same object
    losses-foo = "losses_foo:losses.json"            # the manifest
    # losses-foo-hooks = "losses_foo.hooks"          # a plugin module (hooks, dynamic losses)

The names of one object are one loss; the manifest, a JSON file inside the
package, says which of them is the loss's name (the others are aliases) and
gives its one-line summary (and ``override`` for a loss that takes over a
name)::

    {"losses-manifest": 1, "losses": {"foo_huber": {"summary": "The Huber loss."}}}

An entry point naming a module (no ``:attribute``), or one named after the
distribution itself (the 0.2 form, whatever it names), is a plugin module,
imported at the first lookup: it may implement hooks and register losses
dynamically. ``losses manifest PACKAGE`` writes both from what the package's
code registers (see :mod:`losses_core._generate`). Nothing here imports
torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from losses_core._names import check_loss_name

MANIFEST_FILE = "losses.json"
"""The file name the scaffold and ``losses manifest --write`` use."""

FORMAT_KEY = "losses-manifest"
FORMAT_VERSION = 1
_LOSS_KEYS = frozenset({"summary", "override"})

LOSS, MANIFEST, MODULE = "loss", "manifest", "module"


class ManifestError(ValueError):
    """A declaration cannot be found, read or understood; the message says where and why."""


class Manifest:
    """What the manifest file says about each loss: its summary, and whether
    it takes over its name (``override``)."""

    __slots__ = ("overrides", "summaries")

    def __init__(self, summaries: dict[str, str], overrides: frozenset[str] = frozenset()) -> None:
        self.summaries = summaries
        self.overrides = overrides

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and (self.summaries, self.overrides) == (
            other.summaries,
            other.overrides,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Manifest({self.summaries!r}, overrides={set(self.overrides)!r})"

    def to_json(self) -> str:
        """The file's text: deterministic, two-space indented, newline-terminated."""
        losses: dict[str, Any] = {}
        for name in sorted(self.summaries):
            item: dict[str, Any] = {"summary": self.summaries[name]}
            if name in self.overrides:
                item["override"] = True
            losses[name] = item
        import json

        return json.dumps({FORMAT_KEY: FORMAT_VERSION, "losses": losses}, indent=2, ensure_ascii=False) + "\n"


# -- entry points ---------------------------------------------------------------------
def entry_kind(value: str) -> str:
    """What an entry point's value declares: a loss (``module:attr``), the
    manifest (``package:losses.json``) or a plugin module (``module``)."""
    attr = value.partition(":")[2].strip()
    if not attr:
        return MODULE
    return MANIFEST if attr.endswith(".json") else LOSS


def check_reference(value: object, where: str, *, attribute: bool = True) -> str:
    """``value``, stripped, if it is a ``module:attr`` reference (or a module,
    with ``attribute=False``), else raise :class:`ManifestError`."""
    if isinstance(value, str):
        module, sep, attr = value.strip().partition(":")
        if _dotted(module) and (_dotted(attr) if sep or attribute else True):
            return value.strip()
    form = "'package.module:attribute'" if attribute else "'package.module' or 'package.module:attribute'"
    raise ManifestError(f"{where}: expected an object reference {form}, got {value!r}")


def _dotted(text: str) -> bool:
    """Whether ``text`` is dotted identifiers (``a.b.c``), spaces around ignored."""
    return all(part.isidentifier() for part in text.strip().split("."))


def declared_losses(entries: Iterable[tuple[str, str]]) -> list[tuple[tuple[str, ...], str]]:
    """The losses that ``(name, value)`` loss entry points declare: one
    ``(names, object)`` per object (which name is the loss's name and which
    are aliases, the manifest says)."""
    by_object: dict[str, list[str]] = {}
    for name, value in entries:
        by_object.setdefault(value.strip(), []).append(name)
    return [(tuple(names), obj) for obj, names in by_object.items()]


# -- the manifest file ----------------------------------------------------------------------
def locate_manifest(reference: str, near: str | None = None) -> str:
    """The path of the file ``package.sub:losses.json`` names, found without
    importing the package: next to the distribution's metadata folder
    ``near`` first (an ordinary install), else where the import system would
    find the package (an editable install).

    :raises ManifestError: the package or the file is not there.
    """
    import os

    module, _, filename = reference.partition(":")
    module, filename = module.strip(), filename.strip()
    top, *rest = module.split(".")
    if near is not None:
        path = os.path.join(os.path.dirname(near), top, *rest, filename)
        if os.path.isfile(path):
            return path
    import importlib.util

    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        raise ManifestError(f"cannot locate package {top!r}: {exc}") from None
    if spec is None:
        raise ManifestError(f"package {top!r} is not installed (no module of that name on sys.path)")
    directories = list(spec.submodule_search_locations or [])
    if not directories:
        raise ManifestError(f"{top!r} is a module, not a package: it cannot hold {filename!r}")
    for directory in directories:
        path = os.path.join(directory, *rest, filename)
        if os.path.isfile(path):
            return path
    raise ManifestError(f"{module} has no file {filename!r} (looked in {', '.join(directories)})")


def read_manifest(reference: str, near: str | None = None) -> Manifest:
    """Locate, read and parse the manifest ``reference`` names.

    :raises ManifestError: it is missing, unreadable or invalid.
    """
    path = locate_manifest(reference, near)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from None
    return parse_manifest(text, path)


def parse_manifest(text: str, where: str) -> Manifest:
    """Parse a manifest's text; ``where`` names it in errors.

    :raises ManifestError: not JSON, or not a valid manifest.
    """
    import json

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{where} is not valid JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get(FORMAT_KEY)
    if version != FORMAT_VERSION:
        raise ManifestError(
            f"{where}: expected {FORMAT_KEY!r}: {FORMAT_VERSION} (the manifest format this losses-core "
            f"reads), got {version!r}"
        )
    unknown = sorted(set(data) - {FORMAT_KEY, "losses"})
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    raw_losses = data.get("losses", {})
    if not isinstance(raw_losses, dict):
        raise ManifestError(f"{where}: 'losses' must be an object mapping names to losses")
    summaries: dict[str, str] = {}
    overrides = set()
    for name, item in raw_losses.items():
        at = f"{where}: loss {name!r}"
        try:
            check_loss_name(name)
        except ValueError as exc:
            raise ManifestError(f"{at}: {exc}") from None
        if not isinstance(item, dict) or not isinstance(item.get("summary"), str):
            raise ManifestError(f"{at}: expected an object with a 'summary' string")
        extra = sorted(set(item) - _LOSS_KEYS)
        if extra:
            expected = ", ".join(sorted(_LOSS_KEYS))
            raise ManifestError(f"{at}: unknown key(s) {', '.join(map(repr, extra))}; expected {expected}")
        override = item.get("override", False)
        if not isinstance(override, bool):
            raise ManifestError(f"{at}: 'override' must be true or false")
        summaries[name] = item["summary"]
        if override:
            overrides.add(name)
    return Manifest(summaries, frozenset(overrides))
