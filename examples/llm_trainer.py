"""Fine-tune a tiny causal LM with the Hugging Face ``Trainer`` and losses-llm's
``causal_lm``, chosen in YAML (``examples/llm.yaml``, section ``sft``). Runs on
a CPU in seconds; needs transformers and accelerate.

    python examples/llm_trainer.py                    # chunked: hidden states + LM head
    python examples/llm_trainer.py --source logits    # the model's logits

The loss is ``Trainer(compute_loss_func=TrainerLoss(...))``, which the trainer
calls with the model's outputs, the batch's unshifted labels and
``num_items_in_batch`` (the number of target tokens of the whole optimiser
step, over its gradient-accumulation micro-batches and processes);
``TrainerLoss`` shifts the labels and passes the count on to the loss, so that
each micro-batch is divided by the step's count.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, Trainer, TrainingArguments

from llm_toy import sft_batch, tiny_causal_lm
from losses_core import load_config
from losses_core.integrations.transformers import TrainerLoss

HERE = Path(__file__).parent


class HeadInputs(nn.Module):
    """A causal LM whose forward returns what the chunked loss reads, the final
    hidden states and the LM head's weight, instead of running the LM head:
    the ``[batch, length, vocab]`` logits are never computed. The wrapped
    model's parameters are this module's, so the trainer optimises them."""

    def __init__(self, lm: PreTrainedModel) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.lm.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return {"hidden_states": hidden, "lm_head_weight": self.lm.get_output_embeddings().weight}


class ToyDataset(torch.utils.data.Dataset):
    """``size`` rows of the toy language (``llm_toy``), made once."""

    def __init__(self, size: int) -> None:
        self.rows = sft_batch(size, torch.Generator())

    def __len__(self) -> int:
        return self.rows["input_ids"].shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: value[i] for key, value in self.rows.items()}


def make_compute_loss(config: Path, calls: list[dict[str, float]]) -> Any:
    """The ``compute_loss_func``: :class:`~losses_core.integrations.transformers.TrainerLoss`
    over the configured loss (it shifts the labels and passes
    ``num_items_in_batch`` on), recording each call's ``num_items_in_batch``,
    the micro-batch's target-token count and loss in ``calls``."""
    trainer_loss = TrainerLoss(load_config(config, section="sft").build())

    def compute_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        loss = trainer_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
        calls.append(
            {
                "num_items_in_batch": float("nan")
                if num_items_in_batch is None
                else float(num_items_in_batch),
                "num_tokens": float((labels[:, 1:] != -100).sum()),
                "loss": loss.item(),
            }
        )
        return loss

    return compute_loss


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "llm.yaml")
    parser.add_argument("--source", choices=("hidden_states", "logits"), default="hidden_states")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--accumulation", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a tiny model: threads cost more than they give

    lm = tiny_causal_lm()
    model = HeadInputs(lm) if args.source == "hidden_states" else lm
    calls: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=output_dir,
            max_steps=args.steps,
            per_device_train_batch_size=8,
            gradient_accumulation_steps=args.accumulation,
            learning_rate=3e-3,
            lr_scheduler_type="constant",
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            remove_unused_columns=False,  # HeadInputs.forward takes no labels: keep them for the loss
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=ToyDataset(size=args.steps * args.accumulation * 8),
            compute_loss_func=make_compute_loss(args.config, calls),
        )
        trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    for entry in logged:
        print(f"step {entry['step']:3d}  loss {entry['loss']:.4f}")
    return {"log": logged, "calls": calls, "model": lm}


if __name__ == "__main__":
    main()
