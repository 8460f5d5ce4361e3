"""Train a small classifier with PyTorch Lightning and a composite loss held
in the model as a ``LossModule``; the loss's metrics, collected over each
epoch by ``MetricsCollector``, go to ``log_dict`` under flat keys
(``train/ce/accuracy``, ``val/focal/loss``). Runs on a CPU in seconds; needs
lightning.

    python examples/integrations_lightning.py
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from losses_core import LossModule, MetricsCollector, use_hooks

LOSS = {  # a loss node, as under `loss:` in a YAML config
    "terms": [
        {"type": "token_ce", "name": "ce", "kwargs": {"label_smoothing": 0.1}},
        {"type": "focal", "name": "focal", "weight": 0.5, "kwargs": {"mode": "softmax", "alpha": None}},
    ]
}


class Classifier(L.LightningModule):
    """Three classes from eight features. The loss is a child module: it is in
    ``print(model)`` and Lightning's model summary, and moves with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        self.loss = LossModule(LOSS)
        # one collector per stage; reduce_across_ranks: every process logs the global means
        self.train_metrics = MetricsCollector(reduce_across_ranks=True)
        self.val_metrics = MetricsCollector(reduce_across_ranks=True)

    def step(self, batch: list[torch.Tensor], collector: MetricsCollector) -> torch.Tensor:
        features, labels = batch
        with use_hooks(collector):
            result = self.loss({"logits": self.net(features)}, {"labels": labels})
        return result["loss"]

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.step(batch, self.train_metrics)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.step(batch, self.val_metrics)

    def on_train_epoch_end(self) -> None:
        self.log_dict({f"train/{key}": value for key, value in self.train_metrics.summary().items()})
        self.train_metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self.log_dict({f"val/{key}": value for key, value in self.val_metrics.summary().items()})
        self.val_metrics.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def toy_data(rows: int, generator: torch.Generator) -> TensorDataset:
    """Features whose class is the largest of three fixed projections."""
    features = torch.randn(rows, 8, generator=generator)
    projection = torch.linspace(-1.0, 1.0, 24).reshape(8, 3)
    return TensorDataset(features, (features @ projection).argmax(dim=1))


def main(epochs: int = 3) -> tuple[Classifier, L.Trainer]:
    torch.set_rng_state(torch.Generator().get_state())  # the same initial weights on every run
    generator = torch.Generator()
    train = DataLoader(toy_data(256, generator), batch_size=32, shuffle=True, generator=generator)
    val = DataLoader(toy_data(96, generator), batch_size=32)
    model = Classifier()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train, val)
    for key, value in sorted(trainer.logged_metrics.items()):
        print(f"{key:24s} {float(value):.4f}")
    return model, trainer


if __name__ == "__main__":
    main()
