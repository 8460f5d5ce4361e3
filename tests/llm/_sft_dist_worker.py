"""One process of the 2-process gloo tests of causal_lm's vocabulary
parallelism and of global_num_items (the cases and batches are in
_sft_dist.py). Run as ``python _sft_dist_worker.py RANK WORLD_SIZE PORT
OUTFILE``; it saves this rank's losses, metrics and gradients to OUTFILE."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from _sft_dist import VOCAB_CASES, V, data_parallel_weight, micro_batches, upstream, vocab_batch

from losses_core import LossInputError
from losses_llm import causal_lm, global_num_items


def vocab_parallel_case(rank: int, world: int, path: str, bias: bool, params: dict) -> dict:
    batch = vocab_batch(bias)
    local = V // world
    cols = slice(rank * local, (rank + 1) * local)
    if path == "logits":
        inputs = {"logits": batch["logits"][..., cols].clone().requires_grad_()}
    else:
        inputs = {
            "hidden_states": batch["hidden_states"].clone().requires_grad_(),
            "lm_head_weight": batch["lm_head_weight"][cols].clone().requires_grad_(),
        }
        if bias:
            inputs["lm_head_bias"] = batch["lm_head_bias"][cols].clone().requires_grad_()
    out = causal_lm(inputs, {"labels": batch["labels"]}, vocab_parallel=True, **params)
    loss = out["loss"]
    (loss * upstream() if loss.ndim else loss).sum().backward()
    return {
        "loss": loss.detach(),
        "metrics": out["metrics"],
        "grads": {k: v.grad for k, v in inputs.items()},
    }


def unequal_shards(rank: int) -> str:
    logits = torch.randn(2, 3, 7 + rank, dtype=torch.float64)
    try:
        causal_lm({"logits": logits}, {"labels": torch.zeros(2, 3, dtype=torch.long)}, vocab_parallel=True)
    except LossInputError as exc:
        return str(exc)
    return "no error"


def data_parallel(rank: int, world: int) -> dict:
    """Gradient accumulation over this rank's two micro-batches with the step's
    global token count, the loss times the world size, and the weight gradient
    averaged over the ranks as DDP averages it."""
    batches = micro_batches(rank)
    weight = data_parallel_weight().requires_grad_()
    num_items = global_num_items([mb["labels"] for mb in batches])
    group = dist.new_group(list(range(world)))
    losses = []
    for mb in batches:
        out = causal_lm(
            {"hidden_states": mb["hidden_states"], "lm_head_weight": weight},
            {"labels": mb["labels"]},
            num_items_in_batch=num_items,
            chunk_size=2,
        )
        (out["loss"] * world).backward()
        losses.append(out["loss"].detach())
    averaged = weight.grad.clone()
    dist.all_reduce(averaged)
    averaged /= world
    return {
        "num_items": num_items,
        "num_items_group": global_num_items([mb["labels"] for mb in batches], process_group=group),
        "num_items_unshifted": global_num_items(batches[0]["labels"], shift=False),
        "losses": losses,
        "weight_grad": averaged,
    }


def main(rank: int, world: int, port: int, outfile: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        results = {
            "vocab": {
                case: vocab_parallel_case(rank, world, path, bias, params)
                for case, path, bias, params in VOCAB_CASES
            },
            "unequal": unequal_shards(rank),
            "data_parallel": data_parallel(rank, world),
        }
    finally:
        dist.destroy_process_group()
    torch.save(results, outfile)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
