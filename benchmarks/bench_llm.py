"""Memory and speed of losses-llm's chunked losses on CPU, with their budgets.

Each case runs forward + backward (``loss.backward()``, which allocates the
gradients of the hidden states and of the LM head's weight, as training does)
of our loss on the hidden-states path (the logits are computed chunk by
chunk, never all at once) against a reference on the same inputs, float32:

1. ``causal_lm``: ``losses_llm.causal_lm`` on ``hidden_states`` and
   ``lm_head_weight`` against ``F.linear`` + ``F.cross_entropy`` (what a
   causal LM computes without a fused loss: the ``[B, T, V]`` logits, shifted
   labels, the mean over the target tokens), 2,048 tokens (B=2 x T=1024),
   H=512, V=131,072. Budgets: peak memory at most 0.25x the reference's, time
   at most 1.2x.
2. ``dpo`` (sigmoid) against Liger-Kernel's ``LigerFusedLinearDPOLoss``
   (``compiled=False``, its default chunk of one pair) and
3. ``grpo`` (``loss_type="dapo"``) against ``LigerFusedLinearGRPOLoss``
   (``compiled=False``, ``loss_type="dapo"``), at CPU-sized shapes: DPO
   B=8 pairs (16 sequences) x T=256, GRPO B=8 completions x T=256, H=512,
   V=32,768 (a GPU step of a 7-8B model, B x T x H x V scaled down by about
   2,000). Both sides keep their default chunks: for DPO one pair (2**24
   logits) on each; for GRPO 256 tokens (2**23 logits) for ours, one sequence
   in vocabulary slices of 4,096 (recomputed in the backward pass) for
   Liger. DPO runs without a reference model on both sides
   (``reference_free=True`` / ``use_ref_model=False``: the reference's
   forward pass is outside both); GRPO with ``beta=0.04`` and given
   reference and old log-probs, clipping at 0.2 / 0.28. Budgets: peak memory
   and time at most 1.0x Liger's.

Both sides of a case compute the same loss: each time process checks that
their loss values and gradients agree (the ``agree`` column: the largest
gradient difference relative to the largest gradient).

Memory: each variant in a fresh process (``_llm_measure.py``: a warm-up at
a tiny shape, the inputs built, the resident set size then is the baseline,
the kernel's RSS high-water mark reset, one forward + backward, the mark
read); the figure is peak - baseline in MiB (the weight's gradient, V x H
float32, is part of both sides). Time: one process per case, both variants
on the same inputs, a warm-up of each at a tiny shape, then ``--rounds``
rounds of one forward + backward of each in rotating order; the median is
budgeted, by default of the process's CPU time with one thread
(``--clock cpu --threads 1``: exact with one thread, and what a loaded,
shared machine disturbs least), and the other clock's ratio is printed
beside it. ``--threads N --clock wall`` times elapsed time with N threads;
on a machine whose cores other work also uses, threads wait for each other
at every parallel region, which slows the variants with many small
operations most (the chunked loops, Liger's per-sequence chunks), so such
ratios say more about the load than about the losses: compare the load
averages printed at the start and the end.

Run: ``python benchmarks/bench_llm.py [--quick] [--threads N] [--clock
cpu|wall] [--rounds R] [CASE ...]`` (``hatch run bench:python benchmarks/bench_llm.py``); the
whole module takes about 4 minutes on 2 cores. ``main()`` prints the table and
returns the rows (dicts with ``within_budget``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

MEASURE = HERE / "_llm_measure.py"
MMAP_THRESHOLD = str(1 << 20)

BUDGETS: dict[str, tuple[float, float]] = {
    # case: (peak memory ratio, time ratio), ours / reference
    "causal_lm": (0.25, 1.2),
    "dpo": (1.0, 1.0),
    "grpo": (1.0, 1.0),
}


def _env(threads: int, memory: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if memory:
        env["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD
    return env


def _worker(args: list[str], threads: int, memory: bool) -> dict[str, Any]:
    argv = [sys.executable, str(MEASURE), *args, "--threads", str(threads)]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=_env(threads, memory), check=False, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark process {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_case(name: str, threads: int, rounds: int, clock: str) -> list[dict[str, Any]]:
    from _llm_cases import cpu_cases

    case = cpu_cases()[name]
    memory_budget, time_budget = BUDGETS[name]
    ours, ref = case.ours, case.reference
    memory = {variant: _worker(["memory", name, variant], threads, memory=True) for variant in (ours, ref)}
    timing = _worker(["time", name, ours, ref, "--rounds", str(rounds)], threads, memory=False)
    shape = case.describe()
    common = {
        "benchmark": name,
        "shape": shape,
        "threads": threads,
        "ours": ours,
        "reference": ref,
        "notes": case.notes,
    }
    mem_ratio = memory[ours]["delta_mib"] / memory[ref]["delta_mib"]
    ms = timing[f"{clock}_ms"]
    other = timing["cpu_ms" if clock == "wall" else "wall_ms"]
    time_ratio = ms[ours] / ms[ref]
    agree = timing["grad_rel_diff"][ref]
    loss_diff = abs(timing["loss"][ours] - timing["loss"][ref])
    return [
        {
            **common,
            "case": f"{name}: peak memory",
            "ours_mib": memory[ours]["delta_mib"],
            "reference_mib": memory[ref]["delta_mib"],
            "baseline_mib": {v: m["baseline_mib"] for v, m in memory.items()},
            "method": memory[ours]["method"],
            "ratio": mem_ratio,
            "budget": f"<= {memory_budget:.2f}x",
            "within_budget": mem_ratio <= memory_budget,
        },
        {
            **common,
            "case": f"{name}: forward+backward time",
            "clock": clock,
            "ours_ms": ms[ours],
            "reference_ms": ms[ref],
            "other_clock_ratio": other[ours] / other[ref],
            "wall_samples_ms": timing["wall_samples_ms"],
            "cpu_samples_ms": timing["cpu_samples_ms"],
            "loss": timing["loss"],
            "loss_abs_diff": loss_diff,
            "grad_rel_diff": agree,
            "ratio": time_ratio,
            "budget": f"<= {time_budget:.2f}x",
            "within_budget": time_ratio <= time_budget,
        },
    ]


def _measured(row: dict[str, Any]) -> str:
    if "ours_mib" in row:
        return f"{row['ours_mib']:.0f} MiB vs {row['reference_mib']:.0f} MiB"
    other = "cpu" if row["clock"] == "wall" else "wall"
    return (
        f"{row['ours_ms']:.0f} ms vs {row['reference_ms']:.0f} ms {row['clock']} "
        f"({other} time: {row['other_clock_ratio']:.3f}x)"
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["CASE", "OURS VS REFERENCE", "MEASURED (ours vs ref)", "RATIO", "AGREE", "BUDGET", "RESULT"]
    table = [
        [
            row["case"],
            f"{row['ours']} vs {row['reference']}",
            _measured(row),
            f"{row['ratio']:.3f}x",
            f"{row['grad_rel_diff']:.1e}" if "grad_rel_diff" in row else "",
            row["budget"],
            {True: "ok", False: "MISSED", None: "info"}[row["within_budget"]],
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print()
    for name in dict.fromkeys(row["benchmark"] for row in rows):
        row = next(r for r in rows if r["benchmark"] == name)
        notes = "".join(f"; {note}" for note in row["notes"])
        print(f"- {name}: {row['shape']}, float32, {_threads(row['threads'])}{notes}")


def _threads(n: int) -> str:
    return f"{n} thread{'' if n == 1 else 's'}"


def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"default: all of {', '.join(BUDGETS)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3, --quick 2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="cpu",
        help="the budgeted time: the process's CPU time, all threads (default), or elapsed time",
    )
    # benchmarks/run.py passes every --option to every module: ignore the others' options
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    unknown = sorted(set(args.cases) - set(BUDGETS))
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; have {list(BUDGETS)}")
    rounds = args.rounds or (2 if args.quick else 3)
    import torch

    from _llm_cases import cpu_cases

    started = time.perf_counter()
    cases = cpu_cases()
    names = [n for n in (args.cases or BUDGETS) if n in cases]
    print(
        f"start: {os.cpu_count()} CPUs, {_load()}, torch {torch.__version__}, {_threads(args.threads)}, "
        f"{rounds} timed rounds; malloc mmap threshold {MMAP_THRESHOLD} B in the memory processes",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for name in names:
        print(f"{name}: {cases[name].describe()} ...", flush=True)
        rows += bench_case(name, args.threads, rounds, args.clock)
    print(f"losses-llm CPU benchmarks ({time.perf_counter() - started:.0f} s; {_load()})")
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
