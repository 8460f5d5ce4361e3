"""Train a tiny variational autoencoder on synthetic tabular data, with the
loss chosen from a YAML config (different ``train``/``val`` parameters) and
two built-in hook plugins active. Runs in a few seconds on a CPU.

    hatch run demo                      # uses examples/demo.yaml
    hatch run demo -- --config my.yaml --epochs 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from losses_core import MetricsCollector, NonFiniteGuard, list_plugins, loss_from_config, use_hooks

HERE = Path(__file__).parent


def synthetic_data(n: int, features: int = 8, factors: int = 2, seed: int = 0) -> torch.Tensor:
    """Rows generated from a few latent factors through a fixed nonlinear map, plus noise."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, factors, generator=g)
    mixing = torch.randn(factors, features, generator=g)
    return torch.tanh(z @ mixing) + 0.05 * torch.randn(n, features, generator=g)


class TinyVAE(nn.Module):
    def __init__(self, features: int = 8, latent: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, features))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return {"predictions": self.decoder(z), "mu": mu, "logvar": logvar, "z": z}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "demo.yaml")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny model: threads cost more than they give
    start = time.perf_counter()
    train_loss = loss_from_config(args.config, section="train")
    val_loss = loss_from_config(args.config, section="val")
    print(f"config: {args.config}")
    print(f"train loss: {train_loss}")
    print(f"val loss:   {val_loss}")
    print("plugins:", ", ".join(f"{p.name} {p.version or ''} [{p.status}]".strip() for p in list_plugins()))

    data = synthetic_data(4096)
    train, val = data[:3584], data[3584:]
    model = TinyVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    train_metrics, val_metrics = MetricsCollector(), MetricsCollector()

    with use_hooks(NonFiniteGuard()):
        for epoch in range(1, args.epochs + 1):
            model.train()
            with use_hooks(train_metrics):
                for batch in train[torch.randperm(len(train))].split(128):
                    # VAELoss reads the data it reconstructs from targets["predictions"]
                    result = train_loss(model(batch), {"predictions": batch})
                    optimizer.zero_grad()
                    result["loss"].backward()
                    optimizer.step()
            model.eval()
            with torch.no_grad(), use_hooks(val_metrics):
                for batch in val.split(256):
                    val_loss(model(batch), {"predictions": batch})
            print(f"epoch {epoch:2d}  train {_format(train_metrics)}  |  val {_format(val_metrics)}")
            train_metrics.reset()
            val_metrics.reset()
    print(f"done in {time.perf_counter() - start:.1f} s")


def _format(collector: MetricsCollector) -> str:
    # flat keys such as "beta_vae/loss": the loss's name, then the metric
    return "  ".join(f"{key.partition('/')[2]} {value:.4f}" for key, value in collector.summary().items())


if __name__ == "__main__":
    main()
