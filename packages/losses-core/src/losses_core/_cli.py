"""The ``losses`` command line.

Exit codes: 0 success; 1 a command found problems (``losses check``); 2 bad
usage (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    from losses_core import list_losses

    infos = list_losses(args.pattern)
    if args.json:
        print(json.dumps([asdict(i) for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no loss matches {args.pattern!r}")
        return 0
    rows = [
        [
            i.qualified_name if i.ambiguous else i.name,
            f"{i.provider} {i.version or ''}".strip(),
            ", ".join(i.aliases),
            i.summary[:60],
        ]
        for i in infos
    ]
    print(_table(rows, ["NAME", "PROVIDER", "ALIASES", "SUMMARY"]))
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    from losses_core import list_plugins

    infos = list_plugins()
    if args.json:
        payload: list[dict[str, Any]] = [asdict(i) for i in infos]
        print(json.dumps(payload, indent=2))
        return 0
    rows = [
        [
            i.name,
            i.version or "",
            i.status,
            ", ".join(i.losses),
            ", ".join(i.hooks),
            i.error or "",
        ]
        for i in infos
    ]
    print(_table(rows, ["DISTRIBUTION", "VERSION", "STATUS", "LOSSES", "HOOKS", "ERROR"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from losses_core._version import __version__

    parser = argparse.ArgumentParser(
        prog="losses", description="Inspect the losses installed in this environment."
    )
    parser.add_argument("--version", action="version", version=f"losses-core {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p_list = commands.add_parser("list", help="list registered losses")
    p_list.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'focal*'")
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(run=_cmd_list)
    p_plugins = commands.add_parser("plugins", help="list plugins, their losses, hooks and load failures")
    p_plugins.add_argument("--json", action="store_true", help="print JSON")
    p_plugins.set_defaults(run=_cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``losses`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
