"""MetricsCollector(reduce_across_ranks=True) in two real gloo processes
(spawned by torch.multiprocessing; the worker is _builtin_hooks_dist_worker.py):
means weighted by every process's number of calls, a key seen by one process
only, the same result on every rank, and two host reads whatever the number
of keys."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch.multiprocessing as mp
from _builtin_hooks_dist_worker import WORLD, run

DEADLINE_S = 120
"""How long the two processes may take (they start in well under ten seconds)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What each rank's summaries returned, by rank."""
    out = tmp_path_factory.mktemp("gloo")
    context = mp.spawn(run, args=(_free_port(), str(out)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"the {WORLD} gloo processes did not finish within {DEADLINE_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return [json.loads(Path(out, f"rank{rank}.json").read_text(encoding="utf-8")) for rank in range(WORLD)]


def test_means_weigh_every_call_the_same_whichever_rank_made_it(reports):
    summaries = [report["different"][0] for report in reports]
    assert summaries[0] == summaries[1]
    # rank 0: one call, loss 1, tokens 12; rank 1: three calls, loss 5, tokens 2, extra 2.
    # A mean of the ranks' means would give loss (1 + 5) / 2 = 3 and tokens (12 + 2) / 2 = 7.
    assert summaries[0] == {
        "probe/loss": (1 + 3 * 5) / 4,
        "probe/tokens": (12 + 3 * 2) / 4,
        "probe/extra": 2.0,  # over the three calls that reported it, all on rank 1
    }


def test_ranks_with_the_same_keys_read_the_host_twice_whatever_the_number_of_keys(reports):
    summaries = [report["same"][0] for report in reports]
    assert summaries[0] == summaries[1]
    # rank 0 called once with a = 1, b = 3, x = 1; rank 1 twice with a = 2, b = 6, x = 2
    x_mean = (1 + 2 * 2) / 3
    assert summaries[0] == pytest.approx(
        {
            "recon_a/loss": (1**2 + 2 * 2**2) / 3,
            "recon_b/loss": (3**2 + 2 * 6**2) / 3,
            "eleven_values/loss": x_mean,
            **{f"eleven_values/m{i}": i * x_mean for i in range(10)},
        }
    )
    assert list(summaries[0])[:3] == ["recon_a/loss", "recon_b/loss", "eleven_values/loss"]
    for report in reports:
        # one read of the key check, one of the 13 reduced values: not one per key
        assert report["same"][1] == ["tolist", "tolist"]
