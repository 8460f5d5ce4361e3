"""What a package's code registers, as declarations (entry points and
manifest), and how that differs from what a distribution declares: for
``losses manifest``, ``losses doctor --import`` and
:func:`losses_core.testing.check_manifest`. Imports the package's code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from losses_core._manifest import MANIFEST_FILE, ManifestError


class ManifestLoss(NamedTuple):
    """One loss as declared: entry points give name, object and aliases;
    the manifest gives summary and override."""

    name: str
    object: str
    summary: str = ""
    aliases: tuple[str, ...] = ()
    override: bool = False


def entry_point_lines(losses: Iterable[ManifestLoss], manifest_name: str, package: str) -> list[str]:
    """The ``name = "object"`` lines of a distribution's entry-point table."""
    lines = []
    for loss in sorted(losses, key=lambda item: item.name):
        for key in (loss.name, *loss.aliases):
            lines.append(f'{_toml_key(key)} = "{loss.object}"')
    lines.append(f'{_toml_key(manifest_name)} = "{package}:{MANIFEST_FILE}"')
    return lines


def _toml_key(key: str) -> str:
    return key if all(c.isalnum() or c in "-_" for c in key) else json.dumps(key)


# -- generating and comparing ---------------------------------------------------------
class Declarations(NamedTuple):
    """A distribution's declared losses (entry points and manifest) and its
    plugin modules."""

    losses: tuple[ManifestLoss, ...]
    modules: tuple[str, ...] = ()


def generate_declarations(package: str) -> Declarations:
    """What ``package``'s code registers, as declarations.

    Imports the package and every module under it; declares each registered
    loss defined in the package whose function is a module-level attribute
    there (at its definition site when it has one). The package is a plugin
    module too when its top-level module implements hooks.

    :raises ManifestError: a module fails to import, or a loss registered by
        the package is not reachable as a module attribute.
    """
    import importlib
    import pkgutil

    from losses_core._hooks import hook_implementations
    from losses_core._registry import REGISTRY

    modules = {package: _import(package)}
    for info in pkgutil.walk_packages(getattr(modules[package], "__path__", []), prefix=f"{package}."):
        if info.name.rpartition(".")[2] != "__main__":
            modules[info.name] = _import(info.name)
    by_function = {id(e.function): e for e in REGISTRY.registered()}
    located: dict[int, list[tuple[int, str]]] = {}
    for module_name, module in sorted(modules.items()):
        for attr, value in sorted(vars(module).items()):
            if id(value) not in by_function:
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
    hooks = hook_implementations(importlib.import_module(package))
    return Declarations(tuple(sorted(losses, key=lambda loss: loss.name)), (package,) if hooks else ())


def _import(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ManifestError(f"cannot import {name}: {type(exc).__name__}: {exc}") from None


def compare_declarations(declared: Declarations, registered: Declarations) -> list[str]:
    """How what is declared differs from what the code registers; empty when they agree."""
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
            declared_value, code_value = getattr(d, what), getattr(r, what)
            if what == "aliases":
                declared_value, code_value = tuple(sorted(declared_value)), tuple(sorted(code_value))
            if declared_value != code_value:
                problems.append(
                    f"{name!r}: {what} is declared as {declared_value!r} but the code gives {code_value!r}"
                )
    missing = sorted(set(registered.modules) - set(declared.modules))
    if missing:
        names = ", ".join(missing)
        line = f'<name> = "{missing[0]}"'
        problems.append(f"{names} implements hooks but no entry point names it (add `{line}`)")
    return problems
