"""The ``losses`` command line.

Commands: ``list``, ``show``, ``plugins``, ``check``, ``doctor``,
``manifest``, ``new-plugin``. Every listing takes ``--json``. ``list``,
``plugins`` and ``doctor`` read package metadata only: they import no plugin
module and not torch.

Exit codes:

- 0: success (``check``: the config is valid; ``doctor``: no problem found).
- 1: the command ran and found problems: ``check`` found an invalid config,
  ``doctor`` found conflicts, broken plugins or malformed or duplicate
  installs, ``show`` found no such loss, ``manifest --check`` found a stale
  manifest, ``new-plugin`` could not write the package.
- 2: bad usage (unknown command or option) or an invalid ``LOSSES_*``
  environment variable.

No command prints a Python traceback for a fault in a plugin or in the
environment; ``--traceback`` shows one, for debugging.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _say(line: str, hang: int = 4) -> None:
    """Print one line of a report, wrapped to the terminal's width."""
    from losses_core._table import terminal_width, wrap_line

    print(wrap_line(line, terminal_width(), hang))


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str))


# -- list ----------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    from losses_core._listing import list_losses

    infos = list_losses(args.pattern)
    if args.json:
        _print_json([asdict(i) for i in infos])
        return 0
    if not infos:
        print(f"no loss matches {args.pattern!r}")
        return 0
    from losses_core._table import Column, format_table, terminal_width

    rows = [
        [
            i.qualified_name if i.ambiguous else i.name,
            f"{i.provider} {i.version or ''}".strip(),
            ", ".join(i.aliases),
            i.summary,
        ]
        for i in infos
    ]
    columns = [
        Column("NAME"),
        Column("PROVIDER"),
        Column("ALIASES", "wrap"),
        Column("SUMMARY", "cut", label=False),
    ]
    print(format_table(columns, rows, terminal_width()))
    return 0


# -- show ----------------------------------------------------------------------
def _describe_loss(name: str) -> dict[str, Any]:
    from losses_core._plugins import lookup

    entry = lookup(name)
    try:
        signature = str(inspect.signature(entry.function))
    except (TypeError, ValueError):
        signature = "(model_output, targets, **params)"
    from losses_core.params import describe_annotation

    annotations = entry.signature.annotations
    parameters = [
        {
            "name": p.name,
            "default": None if p.default is inspect.Parameter.empty else p.default,
            "required": p.default is inspect.Parameter.empty,
            "annotation": describe_annotation(annotations[p.name]) if p.name in annotations else None,
        }
        for p in entry.signature.parameters.values()
    ]
    inputs = [
        {
            "name": i.name,
            "source": i.source,
            "key": i.default_key,
            "shape": i.shape,
            "dtype": i.dtype,
            "optional": i.optional,
            "doc": i.doc,
        }
        for i in entry.inputs
    ]
    function = entry.function
    target = function if hasattr(function, "__qualname__") else type(function)
    return {
        "name": entry.name,
        "qualified_name": entry.qualified_name,
        "provider": entry.provider,
        "version": entry.version,
        "aliases": list(entry.aliases),
        "object": f"{target.__module__}.{target.__qualname__}",
        "signature": signature,
        "inputs": inputs,
        "parameters": parameters,
        "accepts_any_keyword": entry.signature.var_keyword and not entry.signature.checks_names,
        "doc": inspect.getdoc(function) or "",
    }


def _cmd_show(args: argparse.Namespace) -> int:
    from losses_core._errors import LossConflictError, UnknownLossError

    try:
        info = _describe_loss(args.name)
    except (UnknownLossError, LossConflictError) as exc:
        print(f"losses show: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(info)
        return 0
    from losses_core._table import terminal_width
    from losses_core._text import docstring_text, inline_text

    version = f" {info['version']}" if info["version"] else ""
    _say(f"{info['name']}  ({info['provider']}{version})")
    if info["aliases"]:
        _say(f"aliases:   {', '.join(info['aliases'])}", hang=11)
    _say(f"object:    {info['object']}", hang=11)
    _say(f"signature: {info['signature']}", hang=11)
    if info["inputs"]:
        _say("inputs (map other keys with keys={name: your_key}):")
        for i in info["inputs"]:
            layout = f" [{i['shape']}]" if i["shape"] else ""
            dtype = f" {i['dtype']}" if i["dtype"] != "any" else ""
            optional = " (optional)" if i["optional"] else ""
            doc = f": {inline_text(i['doc'])}" if i["doc"] else ""
            _say(f"  {i['name']}: {i['source']}[{i['key']!r}]{dtype}{layout}{optional}{doc}")
    if info["parameters"]:
        _say("parameters:")
        for p in info["parameters"]:
            default = "required" if p["required"] else f"default {p['default']!r}"
            kind = f" ({p['annotation']})" if p["annotation"] else ""
            _say(f"  {p['name']}{kind}: {default}")
    if info["doc"]:
        print()
        print(docstring_text(info["doc"], terminal_width()))
    return 0


# -- plugins -------------------------------------------------------------------
def _cmd_plugins(args: argparse.Namespace) -> int:
    from losses_core._listing import list_plugins

    infos = list_plugins()
    if args.json:
        _print_json([asdict(i) for i in infos])
        return 0
    from losses_core._table import Column, format_table, terminal_width

    rows = [
        [i.name, i.version or "", i.status, ", ".join(i.losses), ", ".join(i.hooks), i.error or ""]
        for i in infos
    ]
    columns = [Column("DISTRIBUTION"), Column("VERSION"), Column("STATUS")]
    columns += [Column("LOSSES", "wrap"), Column("HOOKS", "wrap"), Column("ERROR", "wrap")]
    print(format_table(columns, rows, terminal_width()))
    return 0


# -- check ---------------------------------------------------------------------
def _cmd_check(args: argparse.Namespace) -> int:
    from losses_core.config import _check_sections

    configs, problems = _check_sections(args.config, section=args.section, strict=not args.no_strict)
    resolved = [] if problems else [f"{name or 'loss'}: {c.build()!r}" for name, c in configs.items()]
    if args.json:
        _print_json(
            {"config": str(args.config), "valid": not problems, "problems": problems, "resolved": resolved}
        )
    elif problems:
        _say(f"{args.config}: {len(problems)} problem(s)")
        for problem in problems:
            _say(f"  - {problem}", hang=2)
    else:
        _say(f"{args.config}: OK")
        for line in resolved:
            _say(f"  {line}")
    return 1 if problems else 0


# -- doctor --------------------------------------------------------------------
PROBLEM_KINDS = (
    "conflicts",
    "broken_plugins",
    "malformed_installs",
    "duplicate_installs",
    "noisy_plugins",
    "manifest_mismatches",
)
"""The parts of the doctor's report that make it exit 1."""


def doctor_report(import_plugins: bool = False) -> dict[str, Any]:
    """Conflicts, takeovers, broken plugins, malformed and duplicate installs,
    plugins that print at import, disabled plugins and unknown ``LOSSES_*``
    variables, from package metadata; with ``import_plugins``, every plugin
    is imported too and its manifest compared with what its code registers."""
    from losses_core._environment import unknown_variables
    from losses_core._listing import list_losses
    from losses_core._plugins import LOADER

    LOADER.use_cache = False  # the doctor looks at what is installed now, not at the cache
    LOADER.verify()
    mismatches: dict[str, list[str]] = {}
    if import_plugins:
        from losses_core._capture import captured_output
        from losses_core.testing import check_manifest

        for record in list(LOADER.records):
            if record.form == "dynamic" or record.status == "skipped" or record.distribution in mismatches:
                continue
            with captured_output() as (out, err):
                found = check_manifest(record.distribution)
            for stream, text in (("stdout", out.text()), ("stderr", err.text())):
                if text.strip():
                    shown = text if len(text) <= 200 else text[:197] + "..."
                    record.output.append(f"its code printed to {stream} when imported: {shown.strip()!r}")
            if found:
                mismatches[record.distribution] = found
    conflicts: dict[str, list[str]] = {}
    takeovers = []
    for info in list_losses():
        if info.ambiguous:
            conflicts.setdefault(info.name, []).append(info.qualified_name)
        if info.overrides:
            takeovers.append(
                {
                    "name": info.name,
                    "by": info.qualified_name,
                    "by_version": info.version,
                    "aliases": list(info.aliases),
                    "from": list(info.overrides),
                }
            )
    broken = [
        {"distribution": f.distribution, "version": f.version, "entry_point": f.entry_point, "error": f.error}
        for f in LOADER.failures
        if not f.entry_point.startswith("(malformed")
    ]
    malformed = [
        {"distribution": p.distribution, "location": p.location, "problem": p.problem}
        for p in LOADER.installed.problems
    ]
    noisy = {r.distribution: list(r.output) for r in LOADER.records if r.output}
    disabled = [
        {"distribution": r.distribution, "reason": r.reason} for r in LOADER.records if r.status == "skipped"
    ]
    controls = LOADER.controls
    return {
        "conflicts": conflicts,
        "takeovers": takeovers,
        "broken_plugins": broken,
        "malformed_installs": malformed,
        "duplicate_installs": dict(LOADER.installed.duplicates),
        "noisy_plugins": noisy,
        "manifest_mismatches": mismatches,
        "disabled_plugins": disabled,
        "unknown_variables": unknown_variables(),
        "environment": {
            "autoload": controls.autoload,
            "allow": sorted(controls.allow) if controls.allow is not None else None,
            "block": sorted(controls.block),
            "trace": controls.trace,
            "config_allow_import": controls.allow_import,
        },
    }


def _cmd_doctor(args: argparse.Namespace) -> int:
    report = doctor_report(import_plugins=args.imports)
    problems = any(report[kind] for kind in PROBLEM_KINDS)
    if args.json:
        _print_json({**report, "healthy": not problems})
        return 1 if problems else 0
    for name, qualified in sorted(report["conflicts"].items()):
        _say(f"conflict: {name!r} is provided by several plugins; use one of {', '.join(qualified)}")
    for item in report["takeovers"]:
        aliases = f" (with its aliases {', '.join(item['aliases'])})" if item["aliases"] else ""
        _say(
            f"takeover: {item['by']} overrides {', '.join(item['from'])}: the bare name {item['name']!r}"
            f"{aliases} gives its loss; the others stay reachable by their qualified names"
        )
    for failure in report["broken_plugins"]:
        _say(f"broken plugin: {failure['distribution']} ({failure['entry_point']}): {failure['error']}")
    for item in report["malformed_installs"]:
        _say(f"malformed install: {item['distribution']} at {item['location']}: {item['problem']}")
    for name, where in sorted(report["duplicate_installs"].items()):
        places = "; ".join(where)
        _say(f"duplicate install: {name} is installed {len(where)} times: {places} (the first is used)")
    for name, lines in sorted(report["noisy_plugins"].items()):
        for line in lines:
            _say(f"noisy plugin: {name}: {line}")
    for found in report["manifest_mismatches"].values():
        for line in found:
            _say(f"manifest mismatch: {line}")
    for item in report["disabled_plugins"]:
        _say(f"disabled plugin: {item['distribution']} ({item['reason']})")
    for variable, close in report["unknown_variables"].items():
        hint = f"; did you mean {close}?" if close else ""
        _say(f"unknown variable: {variable} is not read by losses-core{hint}")
    print("problems found" if problems else "no problems found")
    return 1 if problems else 0


# -- manifest --------------------------------------------------------------------
_TABLE = '[project.entry-points."losses.plugins"]'


def _cmd_manifest(args: argparse.Namespace) -> int:
    import importlib

    from losses_core._capture import captured_output
    from losses_core._generate import generate_declarations
    from losses_core._manifest import MANIFEST_FILE, Manifest, ManifestError

    try:
        with captured_output() as (out, err):
            declarations = generate_declarations(args.package)
    except ManifestError as exc:
        print(f"losses manifest: {exc}", file=sys.stderr)
        return 1
    finally:
        for text in (out.text(), err.text()):
            if text:
                sys.stderr.write(text)  # what the package printed when imported: never into the output
    directory = Path(next(iter(getattr(importlib.import_module(args.package), "__path__", ["."]))))
    builtin_file = directory / "entry_points.txt"
    pyproject = None if builtin_file.exists() else _find_pyproject(directory)
    distribution = args.distribution or _project_name(pyproject) or args.package.replace("_", "-")
    if builtin_file.exists():
        distribution = "losses-core"
    manifest = Manifest(
        {loss.name: loss.summary for loss in declarations.losses},
        frozenset(loss.name for loss in declarations.losses if loss.override),
    )
    lines = _entry_point_lines(declarations, distribution, args.package)
    manifest_path = directory / MANIFEST_FILE
    if not (args.write or args.check):
        print(f"# {manifest_path}")
        sys.stdout.write(manifest.to_json())
        print(f"\n# {pyproject or 'your packaging metadata'}\n{_TABLE}")
        print("\n".join(lines))
        return 0
    if builtin_file.exists():
        target, old, new = builtin_file, _read(builtin_file), _builtin_entry_points(lines)
    elif pyproject is not None:
        target, old = pyproject, _read(pyproject)
        new = _replace_table(old, lines)
    else:
        print(
            f"losses manifest: no pyproject.toml above {directory} to hold the entry points", file=sys.stderr
        )
        return 1
    stale = [
        path
        for path, text, want in (
            (manifest_path, _read(manifest_path), manifest.to_json()),
            (target, old, new),
        )
        if text != want
    ]
    if args.check:
        if not stale:
            print(f"{manifest_path} and {target}: up to date ({len(declarations.losses)} losses)")
            return 0
        for path in stale:
            print(f"{path}: out of date; run `losses manifest {args.package} --write`", file=sys.stderr)
        return 1
    manifest_path.write_text(manifest.to_json(), encoding="utf-8")
    target.write_text(new, encoding="utf-8")
    print(f"wrote {manifest_path} and the entry points in {target} ({len(declarations.losses)} losses)")
    if target.name == "pyproject.toml" and old != new:
        print("reinstall the distribution (pip install -e .) for changed entry points to take effect")
    return 0


def _entry_point_lines(declarations: Any, distribution: str, package: str) -> list[str]:
    from losses_core._generate import entry_point_lines

    lines = entry_point_lines(declarations.losses, distribution, package)
    lines += [f'{distribution}-hooks = "{module}"' for module in declarations.modules]
    return lines


def _builtin_entry_points(lines: list[str]) -> str:
    body = [line.replace('"', "") for line in lines]
    return (
        "# The built-in losses, declared in the format of a distribution's entry_points.txt\n"
        "# (written by `losses manifest losses_core.losses --write`).\n"
        "[losses.plugins]\n" + "\n".join(body) + "\n"
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _find_pyproject(directory: Path) -> Path | None:
    for parent in [directory, *directory.parents][:4]:
        if (parent / "pyproject.toml").is_file():
            return parent / "pyproject.toml"
    return None


def _project_name(pyproject: Path | None) -> str | None:
    import re

    text = _read(pyproject) if pyproject is not None else None
    match = re.search(r'^\[project\]\s*$(?:(?!^\[).)*?^name\s*=\s*"([^"]+)"', text or "", re.M | re.S)
    return match.group(1) if match else None


def _replace_table(text: str | None, lines: list[str]) -> str:
    """``text`` with the entry-point table's body replaced by ``lines`` (the
    table appended when it is missing); entry points naming a module (plugin
    modules, declared by hand) are kept."""
    body = "\n".join(lines) + "\n"
    source = text or ""
    if _TABLE not in source:
        return source.rstrip("\n") + f"\n\n{_TABLE}\n{body}"
    head, _, rest = source.partition(_TABLE + "\n")
    tail_lines = rest.splitlines(keepends=True)
    index = next((i for i, line in enumerate(tail_lines) if line.startswith("[")), len(tail_lines))
    tail = "".join(tail_lines[index:])
    # plugin modules (hooks) are declared by hand: keep them
    modules = [
        line.rstrip("\n")
        for line in tail_lines[:index]
        if "=" in line and ":" not in line.partition("=")[2] and line.rstrip("\n") not in lines
    ]
    if modules:
        body = "\n".join([*lines, *modules]) + "\n"
    return f"{head}{_TABLE}\n{body}" + (f"\n{tail}" if tail else "")


# -- new-plugin ----------------------------------------------------------------
def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from losses_core._scaffold import ScaffoldError, name_warnings, write_plugin

    try:
        root = write_plugin(args.name, Path(args.directory))
    except ScaffoldError as exc:
        print(f"losses new-plugin: {exc}", file=sys.stderr)
        return 1
    for warning in name_warnings(args.name):
        print(f"losses new-plugin: warning: {warning}", file=sys.stderr)
    print(f"wrote {root}")
    print(f"next: cd {root} && pip install -e '.[test]' && pytest")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``losses`` command."""
    from losses_core._version import __version__

    parser = argparse.ArgumentParser(
        prog="losses", description="Inspect and check the losses installed here."
    )
    parser.add_argument("--version", action="version", version=f"losses-core {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show Python tracebacks of unexpected errors"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", help="list registered losses")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'focal*'")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_list)

    p = commands.add_parser("show", help="signature, parameters, formula and provider of a loss")
    p.add_argument("name", help="loss name, alias or name@provider")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_show)

    p = commands.add_parser("plugins", help="list plugins, their losses, hooks and load failures")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_plugins)

    p = commands.add_parser("check", help="validate and resolve a YAML loss config")
    p.add_argument("config", type=Path, help="path to a YAML file")
    p.add_argument("--section", default=None, help="section holding `loss` (default: every section)")
    p.add_argument("--no-strict", action="store_true", help="accept parameters a loss does not declare")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_check)

    p = commands.add_parser(
        "doctor",
        help="report conflicts, takeovers, broken plugins, malformed, duplicate and disabled installs",
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="store_true",
        help="also import every plugin and compare its declarations with what its code registers",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_doctor)

    p = commands.add_parser(
        "manifest", help="print, write or check a plugin package's entry points and manifest (losses.json)"
    )
    p.add_argument("package", help="the importable package, e.g. losses_foo")
    p.add_argument(
        "--distribution", default=None, help="its distribution name (default: from pyproject.toml)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--write",
        action="store_true",
        help="write PACKAGE/losses.json and the entry points in pyproject.toml",
    )
    mode.add_argument("--check", action="store_true", help="exit 1 if either is out of date")
    p.set_defaults(run=_cmd_manifest)

    p = commands.add_parser("new-plugin", help="write a ready-to-publish plugin package")
    p.add_argument("name", help="distribution name, e.g. losses-foo")
    p.add_argument("--directory", default=".", help="where to create it (default: here)")
    p.set_defaults(run=_cmd_new_plugin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``losses`` console script."""
    from losses_core._errors import LossEnvironmentError, LossError
    from losses_core._plugins import LOADER

    args = build_parser().parse_args(argv)
    LOADER.replay_output = False  # what plugins print is reported, not mixed into the output
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``losses list | head``): stop quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except LossEnvironmentError as exc:
        print(f"losses {args.command}: {exc}", file=sys.stderr)
        return 2
    except (LossError, Exception) as exc:
        if args.traceback:
            raise
        kind = "" if isinstance(exc, LossError) else f"{type(exc).__name__}: "
        print(f"losses {args.command}: {kind}{exc}", file=sys.stderr)
        if not isinstance(exc, LossError):
            print("(rerun with `losses --traceback ...` to see where it was raised)", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
