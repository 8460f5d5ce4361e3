"""The parameters of every first-party loss: about the mathematics, not about
where inputs live (callers map keys with ``keys=``), and all annotated."""

from __future__ import annotations

from losses_core import LOSSES
from losses_core.testing import loss_names

FIRST_PARTY = ("losses-core", "losses-vae", "losses-sae", "losses-ranking", "losses-llm")


def _parameters() -> dict[str, list[str]]:
    found = {}
    for dist in FIRST_PARTY:
        for name in loss_names(distribution=dist):
            entry = LOSSES[name].entry
            found[name] = [p for p in entry.signature.parameters if p != "keys"]
    return found


def test_parameters_about_input_locations_are_under_5_percent():
    parameters = _parameters()
    total = sum(len(p) for p in parameters.values())
    about_keys = [f"{name}.{p}" for name, params in parameters.items() for p in params if p.endswith("_key")]
    assert total > 100, total
    assert len(about_keys) / total < 0.05, about_keys


def test_every_first_party_loss_declares_its_inputs_and_takes_keys():
    for dist in FIRST_PARTY:
        for name in loss_names(distribution=dist):
            entry = LOSSES[name].entry
            assert entry.inputs, f"{name} declares no inputs"
            assert "keys" in entry.signature.parameters, name


def test_every_first_party_parameter_is_annotated():
    missing = [
        f"{name}.{p}"
        for dist in FIRST_PARTY
        for name in loss_names(distribution=dist)
        for p in LOSSES[name].entry.signature.parameters
        if p not in LOSSES[name].entry.signature.annotations
    ]
    assert missing == []
