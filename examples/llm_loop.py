"""Supervised fine-tuning, then DPO, of a tiny causal LM in a plain PyTorch loop,
with the losses chosen in YAML (``examples/llm.yaml``). Runs on a CPU in
seconds; needs transformers (for the model).

    python examples/llm_loop.py
    python examples/llm_loop.py --sft-steps 60 --dpo-steps 30

Both losses take the model's final hidden states and its LM head's weight
instead of the logits: they compute the logits chunk by chunk and never hold
the ``[batch, length, vocab]`` tensor or its gradient.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from llm_toy import preference_batch, sft_batch, tiny_causal_lm
from losses_core import loss_from_config, resolve_loss
from losses_llm import global_num_items

HERE = Path(__file__).parent


def head_inputs(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the chunked losses read: the final hidden states (after the last
    norm) and the LM head's weight. The decoder runs without its LM head, so
    no logits are computed."""
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return {"hidden_states": hidden.last_hidden_state, "lm_head_weight": model.get_output_embeddings().weight}


def sft(model: PreTrainedModel, config: Path, steps: int, accumulation: int) -> list[dict[str, float]]:
    """``steps`` optimiser steps of ``accumulation`` micro-batches each; every
    micro-batch's loss is divided by the number of target tokens of the whole
    step (``num_items_in_batch``), so the accumulated gradient is that of the
    mean over the step's tokens, however the tokens fall into micro-batches."""
    loss_fn = loss_from_config(config, section="sft")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator()  # a fresh generator: the same batches on every run
    history = []
    for _ in range(steps):
        micro_batches = [sft_batch(8, generator) for _ in range(accumulation)]
        num_items = global_num_items([mb["labels"] for mb in micro_batches])
        step_loss = 0.0
        for mb in micro_batches:
            result = loss_fn(head_inputs(model, mb), {"labels": mb["labels"]}, num_items_in_batch=num_items)
            result["loss"].backward()
            step_loss += result["loss"].item()  # shares of the step's mean
        optimizer.step()
        optimizer.zero_grad()
        history.append({"loss": step_loss, "num_items": float(num_items)})
    return history


def dpo(model: PreTrainedModel, config: Path, steps: int) -> list[dict[str, float]]:
    """DPO against a frozen copy of ``model`` (the reference). The reference's
    summed completion log-probs come from the same loss with
    ``reference_free=True`` (its ``auxiliary``), computed without gradient."""
    loss_fn = loss_from_config(config, section="dpo")
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    score = resolve_loss("dpo", reference_free=True)  # the reference's log-probs, in its auxiliary
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator()
    history = []
    for _ in range(steps):
        batch = preference_batch(8, generator)  # 8 pairs: 16 rows, the chosen first
        with torch.no_grad():
            ref = score(head_inputs(reference, batch), {"labels": batch["labels"]})["auxiliary"]
        targets = {
            "labels": batch["labels"],
            "ref_chosen_logps": ref["chosen_logps"],
            "ref_rejected_logps": ref["rejected_logps"],
        }
        result = loss_fn(head_inputs(model, batch), targets)
        result["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        metrics = result["metrics"]
        history.append(
            {
                "loss": result["loss"].item(),
                "accuracy": float(metrics["rewards_accuracies"]),
                "margin": float(metrics["rewards_margins"]),
            }
        )
    return history


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "llm.yaml")
    parser.add_argument("--sft-steps", type=int, default=40)
    parser.add_argument("--accumulation", type=int, default=2)
    parser.add_argument("--dpo-steps", type=int, default=20)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a tiny model: threads cost more than they give

    model = tiny_causal_lm()
    sft_history = sft(model, args.config, args.sft_steps, args.accumulation)
    for i, h in enumerate(sft_history, 1):
        if i == 1 or i % 10 == 0:
            print(f"sft step {i:3d}  loss {h['loss']:.4f}  target tokens {h['num_items']:.0f}")
    dpo_history = dpo(model, args.config, args.dpo_steps)
    for i, h in enumerate(dpo_history, 1):
        if i == 1 or i % 5 == 0:
            print(f"dpo step {i:3d}  loss {h['loss']:.4f}  ", end="")
            print(f"accuracy {h['accuracy']:.2f}  margin {h['margin']:.3f}")
    return {"sft": sft_history, "dpo": dpo_history, "model": model}


if __name__ == "__main__":
    main()
