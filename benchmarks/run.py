"""Run every ``benchmarks/bench_*.py`` module: ``python benchmarks/run.py``.

Each module's ``main()`` prints its own table and returns its rows (dicts).
Options:

- ``NAME ...``: run only these modules (``core`` or ``bench_core``);
- ``--json PATH``: also write every row, keyed by module, to ``PATH``;
- any other ``--option`` is passed on to the modules through ``sys.argv``
  (``--quick`` makes ``bench_core`` take fewer samples).

A module that fails is reported and the others still run; the exit status
is 1 if any failed. Rows with ``within_budget`` false are listed at the end
(a missed budget does not change the exit status: these are measurements).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _parse(args: list[str]) -> tuple[list[str], list[str], str | None]:
    names: list[str] = []
    options: list[str] = []
    json_path = None
    it = iter(args)
    for arg in it:
        if arg == "--json":
            json_path = next(it, None)
            if json_path is None:
                raise SystemExit("--json needs a path")
        elif arg.startswith("-"):
            options.append(arg)
        else:
            names.append(arg.removeprefix("bench_").removesuffix(".py"))
    return names, options, json_path


def main(argv: list[str] | None = None) -> int:
    names, options, json_path = _parse(sys.argv[1:] if argv is None else argv)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    paths = [p for p in discover() if not names or p.stem.removeprefix("bench_") in names]
    if names and not paths:
        print(f"no benchmark module matches {names}; have: {[p.stem for p in discover()]}")
        return 2
    results: dict[str, list[dict]] = {}
    failed: list[str] = []
    saved_argv = sys.argv
    for path in paths:
        print(f"=== {path.name} ===", flush=True)
        started = time.perf_counter()
        sys.argv = [str(path), *options]
        try:
            rows = load(path).main()
        except (Exception, SystemExit):
            traceback.print_exc()
            failed.append(path.stem)
            continue
        finally:
            sys.argv = saved_argv
        results[path.stem] = list(rows or [])
        print(f"=== {path.name}: {time.perf_counter() - started:.0f} s ===\n", flush=True)

    missed = [
        (module, row) for module, rows in results.items() for row in rows if row.get("within_budget") is False
    ]
    if missed:
        print("Budgets missed:")
        for module, row in missed:
            case = row.get("case") or row.get("name") or row
            print(f"- {module}: {case} (budget {row.get('budget', '?')})")
    if failed:
        print(f"Failed: {', '.join(failed)}")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
