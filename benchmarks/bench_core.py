"""Benchmarks of losses-core, with their budgets (issue 2).

1. Call overhead: ``LOSSES["mse"](mo, t)`` and a resolved handle against a
   direct call of ``losses_core.losses.mse`` (64x128 float32, forward only,
   one torch thread), with no hooks and with one pre- and one post-loss hook.
   Budget: the registry call without hooks costs at most 1.05x the direct one.
   The variants are interleaved round-robin (rotating order) over many short
   rounds; a round's ratio is variant time / direct time in the same round,
   and the median of the rounds' ratios is reported, which a noisy, shared
   machine disturbs far less than totals would.
2. ``import losses_core`` plus the first lookup ``LOSSES["mse"]``, over
   ``import torch`` alone, in fresh processes: each process times
   ``import torch``, then ``import losses_core; LOSSES["mse"]``, with
   ``time.perf_counter`` (median over the processes). Budget: 15 ms over
   torch, for the core's own cost: measured with every installed plugin
   distribution disabled (the entry-point group is still scanned). Also
   reported, for information and without a budget: the same as installed,
   which adds each installed plugin package's own import time.
3. The first full listing ``list_losses()`` with 200 synthetic plugin
   distributions on ``sys.path`` (see ``_plugin_farm.py``), in fresh
   processes; the other installed plugin distributions are disabled so only
   the synthetic ones load. Budget: 60 ms. Also the first single lookup
   ``LOSSES["synth_7"]`` and how many synthetic modules it imports.

Run: ``python benchmarks/bench_core.py [--quick] [--profile]``; ``--profile``
adds a cProfile of the first listing with 200 plugins. ``main()`` returns the
rows as dicts and prints a table.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from losses_core import hookimpl

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

CALL_BUDGET = 1.05
HOOKED_CALL_BUDGET = 1.35
IMPORT_BUDGET_MS = 15.0
LISTING_BUDGET_MS = 60.0
SYNTH_PLUGINS = 200


# -- helpers --------------------------------------------------------------------------
def _installed_plugin_distributions() -> list[str]:
    from importlib.metadata import entry_points

    names = set()
    for ep in entry_points(group="losses.plugins"):
        dist = getattr(ep, "dist", None)
        names.add(dist.name if dist is not None else ep.name)
    return sorted(names)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LOSSES_* variable, plus ``extra``.

    ``PYTHONDONTWRITEBYTECODE`` is dropped too: an installed package has its
    bytecode compiled (pip does it at install time), so the import cost to
    measure is that of loading cached bytecode, not of compiling the sources
    in every process; each case starts with one discarded warm-up process."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("LOSSES_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    return env


def _run_json(code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(benchmark: str, case: str, **fields: object) -> dict:
    return {"benchmark": benchmark, "case": case, **fields}


# -- 1. call overhead -------------------------------------------------------------------
class _TrivialHooks:
    """One pre- and one post-loss hook that do trivial work."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def losses_pre_loss(self, call):
        self.calls += 1

    @hookimpl
    def losses_post_loss(self, call):
        call.result["metrics"]["hooked"] = 1.0


def _loops(LOSSES, mse, handle):
    """One timing loop per variant; every name the loop body uses is local."""

    def direct(n, mo, t, mse=mse):
        for _ in range(n):
            mse(mo, t)

    def registry(n, mo, t, losses=LOSSES):
        for _ in range(n):
            losses["mse"](mo, t)

    def resolved_handle(n, mo, t, h=handle):
        for _ in range(n):
            h(mo, t)

    return {"direct": direct, "registry": registry, "handle": resolved_handle}


def bench_call_overhead(rounds: int = 60, reps: int = 5, calls: int = 100) -> list[dict]:
    """Each round alternates ``reps`` times between a block without hooks and
    a block with one pre- and one post-loss hook registered; each block times
    the direct call, ``LOSSES["mse"]`` and the handle in rotating order, in
    chunks of ``calls`` calls. A round keeps each variant's fastest chunk (a
    preempted chunk is only ever slower) and divides it by the fastest direct
    chunk of the same kind of block (the direct call never sees the hooks):
    baseline and variant are always measured a few milliseconds apart."""
    import torch

    import losses_core
    from losses_core import LOSSES
    from losses_core.losses import mse

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        mo = {"predictions": torch.randn(64, 128)}
        t = {"target": torch.randn(64, 128)}
        handle = LOSSES["mse"]
        loops = _loops(LOSSES, mse, handle)
        hooks = _TrivialHooks()
        for fn in loops.values():  # warm up, hooks off and on
            fn(500, mo, t)
        with losses_core.use_hooks(hooks):
            loops["registry"](200, mo, t)

        variants = ["direct", "registry", "handle"]
        names = [*variants, *(f"{n}+hooks" for n in variants)]
        times: dict[str, list[float]] = {k: [] for k in names}
        ratios: dict[str, list[float]] = {k: [] for k in names if not k.startswith("direct")}
        clock = time.perf_counter_ns

        def block(best: dict[str, float], suffix: str, k: int) -> None:
            for name in variants[k:] + variants[:k]:  # rotate who goes first
                start = clock()
                loops[name](calls, mo, t)
                key = name + suffix
                best[key] = min(best[key], (clock() - start) / calls / 1e3)

        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for r in range(rounds):
                best = dict.fromkeys(names, float("inf"))
                for rep in range(reps):
                    k = (r + rep) % len(variants)
                    block(best, "", k)
                    losses_core.register_hooks(hooks)
                    try:
                        block(best, "+hooks", k)
                    finally:
                        losses_core.unregister_hooks(hooks)
                for name, value in best.items():
                    times[name].append(value)
                    if name in ratios:
                        baseline = best["direct+hooks" if name.endswith("+hooks") else "direct"]
                        ratios[name].append(value / baseline)
                gc.collect()
        finally:
            if gc_was_enabled:
                gc.enable()
        assert hooks.calls > 0, "the hooks were never called"
    finally:
        torch.set_num_threads(threads)

    def spread(values: list[float]) -> str:
        q = statistics.quantiles(values, n=4)
        return f"IQR {q[0]:.3f}-{q[2]:.3f}"

    base_min = min(times["direct"])
    rows = [
        _row(
            "call",
            "direct mse(mo, t)",
            min_us=round(base_min, 2),
            median_us=round(statistics.median(times["direct"]), 2),
            ratio=1.0,
            budget="",
            within_budget=None,
            note=f"{rounds} rounds x {reps} alternations of a no-hook and a hooked block x {calls} "
            "calls per variant, 64x128 float32, forward, 1 thread; times are each round's fastest chunk",
        )
    ]
    labels = {
        "registry": ('LOSSES["mse"](mo, t)', CALL_BUDGET),
        "handle": ("h = LOSSES['mse']; h(mo, t)", None),
        "registry+hooks": ('LOSSES["mse"](mo, t), 1 pre + 1 post hook', HOOKED_CALL_BUDGET),
        "handle+hooks": ("h(mo, t), 1 pre + 1 post hook", None),
    }
    for name, (label, budget) in labels.items():
        ratio = statistics.median(ratios[name])
        rows.append(
            _row(
                "call",
                label,
                min_us=round(min(times[name]), 2),
                median_us=round(statistics.median(times[name]), 2),
                ratio=round(ratio, 4),
                budget=f"<= {budget:.2f}x" if budget else "",
                within_budget=(ratio <= budget) if budget else None,
                note=f"median of per-round ratios, {spread(ratios[name])}; ratio of min times "
                f"{min(times[name]) / min(times['direct+hooks' if '+hooks' in name else 'direct']):.3f}",
            )
        )
    return rows


# -- 2. import + first lookup -------------------------------------------------------------
_IMPORT_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
before = set(sys.modules)
import losses_core
from losses_core import LOSSES
LOSSES["mse"]
t2 = time.perf_counter()
new = set(sys.modules) - before
watch = ["pluggy", "yaml", "importlib.metadata", "dataclasses", "difflib", "inspect", "fnmatch"]
print(json.dumps({
    "torch_ms": (t1 - t0) * 1e3,
    "core_ms": (t2 - t1) * 1e3,
    "new_modules": len(new),
    "plugin_packages": sorted({m.split(".")[0] for m in new} - {"losses_core"}),
    "loaded": {m: (m in sys.modules, m in before) for m in watch},
}))
"""


def bench_import(processes: int = 15, installed_processes: int = 9) -> list[dict]:
    plugins = _installed_plugin_distributions()
    cases = [
        (
            "import losses_core + LOSSES['mse'], plugins disabled",
            _clean_env(LOSSES_DISABLE_PLUGINS=",".join(plugins)),
            processes,
        ),
    ]
    if plugins:
        cases.append(
            (
                f"same, as installed (loads {len(plugins)} plugins)",
                _clean_env(),
                installed_processes,
            )
        )
    samples: list[list[dict]] = [[] for _ in cases]
    for _, env, _ in cases:  # warm-up: writes the bytecode caches
        _run_json(_IMPORT_PROBE, env)
    for i in range(max(count for _, _, count in cases)):  # interleave the cases
        for (_, env, count), runs in zip(cases, samples, strict=True):
            if i < count:
                runs.append(_run_json(_IMPORT_PROBE, env))
    rows = []
    for (label, _, count), runs in zip(cases, samples, strict=True):
        core = [r["core_ms"] for r in runs]
        torch_ms = [r["torch_ms"] for r in runs]
        last = runs[-1]
        loaded = last["loaded"]
        by_core = [m for m, (now, before) in loaded.items() if now and not before]
        by_torch = [m for m, (now, before) in loaded.items() if before]
        not_loaded = [m for m, (now, _) in loaded.items() if not now]
        over = statistics.median(core)
        # The budget is losses-core's own cost; the as-installed row adds each
        # installed plugin package's import time and is reported for information.
        own_cost = last["plugin_packages"] == []
        rows.append(
            _row(
                "import",
                label,
                torch_ms=round(statistics.median(torch_ms), 1),
                over_torch_ms=round(over, 2),
                over_torch_min_ms=round(min(core), 2),
                budget=f"<= {IMPORT_BUDGET_MS:.0f} ms" if own_cost else "",
                within_budget=over <= IMPORT_BUDGET_MS if own_cost else None,
                note=(
                    ("" if own_cost else "information, not the budget (plugins' own import time); ")
                    + f"median of {count} fresh processes (min {min(core):.1f}, max {max(core):.1f}); "
                    f"{last['new_modules']} new modules; loaded by it: {', '.join(by_core) or 'none'}; "
                    f"already loaded by torch: {', '.join(by_torch) or 'none'}; "
                    f"not loaded: {', '.join(not_loaded) or 'none'}"
                    + (
                        f"; plugins imported: {', '.join(last['plugin_packages'])}"
                        if last["plugin_packages"]
                        else ""
                    )
                ),
            )
        )
    return rows


# -- 3. first listing with 200 plugins ---------------------------------------------------
_LISTING_PROBE = r"""
import json, sys, time
import torch
import losses_core
from losses_core import LOSSES, list_losses
mode = sys.argv[1]
t0 = time.perf_counter()
if mode == "listing":
    n = len(list_losses())
else:
    LOSSES["synth_7"]
    n = 1
t1 = time.perf_counter()
print(json.dumps({
    "ms": (t1 - t0) * 1e3,
    "losses": n,
    "synth_modules": sum(1 for m in sys.modules if m.startswith("losses_synth_")),
}))
"""

_BREAKDOWN_PROBE = r"""
import importlib, json, sys, time
import torch
import losses_core
mode = sys.argv[1]
t0 = time.perf_counter()
if mode == "entry_points":
    from importlib.metadata import entry_points
    entry_points(group="losses.plugins")
elif mode == "find_entry_points":
    from losses_core._plugins import find_entry_points
    find_entry_points()
elif mode == "import_modules":
    for i in range(int(sys.argv[2])):
        importlib.import_module(f"losses_synth_{i}")
else:
    losses_core.list_losses()
print(json.dumps({"ms": (time.perf_counter() - t0) * 1e3}))
"""

_PROFILE_PROBE = r"""
import cProfile, pstats, io
import torch
import losses_core
from losses_core import list_losses
profile = cProfile.Profile()
profile.enable()
list_losses()
profile.disable()
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
print(out.getvalue())
"""


def _listing_env(farm: Path, others: list[str]) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(farm), os.environ.get("PYTHONPATH", "")) if p)
    extra = {"PYTHONPATH": path}
    if others:
        extra["LOSSES_DISABLE_PLUGINS"] = ",".join(others)
    return _clean_env(**extra)


def bench_listing(processes: int = 7, profile: bool = False) -> list[dict]:
    from _plugin_farm import make_farm

    others = _installed_plugin_distributions()
    rows = []
    with tempfile.TemporaryDirectory(prefix="losses-plugin-farm-") as tmp:
        farm = Path(tmp)
        started = time.perf_counter()
        make_farm(farm, SYNTH_PLUGINS)
        farm_s = time.perf_counter() - started
        env = _listing_env(farm, others)

        def run(mode: str) -> dict:
            proc = subprocess.run(
                [sys.executable, "-c", _LISTING_PROBE, mode],
                capture_output=True,
                text=True,
                env=env,
                check=False,
                timeout=300,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"listing benchmark failed:\n{proc.stderr[-3000:]}")
            return json.loads(proc.stdout.strip().splitlines()[-1])

        run("listing")  # untimed: warm the OS file cache for the farm
        listing, single = [], []
        for _ in range(processes):  # interleaved, so both see the same noise
            listing.append(run("listing"))
            single.append(run("single"))
        if profile:
            _profile_listing(env, processes)

    listing_ms = [r["ms"] for r in listing]
    median = statistics.median(listing_ms)
    disabled = f"; disabled: {', '.join(others)}" if others else ""
    rows.append(
        _row(
            "listing",
            f"first list_losses(), {SYNTH_PLUGINS} plugin distributions",
            ms=round(median, 1),
            min_ms=round(min(listing_ms), 1),
            budget=f"<= {LISTING_BUDGET_MS:.0f} ms",
            within_budget=median <= LISTING_BUDGET_MS,
            note=f"median of {processes} fresh processes (max {max(listing_ms):.1f}); "
            f"{listing[-1]['losses']} losses listed; {listing[-1]['synth_modules']} synth modules "
            f"imported; farm written in {farm_s:.2f} s{disabled}",
        )
    )
    single_ms = [r["ms"] for r in single]
    rows.append(
        _row(
            "listing",
            'first LOSSES["synth_7"]',
            ms=round(statistics.median(single_ms), 1),
            min_ms=round(min(single_ms), 1),
            budget="",
            within_budget=None,
            note=f"imports {single[-1]['synth_modules']} of {SYNTH_PLUGINS} synth modules "
            "(the design loads every plugin on the first lookup)",
        )
    )
    return rows


def _profile_listing(env: dict[str, str], processes: int) -> None:
    """Where the first listing's time goes: each part alone in fresh
    processes (median), then a cProfile of the listing."""
    steps = {
        "importlib.metadata.entry_points(group=...)": ["entry_points"],
        "losses_core._discovery.find_entry_points() (scan + names, versions)": ["find_entry_points"],
        f"import the {SYNTH_PLUGINS} plugin modules alone": ["import_modules", str(SYNTH_PLUGINS)],
        "list_losses() (everything)": ["list_losses"],
    }
    print(f"Breakdown of the first listing with {SYNTH_PLUGINS} plugins (median of {processes} processes):")
    for label, args in steps.items():
        ms = [_run_json_args(_BREAKDOWN_PROBE, args, env)["ms"] for _ in range(processes)]
        print(f"  {statistics.median(ms):7.1f} ms  {label}")
    proc = subprocess.run(
        [sys.executable, "-c", _PROFILE_PROBE], capture_output=True, text=True, env=env, check=False
    )
    print(f"cProfile of the first list_losses() with {SYNTH_PLUGINS} plugins (profiling inflates it):")
    print(proc.stdout[:6000] or proc.stderr[-3000:])


def _run_json_args(code: str, args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- table ---------------------------------------------------------------------------------
def _measure_text(row: dict) -> str:
    if row["benchmark"] == "call":
        return f"{row['min_us']:.2f} us min, {row['median_us']:.2f} us median"
    if row["benchmark"] == "import":
        return f"+{row['over_torch_ms']:.1f} ms over torch ({row['torch_ms']:.0f} ms)"
    return f"{row['ms']:.1f} ms (min {row['min_ms']:.1f})"


def print_table(rows: list[dict]) -> None:
    table = []
    for row in rows:
        ok = {True: "ok", False: "MISSED", None: ""}[row["within_budget"]]
        ratio = f"{row['ratio']:.3f}x" if "ratio" in row else ""
        table.append([row["benchmark"], row["case"], _measure_text(row), ratio, row["budget"], ok])
    headers = ["BENCH", "CASE", "MEASURED", "RATIO", "BUDGET", ""]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()
    for row in rows:
        if row.get("note"):
            print(f"- {row['benchmark']} / {row['case']}: {row['note']}")


def main(argv: list[str] | None = None) -> list[dict]:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    started = time.perf_counter()
    rows = bench_call_overhead(rounds=20 if quick else 60)
    print_table(rows)  # early feedback: the subprocess benchmarks take a while
    print()
    rows += bench_import(processes=5 if quick else 15, installed_processes=3 if quick else 9)
    rows += bench_listing(processes=3 if quick else 7, profile="--profile" in args)
    elapsed = time.perf_counter() - started
    print(f"losses-core benchmarks ({elapsed:.0f} s; {os.cpu_count()} CPUs; a shared machine is noisy)")
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
