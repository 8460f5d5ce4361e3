"""One process of the 2-process gloo test of the distributed losses
(test_ranking_distributed.py). Run as
``python _ranking_dist_worker.py RANK WORLD_SIZE PORT OUTFILE``; the test also
imports this file for the shared cases and batch."""

from __future__ import annotations

import math
import sys

import torch

N_GLOBAL = 8  # rows of the fixed global batch; each of the 2 processes holds 4
DIM = 5

# (case id, loss name, parameters); every case runs with distributed=True
CASES = [
    ("clip_global", "clip", {"local_loss": False}),
    ("clip_local", "clip", {"local_loss": True}),
    ("siglip_global", "siglip", {"local_loss": False}),
    ("siglip_local", "siglip", {"local_loss": True}),
    ("ntxent_all_global", "ntxent", {"local_loss": False, "temperature": 0.2}),
    ("ntxent_all_local", "ntxent", {"local_loss": True, "temperature": 0.2}),
    ("ntxent_cross_local", "ntxent", {"local_loss": True, "negatives": "cross", "temperature": 0.3}),
    ("ntxent_extra_global", "ntxent", {"local_loss": False, "negatives": "cross", "symmetric": False}),
    ("supcon_global", "supcon", {"local_loss": False, "temperature": 0.3}),
    ("supcon_local", "supcon", {"local_loss": True, "temperature": 0.3}),
]

# leaves that are split by rows between the processes, and shared scalars
ROW_KEYS = ("image_embeddings", "text_embeddings", "embeddings_a", "embeddings_b", "embeddings")
SCALAR_KEYS = ("logit_scale", "logit_bias")


def global_batch(name: str, case: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The fixed global batch of a case (identical in every process)."""
    gen = torch.Generator().manual_seed(1234)
    a = torch.randn(N_GLOBAL, DIM, generator=gen, dtype=torch.float64)
    b = torch.randn(N_GLOBAL, DIM, generator=gen, dtype=torch.float64)
    if name in ("clip", "siglip"):
        out = {
            "image_embeddings": a,
            "text_embeddings": b,
            "logit_scale": torch.tensor(
                math.log(1 / 0.07) if name == "clip" else math.log(10.0), dtype=a.dtype
            ),
            "logit_bias": torch.tensor(-10.0 if name == "siglip" else -0.5, dtype=a.dtype),
        }
        return out, {}
    if name == "ntxent":
        out = {"embeddings_a": a, "embeddings_b": b}
        if case == "ntxent_extra_global":  # 3 shared extra negatives per process
            out["negative_embeddings"] = torch.randn(6, DIM, generator=gen, dtype=a.dtype)
        return out, {}
    # unbalanced classes: the two halves have different numbers of anchors with a positive
    labels = torch.tensor([0, 0, 0, 1, 2, 1, 3, 4])
    return {"embeddings": a}, {"labels": labels}


def local_part(model_output: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    part = {}
    for key, value in model_output.items():
        if key in ROW_KEYS or key == "negative_embeddings":
            rows = value.shape[0] // world
            value = value[rank * rows : (rank + 1) * rows]
        part[key] = value.clone().requires_grad_(True)
    return part


def local_targets(targets: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    rows = N_GLOBAL // world
    return {k: v[rank * rows : (rank + 1) * rows] for k, v in targets.items()}


def main(rank: int, world: int, port: int, outfile: str) -> None:
    import torch.distributed as dist

    import losses_ranking

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    results = {}
    try:
        for case, name, params in CASES:
            model_output, targets = global_batch(name, case)
            inputs = local_part(model_output, rank, world)
            out = getattr(losses_ranking, name)(
                inputs, local_targets(targets, rank, world), distributed=True, **params
            )
            out["loss"].backward()
            results[case] = {
                "loss": out["loss"].detach(),
                "grads": {k: v.grad for k, v in inputs.items() if v.grad is not None},
            }
    finally:
        dist.destroy_process_group()
    torch.save(results, outfile)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
