"""The fixed batches of the 2-process gloo tests of causal_lm's vocabulary
parallelism (test_vocab_parallel.py) and of global_num_items
(test_distributed.py), and the launcher of the two worker processes
(_sft_dist_worker.py), run once per pytest process for both test modules.

Vocabulary parallelism: both ranks hold the same tokens (hidden states,
labels) and their contiguous half of the vocabulary (logits ``[..., V/2]`` or
head rows ``[V/2, H]``). Data parallelism: each rank holds its own two
micro-batches (of different lengths)."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("_sft_dist_worker.py")
WORLD = 2
B, T, H, V = 2, 5, 4, 14  # V is split into two shards of 7
OPTIONS = {"label_smoothing": 0.2, "z_loss": 1e-2, "logit_softcap": 2.5}

# (case, input path, LM head bias, parameters); each runs with vocab_parallel=True on 2 ranks
VOCAB_CASES = [
    ("logits_plain", "logits", False, {}),
    ("logits_options", "logits", True, OPTIONS),
    ("logits_none", "logits", False, {"reduction": "none", **OPTIONS}),
    ("hidden_plain", "hidden_states", False, {"num_items_in_batch": 5}),
    ("hidden_options", "hidden_states", False, {"chunk_size": 3, **OPTIONS}),
    ("hidden_sum_bias", "hidden_states", True, {"chunk_size": 4, "reduction": "sum", **OPTIONS}),
]


def vocab_batch(bias: bool) -> dict[str, torch.Tensor]:
    """The whole-vocabulary float64 batch: hidden states, head, logits, labels
    (targets on both halves of the vocabulary, some ignored)."""
    g = torch.Generator().manual_seed(2024)
    hidden = torch.randn(B, T, H, generator=g, dtype=torch.float64)
    weight = torch.randn(V, H, generator=g, dtype=torch.float64)
    head_bias = torch.randn(V, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, 9, 3, 13, -100], [7, 6, -100, 0, 12]])
    batch = {"hidden_states": hidden, "lm_head_weight": weight, "labels": labels}
    if bias:
        batch["lm_head_bias"] = head_bias
    logits = hidden @ weight.t() + (head_bias if bias else 0)
    batch["logits"] = logits
    return batch


def upstream() -> torch.Tensor:
    """Per-token weights of reduction='none' outputs (a non-uniform upstream gradient)."""
    return torch.rand(B, T, dtype=torch.float64, generator=torch.Generator().manual_seed(5))


def micro_batches(rank: int) -> list[dict[str, torch.Tensor]]:
    """Rank ``rank``'s two micro-batches for data parallelism: hidden states
    ``[b, t, H]`` and labels (b, t and the ignored tokens differ)."""
    g = torch.Generator().manual_seed(100 + rank)
    shapes = [(1, 6), (3, 4)] if rank == 0 else [(2, 5), (1, 3)]
    batches = []
    for b, t in shapes:
        labels = torch.randint(0, V, (b, t), generator=g)
        labels[torch.rand(b, t, generator=g) < 0.3] = -100
        hidden = torch.randn(b, t, H, generator=g, dtype=torch.float64)
        batches.append({"hidden_states": hidden, "labels": labels})
    return batches


def data_parallel_weight() -> torch.Tensor:
    """The replicated LM head of the data-parallel case."""
    return torch.randn(V, H, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def run_workers(timeout: float = 90.0) -> tuple[dict[str, object], ...]:
    """Run the two gloo worker processes once and return each rank's results;
    raises ``RuntimeError`` with the workers' output when one fails."""
    out_dir = Path(tempfile.mkdtemp(prefix="sft_dist_"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    logs: list[str] = []
    for attempt in range(2):  # a second try only if the free port was taken meanwhile
        port = _free_port()
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), str(rank), str(WORLD), str(port), str(out_dir / f"{rank}.pt")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for rank in range(WORLD)
        ]
        logs = []
        try:
            for proc in procs:
                logs.append(proc.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for proc in procs:
                proc.kill()
                proc.wait()
            raise RuntimeError(f"the gloo worker processes did not finish within {timeout} s") from None
        if all(proc.returncode == 0 for proc in procs):
            return tuple(torch.load(out_dir / f"{rank}.pt") for rank in range(WORLD))
        if attempt == 0 and any("address already in use" in log.lower() for log in logs):
            continue
        break
    raise RuntimeError("a gloo worker failed:\n" + "\n".join(logs))
