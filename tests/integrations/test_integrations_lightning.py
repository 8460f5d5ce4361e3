"""PyTorch Lightning: the example's classifier holds its composite loss as a
LossModule and logs the MetricsCollector's flat keys with log_dict; the
logged validation means are the loss's metrics over the validation batches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import integrations_lightning
    finally:
        sys.path.remove(str(EXAMPLES))
    return integrations_lightning


@pytest.fixture(scope="module")
def trained(example):
    return example.main(epochs=2)


def test_the_loss_is_a_child_module_of_the_model(example, trained):
    model, _ = trained
    assert "(loss): LossModule(\n    1.0 * ce + 0.5 * focal" in str(model)
    assert dict(model.named_children())["loss"] is model.loss


def test_log_dict_gets_the_flat_keys_of_every_term(trained):
    _, trainer = trained
    terms = {"ce/loss", "ce/accuracy", "ce/num_tokens", "focal/loss"}
    assert set(trainer.logged_metrics) == {f"{stage}/{key}" for stage in ("train", "val") for key in terms}


def test_the_logged_validation_means_are_the_metrics_over_the_batches(example, trained):
    model, trainer = trained
    sums: dict[str, float] = {}
    batches = 0
    model.eval()
    with torch.no_grad():
        for features, labels in trainer.val_dataloaders:
            result = model.loss({"logits": model.net(features)}, {"labels": labels})
            for key, value in result["metrics"].items():
                sums[key] = sums.get(key, 0.0) + float(value)
            batches += 1
    assert batches == 3
    for key, total in sums.items():
        assert float(trainer.logged_metrics[f"val/{key}"]) == pytest.approx(total / batches, rel=1e-5), key
    assert float(trainer.logged_metrics["train/ce/accuracy"]) > 0.6  # it learnt something
