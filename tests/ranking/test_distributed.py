"""The distributed losses (clip, siglip, ntxent, supcon with distributed=True)
run for real in two processes on the gloo backend (CPU, localhost), each with
its half of a fixed batch, and are compared with the single-process loss on the
concatenated batch.

What must match (the documented scaling rule, world size W = 2):

- ``local_loss=False``: every process's loss equals the single-process loss;
  ``local_loss=True``: the mean of the processes' losses equals it.
- The gradient w.r.t. each process's local embeddings equals W times the
  single-process gradient of those rows (the all-gather's backward sums the
  contributions of every process); DDP's averaging divides by W again.
- Loss-owned scalars (CLIP/SigLIP logit scale and bias) are not gathered:
  the mean over processes of their gradients equals the single-process gradient.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import losses_ranking
from losses_ranking import clip, ntxent, siglip, supcon

from ._data import towers

WORKER = Path(__file__).with_name("_ranking_dist_worker.py")
WORLD = 2

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is required"
)


def load_worker():
    spec = importlib.util.spec_from_file_location("_ranking_dist_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    for attempt in range(2):  # a second try only if the free port was taken meanwhile
        port = free_port()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    str(rank),
                    str(WORLD),
                    str(port),
                    str(out_dir / f"rank{rank}.pt"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for rank in range(WORLD)
        ]
        logs = []
        for proc in procs:
            try:
                logs.append(proc.communicate(timeout=120)[0])
            except subprocess.TimeoutExpired:
                for p in procs:
                    p.kill()
                pytest.fail("the gloo worker processes did not finish within 120 s")
        if all(proc.returncode == 0 for proc in procs):
            return [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD)]
        if attempt == 0 and any("address already in use" in log.lower() for log in logs):
            continue
        pytest.fail("a gloo worker failed:\n" + "\n".join(logs))
    raise AssertionError("unreachable")


def single_process(worker, case, name, params):
    model_output, targets = worker.global_batch(name, case)
    inputs = {k: v.clone().requires_grad_(True) for k, v in model_output.items()}
    out = getattr(losses_ranking, name)(inputs, targets, **params)
    out["loss"].backward()
    return out["loss"].detach(), {k: v.grad for k, v in inputs.items() if v.grad is not None}


def case_ids():
    return [case for case, _, _ in load_worker().CASES]


@pytest.mark.parametrize("case", case_ids())
def test_two_gloo_processes_match_the_single_process_loss(distributed_results, case):
    worker = load_worker()
    _, name, params = next(c for c in worker.CASES if c[0] == case)
    loss, grads = single_process(worker, case, name, params)
    per_rank = [results[case] for results in distributed_results]
    losses = torch.stack([r["loss"] for r in per_rank])
    if params["local_loss"]:
        torch.testing.assert_close(losses.mean(), loss, rtol=1e-10, atol=1e-12)
        assert not torch.allclose(losses[0], losses[1])  # each process really has its own part
    else:
        for value in losses:
            torch.testing.assert_close(value, loss, rtol=1e-10, atol=1e-12)
    rows = worker.N_GLOBAL // WORLD
    for key, full_grad in grads.items():
        if key in worker.SCALAR_KEYS:
            mean_grad = torch.stack([r["grads"][key] for r in per_rank]).mean(dim=0)
            torch.testing.assert_close(mean_grad, full_grad, rtol=1e-9, atol=1e-12)
            continue
        part = full_grad.shape[0] // WORLD if key == "negative_embeddings" else rows
        for rank, result in enumerate(per_rank):
            local = result["grads"][key]
            expected = full_grad[rank * part : (rank + 1) * part]
            torch.testing.assert_close(local / WORLD, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["clip", "siglip", "ntxent", "supcon"])
def test_distributed_flag_is_a_no_op_without_a_process_group(name):
    img, txt = towers(12)
    if name == "supcon":
        inputs, tgt = {"embeddings": img}, {"labels": torch.tensor([0, 1, 0, 1, 2, 2])}
    elif name == "ntxent":
        inputs, tgt = {"embeddings_a": img, "embeddings_b": txt}, {}
    else:
        inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor(1.0)}
        inputs["logit_bias"] = torch.tensor(-2.0)
        tgt = {}
    fn = {"clip": clip, "siglip": siglip, "ntxent": ntxent, "supcon": supcon}[name]
    base = fn(inputs, tgt)["loss"]
    for local in (False, True):
        torch.testing.assert_close(fn(inputs, tgt, distributed=True, local_loss=local)["loss"], base)
