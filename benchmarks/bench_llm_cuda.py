"""GPU memory and speed of ``causal_lm``'s chunked path against the unfused loss,
Liger-Kernel's fused linear cross-entropy and Cut Cross-Entropy.

Runs only where ``torch.cuda.is_available()``; elsewhere it prints
``skipped: no CUDA device`` and returns no rows. Shape: 8,192 tokens
(B=8 x T=1024), H=4096, V=128,256 (a Llama-3 8B head), bfloat16 hidden
states and head weight, both requiring grad. Variants, each forward +
backward (``loss.backward()``):

- ``chunked``: ``losses_llm.causal_lm`` on ``hidden_states`` and
  ``lm_head_weight`` (ours; float32 logits chunk by chunk, float32
  accumulation of the weight's gradient);
- ``unfused``: ``F.linear`` to the ``[B, T, V]`` logits, upcast to float32,
  ``F.cross_entropy`` on shifted labels (transformers' ``ForCausalLMLoss``);
- ``logits``: ``losses_llm.causal_lm`` on those logits (ours, unchunked);
- ``liger``: ``LigerFusedLinearCrossEntropyLoss`` (Triton), if
  ``liger_kernel`` is installed;
- ``cce``: ``cut_cross_entropy.linear_cross_entropy(impl="cce")`` (Triton,
  its default gradient filtering), if installed.

Memory: after one warm-up run (which also compiles the Triton kernels) and
``torch.cuda.empty_cache()``, ``torch.cuda.max_memory_allocated()`` during
one run minus ``torch.cuda.memory_allocated()`` before it (the inputs): the
memory the loss needs, its gradients included. Time: the median of
``--repeats`` runs (default 10) timed with CUDA events. Ratios are against
``unfused``; a variant that runs out of memory is reported as such. The rows
are for information (``within_budget`` None): the budgets are those of the
CPU benchmark (``bench_llm.py``).

Run: ``python benchmarks/bench_llm_cuda.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _llm_cases import Case, Shape, available, causal_lm_case  # noqa: E402

SHAPE = Shape(8, 1024, 4096, 128_256)
MIB = 1 << 20
OPTIONAL = {"liger": "liger_kernel", "cce": "cut_cross_entropy"}


def _clear(inputs: dict[str, Any], case: Case) -> None:
    for name in case.leaves:
        inputs[name].grad = None


def _run_once(case: Case, variant: str, inputs: dict[str, Any]) -> None:
    _clear(inputs, case)
    case.variants[variant](inputs).backward()


def measure(case: Case, variant: str, inputs: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Peak memory over the inputs and the median time of forward + backward."""
    _run_once(case, variant, inputs)  # warm-up: Triton compilation, cuBLAS handles
    _clear(inputs, case)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    loss = case.variants[variant](inputs)
    loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    value = float(loss.detach())
    del loss
    times = []
    for _ in range(repeats):
        _clear(inputs, case)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        case.variants[variant](inputs).backward()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return {"peak_mib": peak / MIB, "ms": statistics.median(times), "loss": value}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return []
    case = causal_lm_case(SHAPE)
    variants = [v for v in case.variants if v not in OPTIONAL or available(OPTIONAL[v])]
    missing = [f"{v} ({OPTIONAL[v]} not installed)" for v in OPTIONAL if v not in variants]
    device = torch.cuda.get_device_name()
    print(f"{device}, torch {torch.__version__}; {case.describe()}, bfloat16", flush=True)
    inputs = case.make("full", "cuda", torch.bfloat16)
    results: dict[str, dict[str, Any]] = {}
    for variant in variants:
        try:
            results[variant] = measure(case, variant, inputs, args.repeats)
        except torch.cuda.OutOfMemoryError:
            results[variant] = {"error": "out of memory"}
        except Exception as exc:  # a reference that cannot run here is reported, not fatal
            results[variant] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        _clear(inputs, case)
        torch.cuda.empty_cache()
    ref = results.get("unfused", {})
    rows = []
    for variant, result in results.items():
        row: dict[str, Any] = {
            "benchmark": "causal_lm (cuda)",
            "case": f"causal_lm cuda: {variant}",
            "shape": f"{case.describe()}, bfloat16, {device}",
            "budget": "",
            "within_budget": None,
            **result,
        }
        if "error" not in result and "error" not in ref:
            row["memory_ratio"] = result["peak_mib"] / ref["peak_mib"]
            row["time_ratio"] = result["ms"] / ref["ms"]
        rows.append(row)
    header = ("variant", "peak MiB", "ms", "memory/unfused", "time/unfused", "loss")
    print(" ".join(f"{h:{w}s}" for h, w in zip(header, ("10", ">10", ">9", ">15", ">13", ">9"), strict=True)))
    for row in rows:
        variant = row["case"].rsplit(" ", 1)[-1]
        if "error" in row:
            print(f"{variant:10s} {row['error']}")
            continue
        ratios = (
            f"{row['memory_ratio']:15.3f} {row['time_ratio']:13.3f}" if "memory_ratio" in row else f"{'':29s}"
        )
        print(f"{variant:10s} {row['peak_mib']:10.0f} {row['ms']:9.2f} {ratios} {row['loss']:9.4f}")
    for note in missing:
        print(f"- not run: {note}")
    return rows


if __name__ == "__main__":
    main()
