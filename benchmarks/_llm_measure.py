"""Measurements of the losses-llm CPU benchmark, each in a fresh process.

``python benchmarks/_llm_measure.py memory CASE VARIANT --threads N`` and
``python benchmarks/_llm_measure.py time CASE --threads N --rounds R`` print
one JSON line; ``bench_llm.py`` starts them and reads it.

Memory (one variant per process, so that nothing another variant allocated
or the allocator cached is counted or reused):

1. torch is imported and its thread count set; the variant runs once on a
   tiny shape (``Case.tiny``), which loads the code paths and starts the
   thread pools without allocating anything at the benchmarked size;
2. the inputs are built (hidden states and LM head weight that require
   grad, labels, ...); the resident set size then is the *baseline*;
3. the kernel's high-water mark of the resident set is reset to the current
   RSS (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) and the variant
   runs forward and backward once (``loss.backward()``: the gradients of the
   hidden states and of the weight are allocated, as in training);
4. the *peak* is the high-water mark (``VmHWM`` in ``/proc/self/status``).

The figure compared is ``peak - baseline``: the memory the loss's forward and
backward needed on top of its inputs, gradients included. Where the mark
cannot be reset, a thread samples the RSS every millisecond instead (noted in
the result). The bench runs these processes with glibc's
``MALLOC_MMAP_THRESHOLD_`` fixed at 1 MiB: every buffer above it is mapped
when allocated and unmapped when freed, so the RSS follows what is alive
rather than what glibc's adaptive threshold keeps cached in its heap.

Time (one process, all variants on the same inputs): each variant runs once
on the tiny shape (warm-up), then ``rounds`` rounds run each variant once at
the benchmarked shape, in rotating order, so that load changes on a shared
machine hit all alike; each run is ``loss = variant(inputs);
loss.backward()``, the gradients set to ``None`` before it, timed both in
wall time (``time.perf_counter``) and in the process's CPU time
(``time.process_time``, all threads). The first round also checks that the
variants agree: their loss values and the gradients of the inputs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

MIB = 1 << 20


def rss_bytes() -> int:
    """The current resident set size."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS; whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_bytes() -> int:
    """The RSS high-water mark (``VmHWM``), or ``ru_maxrss`` without ``/proc``."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Sampler:
    """The largest RSS seen by a thread that reads it every millisecond."""

    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def _case(name: str) -> Any:
    from _llm_cases import cpu_cases

    return cpu_cases()[name]


def _leaves(inputs: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    return [inputs[n] for n in names if n in inputs]


def measure_memory(case_name: str, variant: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    case = _case(case_name)
    fn = case.variants[variant]
    tiny = case.make("tiny")
    fn(tiny).backward()
    del tiny
    gc.collect()

    inputs = case.make("full")
    gc.collect()
    baseline = rss_bytes()
    method = "VmHWM reset"
    started = time.perf_counter()
    if reset_peak():
        loss = fn(inputs)
        loss.backward()
        peak = peak_bytes()
    else:
        method = "1 ms RSS sampler"
        with _Sampler() as sampler:
            loss = fn(inputs)
            loss.backward()
        peak = sampler.peak
    seconds = time.perf_counter() - started
    return {
        "case": case_name,
        "variant": variant,
        "baseline_mib": baseline / MIB,
        "peak_mib": peak / MIB,
        "delta_mib": (peak - baseline) / MIB,
        "loss": float(loss.detach()),
        "seconds": seconds,
        "method": method,
        "threads": torch.get_num_threads(),
    }


def measure_time(case_name: str, variants: list[str], threads: int, rounds: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    case = _case(case_name)
    tiny = case.make("tiny")
    for name in variants:  # load the code paths and start the thread pools
        case.variants[name](tiny).backward()
    del tiny
    inputs = case.make("full")
    leaves = _leaves(inputs, case.leaves)
    losses: dict[str, float] = {}
    grads: dict[str, list[Any]] = {}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        k = r % len(variants)
        for name in variants[k:] + variants[:k]:
            for leaf in leaves:
                leaf.grad = None
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            loss = case.variants[name](inputs)
            loss.backward()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
            if r == 0:  # the values to compare
                losses[name] = float(loss.detach())
                grads[name] = [leaf.grad for leaf in leaves]
            del loss
        if r == 0:
            first = variants[0]
            agreement = {
                name: max(
                    float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
                    for a, b in zip(grads[name], grads[first], strict=True)
                )
                for name in variants[1:]
            }
            grads.clear()
    return {
        "case": case_name,
        "wall_ms": {name: statistics.median(s) * 1e3 for name, s in wall.items()},
        "cpu_ms": {name: statistics.median(s) * 1e3 for name, s in cpu.items()},
        "wall_samples_ms": {name: [round(t * 1e3, 1) for t in s] for name, s in wall.items()},
        "cpu_samples_ms": {name: [round(t * 1e3, 1) for t in s] for name, s in cpu.items()},
        "loss": losses,
        "grad_rel_diff": agreement,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("memory", "time"))
    parser.add_argument("case")
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "memory":
        (variant,) = args.variants
        result = measure_memory(args.case, variant, args.threads)
    else:
        result = measure_time(args.case, args.variants, args.threads, args.rounds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
