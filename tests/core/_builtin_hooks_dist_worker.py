"""One of the two gloo processes of test_core_builtin_hooks_distributed.py.

Each rank collects its own calls with ``MetricsCollector(reduce_across_ranks=True)``
and writes what ``summary()`` returned, and which tensor-to-host methods it
called, to ``<out>/rank<rank>.json``:

- ``different``: the ranks made different numbers of calls (rank 0 one, rank 1
  three) and rank 1 reported a metric rank 0 never saw;
- ``same``: both ranks collected the same 13 keys (a composite of two ``mse``
  terms and a loss with eleven values), over the group given explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from losses_core import LOSSES, MetricsCollector, loss_from_config, register_loss, use_hooks

WORLD = 2
TRANSFERS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__")
"""The tensor methods that copy a value to the host."""


@contextmanager
def counting_transfers() -> Iterator[list[str]]:
    """Records the name of every tensor-to-host method called inside the block."""
    seen: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in TRANSFERS}

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            seen.append(name)
            return original(self, *args, **kwargs)

        return method

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(name, original))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def probe(model_output: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    """The loss is ``x``; ``tokens`` a Python int; ``extra`` only when ``targets`` asks."""
    metrics: dict[str, Any] = {"tokens": targets["tokens"]}
    if targets.get("extra"):
        metrics["extra"] = torch.tensor(2.0)
    return {"loss": model_output["x"], "metrics": metrics}


def eleven_values(model_output: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    """The loss is ``x`` and metric ``m<i>`` is ``i * x``."""
    x = model_output["x"]
    return {"loss": x, "metrics": {f"m{i}": x * i for i in range(10)}}


def different_calls(rank: int) -> tuple[dict[str, float], list[str]]:
    collector = MetricsCollector(reduce_across_ranks=True)
    with use_hooks(collector):
        if rank == 0:
            LOSSES["probe"]({"x": torch.tensor(1.0)}, {"tokens": 12})
        else:
            for _ in range(3):
                LOSSES["probe"]({"x": torch.tensor(5.0)}, {"tokens": 2, "extra": True})
    with counting_transfers() as seen:
        summary = collector.summary()
    return summary, seen


def same_keys(rank: int) -> tuple[dict[str, float], list[str]]:
    composite = loss_from_config(
        {
            "loss": {
                "terms": [
                    {"type": "mse", "name": "recon_a", "keys": {"predictions": "a"}},
                    {"type": "mse", "name": "recon_b", "keys": {"predictions": "b"}},
                ]
            }
        }
    )
    collector = MetricsCollector(reduce_across_ranks=True, group=dist.group.WORLD)
    with use_hooks(collector):
        for _ in range(rank + 1):  # rank 0: one call, rank 1: two
            inputs = {"a": torch.tensor([rank + 1.0]), "b": torch.tensor([3.0 * (rank + 1)])}
            composite(inputs, {"target": torch.zeros(1)})
            LOSSES["eleven_values"]({"x": torch.tensor(rank + 1.0)}, {})
    with counting_transfers() as seen:
        summary = collector.summary()
    return summary, seen


def run(rank: int, port: int, out: str) -> None:
    """The entry point ``torch.multiprocessing.spawn`` calls with the rank."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    try:
        register_loss("probe", probe)
        register_loss("eleven_values", eleven_values)
        report = {"different": different_calls(rank), "same": same_keys(rank)}
    finally:
        dist.destroy_process_group()
    Path(out, f"rank{rank}.json").write_text(json.dumps(report), encoding="utf-8")
