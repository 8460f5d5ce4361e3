"""Hydra and OmegaConf: the example config's ``_target_`` nodes build losses
with ``hydra.utils.instantiate``, command-line overrides reach the loss's
parameters, and a ``DictConfig``/``ListConfig`` is accepted wherever
losses-core takes a mapping or a list."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

hydra = pytest.importorskip("hydra")
omegaconf = pytest.importorskip("omegaconf")

from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, ListConfig, OmegaConf  # noqa: E402

from losses_core import LossModule, load_config, loss_from_config, resolve_loss  # noqa: E402
from losses_core.integrations.transformers import TrainerLoss  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMPOSITE = {
    "terms": [
        {"type": "token_ce", "name": "ce", "kwargs": {"label_smoothing": 0.1}},
        {"type": "focal", "name": "focal", "weight": 0.5, "kwargs": {"mode": "softmax", "alpha": None}},
    ]
}


def compose(*overrides: str) -> DictConfig:
    with hydra.initialize_config_dir(config_dir=str(EXAMPLES), version_base=None):
        return hydra.compose(config_name="integrations_hydra", overrides=list(overrides))


def toy_batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    generator = torch.Generator()
    return {"logits": torch.randn(8, 3, generator=generator)}, {
        "labels": torch.randint(0, 3, (8,), generator=generator)
    }


def test_the_example_configs_nodes_instantiate_the_losses_they_name():
    config = compose()
    outputs, targets = toy_batch()
    loss = instantiate(config.loss)
    assert loss.defaults == {"label_smoothing": 0.1, "class_weights": [1.0, 2.0, 4.0]}
    assert type(loss.defaults["class_weights"]) is list  # a ListConfig from instantiate, bound as a list
    expected = resolve_loss("token_ce", label_smoothing=0.1, class_weights=[1.0, 2.0, 4.0])
    torch.testing.assert_close(loss(outputs, targets)["loss"], expected(outputs, targets)["loss"])

    module = instantiate(config.module)
    assert isinstance(module, LossModule) and repr(module) == "LossModule(token_ce, label_smoothing=0.1)"

    composite = instantiate(config.composite)  # its source reaches loss_from_config as a DictConfig
    assert isinstance(config.composite.source, DictConfig)
    expected = loss_from_config({"loss": COMPOSITE})
    torch.testing.assert_close(composite(outputs, targets)["loss"], expected(outputs, targets)["loss"])


def test_command_line_overrides_reach_the_parameters():
    config = compose(
        "loss.label_smoothing=0.2", "composite.source.loss.terms.1.weight=2.0", "~loss.class_weights"
    )
    assert instantiate(config.loss).defaults == {"label_smoothing": 0.2}
    assert repr(instantiate(config.composite)) == "CompositeLoss(1.0 * ce, 2.0 * focal)"


def test_the_example_script_runs_on_a_composed_config(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("integrations_hydra", None)
    import integrations_hydra

    values = integrations_hydra.main(compose())  # hydra.main passes a given config through
    outputs, targets = toy_batch()
    assert values["composite"] == pytest.approx(
        float(loss_from_config({"loss": COMPOSITE})(outputs, targets)["loss"])
    )
    assert "CompositeLoss(1.0 * ce, 0.5 * focal)" in capsys.readouterr().out


def test_dictconfig_and_listconfig_are_accepted_everywhere():
    node = OmegaConf.create(COMPOSITE)
    assert isinstance(node.terms, ListConfig)
    outputs, targets = toy_batch()
    expected = loss_from_config({"loss": COMPOSITE})(outputs, targets)["loss"]
    # a composite as a DictConfig: the case that read "expected a non-empty list of loss terms"
    for built in (
        loss_from_config(OmegaConf.create({"loss": COMPOSITE})),
        load_config(
            OmegaConf.create({"train": {"loss": COMPOSITE}, "epochs": "???"}), section="train"
        ).build(),
        LossModule(node),
    ):
        torch.testing.assert_close(built(outputs, targets)["loss"], expected)
    keyed = resolve_loss("token_ce", keys=OmegaConf.create({"logits": "scores"}))
    torch.testing.assert_close(
        keyed({"scores": outputs["logits"]}, targets)["loss"],
        resolve_loss("token_ce")(outputs, targets)["loss"],
    )
    per_call = resolve_loss("token_ce")(
        {"scores": outputs["logits"]}, targets, keys=OmegaConf.create({"logits": "scores"})
    )
    torch.testing.assert_close(per_call["loss"], keyed({"scores": outputs["logits"]}, targets)["loss"])
    adapter = TrainerLoss(OmegaConf.create({"type": "token_ce"}), shift=False)
    torch.testing.assert_close(
        adapter(outputs, targets["labels"]), resolve_loss("token_ce")(outputs, targets)["loss"]
    )


def test_interpolations_are_resolved_and_a_missing_value_is_named():
    config = OmegaConf.create(
        {"smoothing": 0.3, "loss": {"type": "token_ce", "kwargs": {"label_smoothing": "${smoothing}"}}}
    )
    assert load_config(config).terms[0].params == {"label_smoothing": 0.3}
    missing = OmegaConf.create({"loss": {"type": "token_ce", "kwargs": {"label_smoothing": "???"}}})
    with pytest.raises(Exception, match=r"<config>: loss: cannot read the config: MissingMandatoryValue"):
        load_config(missing)
