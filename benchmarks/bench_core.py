"""Benchmarks of losses-core, with their budgets.

The call-overhead budgets are those of issue 2; the budgets of the discovery
benchmarks (2-4) are those of the "discovery from package metadata" issue
(losses-core 0.3: the catalogue is read from package metadata, one
``losses.plugins`` entry point per loss name plus each distribution's
``losses.json`` manifest for the summaries, and a loss's module is imported
when the loss is first looked up).

1. Call overhead: ``LOSSES["mse"](mo, t)`` and a resolved handle against a
   direct call of ``losses_core.losses.mse`` (64x128 float32, forward only,
   one torch thread), with no hooks and with one pre- and one post-loss hook.
   Budgets: the registry call without hooks costs at most 1.05x the direct
   one, with one pre- and one post-loss hook at most 1.35x. The variants are
   interleaved round-robin (rotating order) over many short rounds; a round's
   ratio is variant time / direct time in the same round, and the median of
   the rounds' ratios is reported, which a noisy, shared machine disturbs far
   less than totals would.
2. ``losses list``, the console command, in fresh processes (wall time of
   the whole process, as a user waits for it), with the installed
   first-party plugins (losses-vae, losses-sae, losses-ranking) plus 200
   synthetic plugin distributions (``_plugin_farm.py``). Budget: 0.15 s.
   Reported for information: ``python -c pass``, the first-party plugins
   alone, 1,000 synthetic plugins, 200 synthetic plugins in the dynamic form
   (each imported to learn its losses) and ``python -m losses_core list``.
3. ``import losses_core`` plus the first lookup ``LOSSES[name]`` over
   ``import torch`` alone, in fresh processes: each process imports torch,
   then times ``import losses_core; LOSSES[name]`` with
   ``time.perf_counter``. Budget: 15 ms (aim: 8 ms), for a built-in
   (``mse``) and a first-party plugin loss (``beta_vae``) with the installed
   plugins, the same with 200 synthetic plugins, and a synthetic loss
   (``synth_7``). Each row also gives how many modules the lookup imports
   (``len(sys.modules)`` after minus before) and which ``losses_*`` ones.
   Reported for information: ``synth_7`` with 200 dynamic plugins.
4. The first full listing ``list_losses()`` in fresh processes that import
   neither torch nor any plugin module first, with the installed plugins plus
   200 synthetic ones. Budget: 30 ms for the call, and it must import no
   plugin module and not torch (checked: the row fails otherwise). Reported
   for information: 1,000 synthetic plugins, and 200 dynamic ones.

Every fresh-process case starts with one discarded warm-up process (it also
writes the bytecode caches; the synthetic plugins are byte-compiled when
written, as pip does at install); the cases are then interleaved in rotating
order and the medians reported. losses-core keeps its scan of each
``sys.path`` directory in ``$XDG_CACHE_HOME/losses``: each environment gets a
private cache, which its warm-up process fills, so the budgeted rows are the
steady state of an installed environment; the rows marked "no scan cache"
(information) give the cost when the cache cannot be used (the first run
after an install, an unwritable cache directory).

Run: ``python benchmarks/bench_core.py [--quick] [--profile]``; ``--profile``
adds where the time goes: breakdowns of the first listing with 200 plugins
(scan with and without the cache, catalogue) and of the first lookup (import,
catalogue, plugin modules, the loss's module), cProfiles of the listing, of
``losses list`` and of the lookup, and ``-X importtime`` of ``losses list``
and of the lookups. ``main()`` returns the rows as dicts and prints a
table with each row's budget and whether it holds.
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
from collections.abc import Callable
from functools import partial
from pathlib import Path

from losses_core import hookimpl

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

CALL_BUDGET = 1.05
HOOKED_CALL_BUDGET = 1.35
CLI_BUDGET_S = 0.15
LOOKUP_BUDGET_MS = 15.0
LOOKUP_AIM_MS = 8.0
LISTING_BUDGET_MS = 30.0
SYNTH_PLUGINS = 200
MANY_SYNTH_PLUGINS = 1000
FIRST_PARTY = ("losses-ranking", "losses-sae", "losses-vae")


# -- helpers --------------------------------------------------------------------------
def _installed_plugin_distributions() -> list[str]:
    """The plugin distributions installed in this environment (package metadata only)."""
    from losses_core._metadata import scan_installed

    found = scan_installed(use_cache=False) if _has_scan_cache() else scan_installed()
    return sorted({plugin.distribution for plugin in found.plugins})


def _has_scan_cache() -> bool:
    """Whether this losses-core keeps its scan of ``sys.path`` between processes."""
    from losses_core import _metadata

    return hasattr(_metadata, "ScanCache")


def _without_cold(cases: list[tuple]) -> list[tuple]:
    """The cases, less the "no scan cache" ones when there is no scan cache."""
    return cases if _has_scan_cache() else [case for case in cases if "no scan cache" not in case[0]]


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


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess {argv[:3]} failed:\n{proc.stderr[-3000:]}")
    return proc


def _run_json(code: str, env: dict[str, str], *args: str) -> dict:
    proc = _run([sys.executable, "-c", code, *args], env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _interleaved(cases: list[tuple[Callable[[], dict], int]]) -> list[list[dict]]:
    """Run each ``(run, count)`` case once untimed (warm-up: bytecode and OS
    file caches), then ``count`` times, the cases interleaved in rotating
    order so that they see the same noise; return each case's samples."""
    for run, _ in cases:
        run()
    samples: list[list[dict]] = [[] for _ in cases]
    for i in range(max(count for _, count in cases)):
        order = [j for j, (_, count) in enumerate(cases) if i < count]
        k = i % len(order)
        for j in order[k:] + order[:k]:
            samples[j].append(cases[j][0]())
    return samples


def _row(benchmark: str, case: str, **fields: object) -> dict:
    return {"benchmark": benchmark, "case": case, **fields}


class _Farms:
    """The synthetic plugin farms of one run, each written once, on first use,
    into one temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[tuple[int, bool], Path] = {}
        self.seconds: dict[tuple[int, bool], float] = {}

    def get(self, count: int, dynamic: bool = False) -> Path:
        from _plugin_farm import make_farm

        key = (count, dynamic)
        if key not in self.paths:
            path = self.root / f"{'dynamic' if dynamic else 'static'}-{count}"
            started = time.perf_counter()
            make_farm(path, count, dynamic=dynamic)
            self.seconds[key] = time.perf_counter() - started
            self.paths[key] = path
        return self.paths[key]

    def env(self, farm: Path | None, *, cache: bool = True) -> dict[str, str]:
        """The clean environment, with ``farm`` (if any) first on ``PYTHONPATH``.

        losses-core keeps its scan of each ``sys.path`` directory in
        ``$XDG_CACHE_HOME/losses``; each farm gets a private cache here, warm
        once the case's warm-up process has written it, so that neither the
        other cases nor other processes on the machine share it. With
        ``cache=False`` the cache can be neither read nor written: every
        process scans every directory."""
        if cache:
            home = self.root / "cache" / (farm.name if farm is not None else "installed")
        else:
            blocker = self.root / "no-cache"  # a file: nothing can be created under it
            blocker.touch()
            home = blocker / "home"
        extra = {"XDG_CACHE_HOME": str(home)}
        if farm is not None:
            extra["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(farm), os.environ.get("PYTHONPATH", "")) if p
            )
        return _clean_env(**extra)

    def describe(self) -> str:
        return ", ".join(
            f"{count} {'dynamic' if dynamic else 'static'} in {s:.1f} s"
            for (count, dynamic), s in sorted(self.seconds.items())
        )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float], digits: int = 1) -> str:
    return f"min {min(values):.{digits}f}, max {max(values):.{digits}f}"


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


# -- 2. losses list --------------------------------------------------------------------------
def _losses_command() -> list[str]:
    """The ``losses`` console script next to this interpreter, else ``python -m losses_core``."""
    script = Path(sys.executable).with_name("losses")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "losses_core"]


def _first_party_label() -> str:
    first_party = [d.removeprefix("losses-") for d in _installed_plugin_distributions() if d in FIRST_PARTY]
    return "+".join(first_party) if first_party else "no first-party plugins"


def bench_cli(farms: _Farms, processes: int = 21, few: int = 9) -> list[dict]:
    """Wall time of whole fresh processes of ``losses list``, as measured by
    the parent around ``subprocess.run``; the output's rows are counted, so a
    listing that lost the synthetic plugins does not pass."""
    static, many = farms.get(SYNTH_PLUGINS), farms.get(MANY_SYNTH_PLUGINS)
    dynamic = farms.get(SYNTH_PLUGINS, dynamic=True)
    losses = [*_losses_command(), "list"]
    installed = _first_party_label()
    env, cold = farms.env, partial(farms.env, cache=False)
    cases = [
        # label, argv, environment, synthetic losses expected, budget, processes
        ("python -c pass (reference)", [sys.executable, "-c", "pass"], env(static), None, None, processes),
        (
            f"losses list, {installed} + {SYNTH_PLUGINS} synthetic",
            losses,
            env(static),
            SYNTH_PLUGINS,
            CLI_BUDGET_S,
            processes,
        ),
        (
            f"losses list, + {SYNTH_PLUGINS} synthetic, no scan cache",
            losses,
            cold(static),
            SYNTH_PLUGINS,
            None,
            few,
        ),
        (f"losses list, {installed} only", losses, env(None), 0, None, processes),
        (
            f"python -m losses_core list, + {SYNTH_PLUGINS} synthetic",
            [sys.executable, "-m", "losses_core", "list"],
            env(static),
            SYNTH_PLUGINS,
            None,
            few,
        ),
        (f"losses list, + {MANY_SYNTH_PLUGINS} synthetic", losses, env(many), MANY_SYNTH_PLUGINS, None, few),
        (
            f"losses list, + {MANY_SYNTH_PLUGINS} synthetic, no scan cache",
            losses,
            cold(many),
            MANY_SYNTH_PLUGINS,
            None,
            few,
        ),
        (
            f"losses list, + {SYNTH_PLUGINS} synthetic, dynamic form",
            losses,
            env(dynamic),
            SYNTH_PLUGINS,
            None,
            few,
        ),
    ]

    cases = _without_cold(cases)

    def runner(argv: list[str], env: dict[str, str]) -> Callable[[], dict]:
        def run() -> dict:
            started = time.perf_counter()
            proc = _run(argv, env)
            seconds = time.perf_counter() - started
            lines = proc.stdout.splitlines()
            return {
                "s": seconds,
                "rows": max(len(lines) - 2, 0),
                "synthetic": sum(1 for line in lines if line.startswith("synth_")),
                "stderr": proc.stderr.strip(),
            }

        return run

    samples = _interleaved([(runner(argv, environ), count) for _, argv, environ, _, _, count in cases])
    reference = _median([r["s"] for r in samples[0]])
    rows = []
    for (label, _, _, synthetic, budget, _), runs in zip(cases, samples, strict=True):
        seconds = [r["s"] for r in runs]
        median = _median(seconds)
        last = runs[-1]
        notes = [f"median of {len(runs)} fresh processes ({_spread(seconds, 3)})"]
        complete = synthetic is None or last["synthetic"] == synthetic
        if synthetic is None:
            notes.append("the interpreter's own start-up")
        else:
            notes.append(f"{median - reference:+.3f} s over python -c pass")
            notes.append(f"{last['rows']} losses listed, {last['synthetic']} of them synthetic")
            if not complete:
                notes.append(f"EXPECTED {synthetic} synthetic losses")
        if last["stderr"]:
            notes.append(f"stderr: {last['stderr'][:200]!r}")
        rows.append(
            _row(
                "cli",
                label,
                s=round(median, 4),
                min_s=round(min(seconds), 4),
                budget=f"<= {budget:.2f} s" if budget else "",
                within_budget=(median <= budget and complete) if budget else None,
                note="; ".join(notes),
            )
        )
    return rows


# -- 3. import + first lookup -------------------------------------------------------------
_LOOKUP_PROBE = r"""
import json, sys, time
name = sys.argv[1]
t0 = time.perf_counter()
import torch
before = set(sys.modules)
c1 = time.process_time()
t1 = time.perf_counter()
import losses_core
from losses_core import LOSSES
t2 = time.perf_counter()
LOSSES[name]
t3 = time.perf_counter()
c3 = time.process_time()
new = sorted(set(sys.modules) - before)
print(json.dumps({
    "torch_ms": (t1 - t0) * 1e3,
    "import_ms": (t2 - t1) * 1e3,
    "lookup_ms": (t3 - t2) * 1e3,
    "ms": (t3 - t1) * 1e3,
    "cpu_ms": (c3 - c1) * 1e3,
    "new": new,
}))
"""


def _module_summary(new: list[str]) -> str:
    """The ``losses_*`` modules among ``new`` (losses_core's as one group), then the others."""
    core = [m.removeprefix("losses_core") or "(package)" for m in new if m.split(".")[0] == "losses_core"]
    plugins = [m for m in new if m.startswith("losses_") and m.split(".")[0] != "losses_core"]
    others = [m for m in new if not m.startswith("losses_")]
    return "; ".join(
        f"{label}: {len(names)} ({_some(names)})" if names else f"{label}: none"
        for label, names in (("losses_core", core), ("plugin modules", plugins), ("others", others))
    )


def _some(names: list[str], shown: int = 20) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)" if len(names) > shown else "")


def bench_lookup(farms: _Farms, processes: int = 15, few: int = 7) -> list[dict]:
    """``import losses_core`` + the first ``LOSSES[name]`` over ``import torch``."""
    static, dynamic = farms.get(SYNTH_PLUGINS), farms.get(SYNTH_PLUGINS, dynamic=True)
    installed = _first_party_label()
    env, cold = farms.env, partial(farms.env, cache=False)
    cases = [
        # label, loss, environment, budget, processes
        (f"LOSSES['mse'], {installed}", "mse", env(None), LOOKUP_BUDGET_MS, processes),
        (f"LOSSES['beta_vae'], {installed}", "beta_vae", env(None), LOOKUP_BUDGET_MS, processes),
        (f"LOSSES['mse'], + {SYNTH_PLUGINS} synthetic", "mse", env(static), LOOKUP_BUDGET_MS, processes),
        (
            f"LOSSES['beta_vae'], + {SYNTH_PLUGINS} synthetic",
            "beta_vae",
            env(static),
            LOOKUP_BUDGET_MS,
            processes,
        ),
        (
            f"LOSSES['synth_7'], + {SYNTH_PLUGINS} synthetic",
            "synth_7",
            env(static),
            LOOKUP_BUDGET_MS,
            processes,
        ),
        (f"LOSSES['mse'], + {SYNTH_PLUGINS} synthetic, no scan cache", "mse", cold(static), None, few),
        (
            f"LOSSES['synth_7'], + {SYNTH_PLUGINS} synthetic, no scan cache",
            "synth_7",
            cold(static),
            None,
            few,
        ),
        (f"LOSSES['synth_7'], + {SYNTH_PLUGINS} synthetic, dynamic form", "synth_7", env(dynamic), None, few),
    ]
    cases = _without_cold(cases)
    samples = _interleaved(
        [(partial(_run_json, _LOOKUP_PROBE, environ, name), count) for _, name, environ, _, count in cases]
    )
    rows = []
    for (label, _, _, budget, _), runs in zip(cases, samples, strict=True):
        ms = [r["ms"] for r in runs]
        median = _median(ms)
        last = runs[-1]
        notes = [
            f"median of {len(runs)} fresh processes ({_spread(ms)}); import losses_core "
            f"{_median([r['import_ms'] for r in runs]):.1f} ms + lookup "
            f"{_median([r['lookup_ms'] for r in runs]):.1f} ms; CPU time "
            f"{_median([r['cpu_ms'] for r in runs]):.1f} ms",
            f"aim {LOOKUP_AIM_MS:.0f} ms: {'met' if median <= LOOKUP_AIM_MS else 'not met'}"
            if budget
            else "information",
            f"imports {len(last['new'])} modules: {_module_summary(last['new'])}",
        ]
        rows.append(
            _row(
                "lookup",
                label,
                over_torch_ms=round(median, 2),
                min_ms=round(min(ms), 2),
                torch_ms=round(_median([r["torch_ms"] for r in runs]), 1),
                new_modules=len(last["new"]),
                losses_modules=[m for m in last["new"] if m.startswith("losses_")],
                budget=f"<= {budget:.0f} ms" if budget else "",
                within_budget=median <= budget if budget else None,
                note="; ".join(notes),
            )
        )
    return rows


# -- 4. first listing --------------------------------------------------------------------
_LISTING_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from losses_core import list_losses
t1 = time.perf_counter()
c1 = time.process_time()
losses = list_losses()
c2 = time.process_time()
t2 = time.perf_counter()
plugin_modules = sorted(
    m for m in sys.modules if m.startswith("losses_") and m.split(".")[0] != "losses_core"
)
print(json.dumps({
    "import_ms": (t1 - t0) * 1e3,
    "ms": (t2 - t1) * 1e3,
    "cpu_ms": (c2 - c1) * 1e3,
    "losses": len(losses),
    "synthetic": sum(1 for info in losses if info.name.startswith("synth_")),
    "plugin_modules": plugin_modules,
    "torch": "torch" in sys.modules,
    "modules": len(sys.modules),
}))
"""


def bench_listing(farms: _Farms, processes: int = 15, few: int = 7) -> list[dict]:
    """The first ``list_losses()`` in a fresh process that imported nothing else first."""
    static, many = farms.get(SYNTH_PLUGINS), farms.get(MANY_SYNTH_PLUGINS)
    dynamic = farms.get(SYNTH_PLUGINS, dynamic=True)
    installed = _first_party_label()
    env, cold = farms.env, partial(farms.env, cache=False)
    listing = "first list_losses(),"
    cases = [
        # label, environment, synthetic, budget, processes
        (
            f"{listing} {installed} + {SYNTH_PLUGINS} synthetic",
            env(static),
            SYNTH_PLUGINS,
            LISTING_BUDGET_MS,
            processes,
        ),
        (f"{listing} + {SYNTH_PLUGINS} synthetic, no scan cache", cold(static), SYNTH_PLUGINS, None, few),
        (f"{listing} + {MANY_SYNTH_PLUGINS} synthetic", env(many), MANY_SYNTH_PLUGINS, None, few),
        (f"{listing} + {SYNTH_PLUGINS} synthetic, dynamic form", env(dynamic), SYNTH_PLUGINS, None, few),
    ]
    cases = _without_cold(cases)
    samples = _interleaved(
        [(partial(_run_json, _LISTING_PROBE, environ), count) for _, environ, _, _, count in cases]
    )
    rows = []
    for (label, _, synthetic, budget, _), runs in zip(cases, samples, strict=True):
        ms = [r["ms"] for r in runs]
        median = _median(ms)
        last = runs[-1]
        imported = sorted({m for r in runs for m in r["plugin_modules"]})
        torch_imported = any(r["torch"] for r in runs)
        clean = not imported and not torch_imported and last["synthetic"] == synthetic
        notes = [
            f"median of {len(runs)} fresh processes ({_spread(ms)}); import losses_core "
            f"{_median([r['import_ms'] for r in runs]):.1f} ms before it; CPU time "
            f"{_median([r['cpu_ms'] for r in runs]):.1f} ms",
            f"{last['losses']} losses listed, {last['synthetic']} synthetic",
            f"plugin modules imported: {len(imported)}" + (f" ({_some(imported, 6)})" if imported else ""),
            f"torch imported: {'YES' if torch_imported else 'no'}",
            f"{last['modules']} modules in sys.modules",
        ]
        if budget and not clean:
            notes.append(
                "FAILS: the listing must import no plugin module and not torch, and list every synthetic loss"
            )
        rows.append(
            _row(
                "listing",
                label,
                ms=round(median, 2),
                min_ms=round(min(ms), 2),
                plugin_modules_imported=len(imported),
                torch_imported=torch_imported,
                budget=f"<= {budget:.0f} ms, no plugin/torch import" if budget else "",
                within_budget=(median <= budget and clean) if budget else None,
                note="; ".join(notes),
            )
        )
    return rows


# -- profile --------------------------------------------------------------------------------
_BREAKDOWN_PROBE = r"""
import json, sys, time
mode = sys.argv[1]
t0 = time.perf_counter()
from losses_core import list_losses
from losses_core._metadata import scan_installed
from losses_core._plugins import LOADER
t1 = time.perf_counter()
if mode == "scan, no cache":
    scan_installed(use_cache=False)
elif mode == "scan":
    scan_installed()
elif mode == "catalogue":
    LOADER.catalogue()
else:
    list_losses()
print(json.dumps({"ms": (time.perf_counter() - t1) * 1e3, "import_ms": (t1 - t0) * 1e3}))
"""

_CPROFILE_PROBE = r"""
import cProfile, contextlib, io, pstats, sys
what = sys.argv[1]
if what == "cli":
    from losses_core._cli import main
    run = lambda: main(["list"])
elif what == "listing":
    import losses_core
    run = losses_core.list_losses
else:
    import torch
    def run():
        from losses_core import LOSSES
        LOSSES[what]
profile = cProfile.Profile()
with contextlib.redirect_stdout(io.StringIO()):
    profile.enable()
    run()
    profile.disable()
out = io.StringIO()
pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
print(out.getvalue())
"""

_LOOKUP_BREAKDOWN_PROBE = r"""
import json, sys, time
name = sys.argv[1]
import torch
clock = time.perf_counter
t0 = clock()
import losses_core
from losses_core import LOSSES
t1 = clock()
from losses_core._plugins import LOADER
LOADER.catalogue()
t2 = clock()
LOADER.start()
t3 = clock()
LOSSES[name]
t4 = clock()
print(json.dumps({
    "import losses_core, LOSSES": (t1 - t0) * 1e3,
    "catalogue (controls, scan, declarations)": (t2 - t1) * 1e3,
    "start (hook and dynamic plugins)": (t3 - t2) * 1e3,
    "LOSSES[name] (the loss's module, the handle)": (t4 - t3) * 1e3,
    "total": (t4 - t0) * 1e3,
}))
"""

_IMPORTTIME_LOOKUP = r"""
import sys
import torch
sys.stderr.write("--- after torch ---\n")
sys.stderr.flush()
from losses_core import LOSSES
LOSSES[sys.argv[1]]
"""


def _importtime(argv: list[str], env: dict[str, str], after_marker: bool = False) -> str:
    """A summary of ``-X importtime``: total, by top-level package, and the slowest modules (self time)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env, check=False
    )
    lines = proc.stderr.splitlines()
    if after_marker and "--- after torch ---" in lines:
        lines = lines[lines.index("--- after torch ---") + 1 :]
    entries = []
    for line in lines:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        entries.append((int(self_us), name.strip()))
    by_package: dict[str, int] = {}
    for us, name in entries:
        top = name.split(".")[0]
        by_package[top] = by_package.get(top, 0) + us
    total = sum(us for us, _ in entries)
    packages = sorted(by_package.items(), key=lambda item: -item[1])[:12]
    slowest = sorted(entries, reverse=True)[:12]
    return (
        f"    {len(entries)} modules, {total / 1e3:.1f} ms of imports (self times summed)\n"
        + "    by top-level package: "
        + ", ".join(f"{name} {us / 1e3:.1f}" for name, us in packages)
        + " ms\n    slowest modules (self): "
        + ", ".join(f"{name} {us / 1e3:.1f}" for us, name in slowest)
        + " ms"
    )


def profile(farms: _Farms, processes: int = 7) -> None:
    """Print where the time of the listing and of the first lookup goes."""
    env = farms.env(farms.get(SYNTH_PLUGINS))
    print(
        f"Breakdown of the first listing with {SYNTH_PLUGINS} synthetic plugins "
        f"(median of {processes} processes):"
    )
    steps = {
        "scan_installed(use_cache=False) (every .dist-info folder read)": "scan, no cache",
        "scan_installed() (the scan cache, warm)": "scan",
        "LOADER.catalogue() (controls, scan, declarations into the registry)": "catalogue",
        "list_losses() (everything)": "listing",
    }
    if not _has_scan_cache():
        steps = {
            "scan_installed() (every .dist-info folder read)": "scan",
            **{k: v for k, v in steps.items() if v not in ("scan", "scan, no cache")},
        }
    samples = _interleaved(
        [(partial(_run_json, _BREAKDOWN_PROBE, env, mode), processes) for mode in steps.values()]
    )
    for label, runs in zip(steps, samples, strict=True):
        print(f"  {_median([r['ms'] for r in runs]):7.1f} ms  {label}")
    print(
        f"  {_median([r['import_ms'] for r in samples[0]]):7.1f} ms  "
        "(before them: import losses_core, _listing, _metadata and _plugins)"
    )
    for farm, where in (
        (None, "installed plugins only"),
        (farms.get(SYNTH_PLUGINS), f"+ {SYNTH_PLUGINS} synthetic"),
    ):
        for name in ("mse", "beta_vae", "synth_7") if farm else ("mse", "beta_vae"):
            runs = _interleaved(
                [(partial(_run_json, _LOOKUP_BREAKDOWN_PROBE, farms.env(farm), name), processes)]
            )[0]
            parts = ", ".join(f"{key} {_median([r[key] for r in runs]):.1f}" for key in runs[0])
            print(f"Breakdown of import losses_core + LOSSES[{name!r}] after torch, {where}: {parts} ms")
    cprofiles = [
        ("listing", "the first list_losses()"),
        ("cli", "losses list (_cli.main(['list']))"),
        ("mse", "import losses_core + LOSSES['mse'] after torch"),
    ]
    for what, title in cprofiles:
        proc = subprocess.run(
            [sys.executable, "-c", _CPROFILE_PROBE, what],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        print(f"cProfile of {title} with {SYNTH_PLUGINS} synthetic plugins (profiling inflates it):")
        print(proc.stdout[:7000] or proc.stderr[-3000:])
    print(f"-X importtime of losses list with {SYNTH_PLUGINS} synthetic plugins:")
    print(_importtime(["-m", "losses_core", "list"], env))
    for name in ("mse", "beta_vae", "synth_7"):
        print(
            f"-X importtime of import losses_core + LOSSES[{name!r}] after torch, "
            f"{SYNTH_PLUGINS} synthetic plugins:"
        )
        print(_importtime(["-c", _IMPORTTIME_LOOKUP, name], env, after_marker=True))
    print()


# -- table ---------------------------------------------------------------------------------
def _measure_text(row: dict) -> str:
    if row["benchmark"] == "call":
        return f"{row['min_us']:.2f} us min, {row['median_us']:.2f} us median"
    if row["benchmark"] == "cli":
        return f"{row['s']:.3f} s (min {row['min_s']:.3f})"
    if row["benchmark"] == "lookup":
        over = f"+{row['over_torch_ms']:.1f} ms over torch"
        return f"{over} (min {row['min_ms']:.1f}), {row['new_modules']} modules"
    return f"{row['ms']:.1f} ms (min {row['min_ms']:.1f})"


def print_table(rows: list[dict]) -> None:
    table = []
    for row in rows:
        ok = {True: "ok", False: "MISSED", None: "info"}[row["within_budget"]]
        ratio = f"{row['ratio']:.3f}x" if "ratio" in row else ""
        table.append([row["benchmark"], row["case"], _measure_text(row), ratio, row["budget"] or "none", ok])
    headers = ["BENCH", "CASE", "MEASURED", "RATIO", "BUDGET", "RESULT"]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()
    for row in rows:
        if row.get("note"):
            print(f"- {row['benchmark']} / {row['case']}: {row['note']}")


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv: list[str] | None = None) -> list[dict]:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    started = time.perf_counter()
    import losses_core

    where = Path(losses_core.__file__).parent.parent
    print(
        f"start: {os.cpu_count()} CPUs, {_load()}; losses-core {losses_core.__version__} from {where}",
        flush=True,
    )
    rows = bench_call_overhead(rounds=20 if quick else 60)
    print_table(rows)  # early feedback: the subprocess benchmarks take a while
    print(flush=True)
    with tempfile.TemporaryDirectory(prefix="losses-plugin-farms-") as tmp:
        farms = _Farms(Path(tmp))
        farms.get(SYNTH_PLUGINS)
        farms.get(MANY_SYNTH_PLUGINS)
        farms.get(SYNTH_PLUGINS, dynamic=True)
        rows += bench_cli(farms, processes=7 if quick else 21, few=3 if quick else 9)
        rows += bench_lookup(farms, processes=5 if quick else 15, few=3 if quick else 7)
        rows += bench_listing(farms, processes=5 if quick else 15, few=3 if quick else 7)
        if "--profile" in args:
            profile(farms, processes=3 if quick else 7)
        written = farms.describe()
    elapsed = time.perf_counter() - started
    print(
        f"losses-core benchmarks ({elapsed:.0f} s; {os.cpu_count()} CPUs, {_load()}; "
        "a shared machine is noisy; "
        f"synthetic plugin farms written: {written})"
    )
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
