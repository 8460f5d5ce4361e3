"""Manifests: the static declaration of a distribution's losses.

A plugin distribution's entry point in the ``losses.plugins`` group names a
JSON file inside its package (``losses-foo = "losses_foo:losses.json"``)::

    {
      "losses-manifest": 1,
      "losses": {
        "foo_huber": {
          "object": "losses_foo.foo_huber:foo_huber",
          "summary": "The Huber loss.",
          "aliases": ["FooHuber"],
          "override": false
        }
      },
      "hooks": {"object": "losses_foo", "implements": ["losses_post_loss"]}
    }

``aliases``, ``override`` and ``hooks`` are optional. The file is found and
read without importing the package; :func:`generate_manifest` writes it from
what the package's code registers (``losses manifest PACKAGE --write``) and
:func:`compare_manifests` reports how a manifest and the code differ.
Nothing here imports torch until a manifest is generated.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from losses_core._names import check_loss_name

MANIFEST_FILE = "losses.json"
"""The file name the scaffold and ``losses manifest --write`` use."""

FORMAT_KEY = "losses-manifest"
FORMAT_VERSION = 1
HOOK_NAMES = ("losses_register", "losses_pre_loss", "losses_post_loss")
CALL_HOOKS = frozenset({"losses_pre_loss", "losses_post_loss"})
"""Hooks that must see every call: their plugin is imported before the first."""

_REFERENCE = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)(:(?P<attr>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*))?$"
)
_LOSS_KEYS = frozenset({"object", "summary", "aliases", "override"})


class ManifestError(ValueError):
    """A manifest cannot be found, read or understood; the message says where and why."""


@dataclass(frozen=True)
class ManifestLoss:
    """One loss a manifest declares."""

    name: str
    object: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    override: bool = False


@dataclass(frozen=True)
class Manifest:
    """A distribution's declared losses and hooks."""

    losses: tuple[ManifestLoss, ...] = ()
    hooks_object: str | None = None
    hooks: tuple[str, ...] = field(default=())

    @property
    def packages(self) -> frozenset[str]:
        """The top-level packages of every object the manifest names."""
        objects = [loss.object for loss in self.losses]
        if self.hooks_object:
            objects.append(self.hooks_object)
        return frozenset(o.partition(":")[0].partition(".")[0] for o in objects)

    def to_data(self) -> dict[str, Any]:
        """The JSON document, defaults left out."""
        losses: dict[str, Any] = {}
        for loss in sorted(self.losses, key=lambda item: item.name):
            item: dict[str, Any] = {"object": loss.object, "summary": loss.summary}
            if loss.aliases:
                item["aliases"] = list(loss.aliases)
            if loss.override:
                item["override"] = True
            losses[loss.name] = item
        data: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION, "losses": losses}
        if self.hooks_object:
            data["hooks"] = {"object": self.hooks_object, "implements": sorted(self.hooks)}
        return data

    def to_json(self) -> str:
        """The file's text: deterministic, two-space indented, newline-terminated."""
        return json.dumps(self.to_data(), indent=2, ensure_ascii=False) + "\n"


# -- references ---------------------------------------------------------------------
def is_manifest_reference(value: str) -> bool:
    """Whether an entry point's value names a manifest (``package:losses.json``)."""
    attr = value.partition(":")[2].strip()
    return attr.endswith(".json")


def check_reference(value: object, where: str, *, attribute: bool = True) -> str:
    """``value`` if it is a ``module:attr`` reference (or a module, with
    ``attribute=False``), else raise :class:`ManifestError`."""
    match = _REFERENCE.match(value) if isinstance(value, str) else None
    if match is None or (attribute and match.group("attr") is None):
        form = "'package.module:attribute'" if attribute else "'package.module' or 'package.module:attribute'"
        raise ManifestError(f"{where}: expected an object reference {form}, got {value!r}")
    return str(value)


def locate_manifest(reference: str) -> str:
    """The path of the manifest ``package.sub:losses.json`` names, found the
    way the import system would find the package, without importing it.

    :raises ManifestError: the package or the file is not there.
    """
    import importlib.util

    module, _, filename = reference.partition(":")
    module, filename = module.strip(), filename.strip()
    top, *rest = module.split(".")
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


# -- reading ------------------------------------------------------------------------
def read_manifest(reference: str) -> Manifest:
    """Locate, read and parse the manifest ``reference`` names.

    :raises ManifestError: it is missing, unreadable or invalid.
    """
    path = locate_manifest(reference)
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
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get(FORMAT_KEY)
    if version != FORMAT_VERSION:
        raise ManifestError(
            f"{where}: expected {FORMAT_KEY!r}: {FORMAT_VERSION} (the manifest format this losses-core "
            f"reads), got {version!r}"
        )
    unknown = sorted(set(data) - {FORMAT_KEY, "losses", "hooks"})
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    raw_losses = data.get("losses", {})
    if not isinstance(raw_losses, dict):
        raise ManifestError(f"{where}: 'losses' must be an object mapping names to losses")
    losses = []
    seen: dict[str, str] = {}
    for name, item in raw_losses.items():
        losses.append(_parse_loss(name, item, f"{where}: loss {name!r}"))
        for key in (*losses[-1].aliases, name):
            if key in seen:
                raise ManifestError(f"{where}: {key!r} is declared twice (by {seen[key]!r} and {name!r})")
            seen[key] = name
    hooks_object, hooks = _parse_hooks(data.get("hooks"), f"{where}: 'hooks'")
    return Manifest(tuple(losses), hooks_object, hooks)


def _parse_loss(name: str, item: object, where: str) -> ManifestLoss:
    try:
        check_loss_name(name)
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected an object with 'object' and 'summary'")
    unknown = sorted(set(item) - _LOSS_KEYS)
    if unknown:
        expected = ", ".join(sorted(_LOSS_KEYS))
        raise ManifestError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected {expected}")
    obj = check_reference(item.get("object"), f"{where}: 'object'")
    summary = item.get("summary", "")
    if not isinstance(summary, str):
        raise ManifestError(f"{where}: 'summary' must be a string")
    aliases = item.get("aliases", [])
    if not isinstance(aliases, list):
        raise ManifestError(f"{where}: 'aliases' must be a list of names")
    try:
        alias_tuple = tuple(check_loss_name(a) for a in aliases)
    except ValueError as exc:
        raise ManifestError(f"{where}: alias: {exc}") from None
    override = item.get("override", False)
    if not isinstance(override, bool):
        raise ManifestError(f"{where}: 'override' must be true or false")
    return ManifestLoss(name, obj, summary, alias_tuple, override)


def _parse_hooks(item: object, where: str) -> tuple[str | None, tuple[str, ...]]:
    if item is None:
        return None, ()
    if not isinstance(item, dict) or set(item) != {"object", "implements"}:
        raise ManifestError(f"{where}: expected an object with exactly 'object' and 'implements'")
    obj = check_reference(item["object"], f"{where}: 'object'", attribute=False)
    implements = item["implements"]
    if not isinstance(implements, list) or not implements:
        raise ManifestError(f"{where}: 'implements' must be a non-empty list of hook names")
    unknown = [h for h in implements if h not in HOOK_NAMES]
    if unknown:
        raise ManifestError(
            f"{where}: unknown hook(s) {', '.join(map(repr, unknown))}; the hooks are {', '.join(HOOK_NAMES)}"
        )
    return obj, tuple(sorted(set(implements)))


# -- generating and comparing ---------------------------------------------------------
def generate_manifest(package: str, hooks_object: str | None = None) -> Manifest:
    """The manifest of what ``package``'s code registers.

    Imports the package and every module under it, then declares each
    registered loss whose function is a module-level attribute there (at its
    definition site when it has one), and the hooks that ``hooks_object``
    (default: the package's top-level module) implements.

    :raises ManifestError: a module fails to import, or a loss registered by
        the package is not reachable as a module attribute.
    """
    import importlib
    import pkgutil

    from losses_core._hooks import hook_implementations
    from losses_core._registry import REGISTRY

    modules = {}
    try:
        root = importlib.import_module(package)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ManifestError(f"cannot import {package}: {type(exc).__name__}: {exc}") from None
    modules[package] = root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=f"{package}."):
        if info.name.rpartition(".")[2] == "__main__":
            continue
        try:
            modules[info.name] = importlib.import_module(info.name)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ManifestError(f"cannot import {info.name}: {type(exc).__name__}: {exc}") from None
    by_function = {id(e.function): e for e in REGISTRY.registered()}
    located: dict[int, list[tuple[int, str]]] = {}
    for module_name, module in sorted(modules.items()):
        for attr, value in sorted(vars(module).items()):
            entry = by_function.get(id(value))
            if entry is None:
                continue
            target = value if hasattr(value, "__module__") else type(value)
            at_definition = getattr(target, "__module__", None) == module_name and attr == getattr(
                value, "__name__", None
            )
            located.setdefault(id(value), []).append((0 if at_definition else 1, f"{module_name}:{attr}"))
    losses = []
    for entry in REGISTRY.registered():
        target = entry.function if hasattr(entry.function, "__module__") else type(entry.function)
        defined_in = getattr(target, "__module__", None) or ""
        if defined_in != package and not defined_in.startswith(f"{package}."):
            continue  # another package's loss, perhaps imported here
        places = located.get(id(entry.function))
        if places is None:
            raise ManifestError(
                f"loss {entry.name!r} is registered by {package} but is not a module-level "
                f"attribute of any of its modules; assign it to a name so it can be imported"
            )
        obj = min(places, key=lambda place: (place[0], len(place[1]), place[1]))[1]
        losses.append(ManifestLoss(entry.name, obj, entry.summary, entry.aliases, entry.override))
    hooks_object = hooks_object or package
    try:
        holder = _load_reference(hooks_object)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ManifestError(f"cannot import {hooks_object}: {type(exc).__name__}: {exc}") from None
    hooks = tuple(sorted(h for h in hook_implementations(holder) if h in HOOK_NAMES))
    return Manifest(tuple(sorted(losses, key=lambda loss: loss.name)), hooks_object if hooks else None, hooks)


def _load_reference(reference: str) -> Any:
    import importlib

    module, _, attr = reference.partition(":")
    value: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        value = getattr(value, part)
    return value


def compare_manifests(declared: Manifest, registered: Manifest) -> list[str]:
    """How a declared manifest differs from the one the code gives; empty
    when they agree."""
    problems = []
    declared_losses = {loss.name: loss for loss in declared.losses}
    registered_losses = {loss.name: loss for loss in registered.losses}
    for name in sorted(declared_losses.keys() - registered_losses.keys()):
        problems.append(
            f"{name!r} is declared ({declared_losses[name].object}) but the code registers no such loss"
        )
    for name in sorted(registered_losses.keys() - declared_losses.keys()):
        problems.append(f"{name!r} is registered by {registered_losses[name].object} but not declared")
    for name in sorted(declared_losses.keys() & registered_losses.keys()):
        d, r = declared_losses[name], registered_losses[name]
        for what in ("object", "aliases", "summary", "override"):
            if getattr(d, what) != getattr(r, what):
                declared_value, code_value = getattr(d, what), getattr(r, what)
                problems.append(
                    f"{name!r}: {what} is declared as {declared_value!r} but the code gives {code_value!r}"
                )
    if (declared.hooks_object, declared.hooks) != (registered.hooks_object, registered.hooks):
        problems.append(
            f"hooks are declared as {declared.hooks_object!r} implementing {list(declared.hooks)} but the "
            f"code gives {registered.hooks_object!r} implementing {list(registered.hooks)}"
        )
    return problems
