"""Build losses from a Hydra config (``examples/integrations_hydra.yaml``)
with ``hydra.utils.instantiate`` and compute each on a toy batch. Needs
hydra-core.

    python examples/integrations_hydra.py
    python examples/integrations_hydra.py loss.label_smoothing=0.2 composite.source.loss.terms.1.weight=1.0
"""

from __future__ import annotations

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig


@hydra.main(config_path=".", config_name="integrations_hydra", version_base=None)
def main(config: DictConfig) -> dict[str, float]:
    generator = torch.Generator()
    outputs = {"logits": torch.randn(8, 3, generator=generator)}
    targets = {"labels": torch.randint(0, 3, (8,), generator=generator)}
    values = {}
    for node in ("loss", "module", "composite"):
        loss_fn = instantiate(config[node])
        values[node] = float(loss_fn(outputs, targets)["loss"])
        print(f"{node:10s} {loss_fn!r:70s} {values[node]:.4f}")
    return values


if __name__ == "__main__":
    main()
