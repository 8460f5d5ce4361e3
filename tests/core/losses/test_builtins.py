"""What every built-in loss of losses-core shares: registration under
losses-core with its aliases, conformance, docstrings, declared inputs, and
availability from losses-core alone (no plugin loaded)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from losses_core import LOSSES, __version__, list_losses
from losses_core.testing import assert_conforms

BUILTINS = {
    "mse": ("MSE",),
    "token_ce": ("cross_entropy",),
    "focal": (),  # no "focal_loss": that is the name of the user guide's own class-based example
    "margin_ranking": (),
    "contrastive": (),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_registered_under_losses_core_with_aliases(name):
    handle = LOSSES[name]
    assert handle.provider == "losses-core"
    assert handle.version == __version__
    assert tuple(handle.entry.aliases) == BUILTINS[name]
    for alias in BUILTINS[name]:
        assert LOSSES[alias].function is handle.function
    assert handle.function.__module__ == f"losses_core.losses.{name}"
    assert handle.function.__name__ == name


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_conforms(name):
    assert_conforms(name)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_docstring_summary_formula_defaults_reduction(name):
    doc = inspect.getdoc(LOSSES[name].function)
    summary, _, body = doc.partition("\n")
    assert summary.endswith(".") and "``" not in summary and len(summary) <= 80  # `losses list` width
    assert body.startswith("\n"), "the summary is one line followed by a blank line"
    assert ":math:" in body or ".. math::" in body
    assert "reduction" in body and '"mean"' in body
    assert "seed" not in doc.lower()
    info = {i.name: i for i in list_losses()}[name]
    assert info.summary == summary


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_declares_inputs_and_takes_no_key_parameters(name):
    entry = LOSSES[name].entry
    assert callable(entry.function.compute)  # the function of tensors behind the protocol function
    assert "keys" in entry.signature.parameters  # core adds it to losses that declare inputs
    assert not [p for p in entry.signature.parameters if p.endswith("_key")]
    for pname, param in entry.signature.parameters.items():
        if pname != "keys" and param.default is not inspect.Parameter.empty:
            assert pname in entry.signature.annotations


PROBE = textwrap.dedent(
    """
    import json, sys
    import torch
    from losses_core import LOSSES, resolve_loss

    report = {"keys": sorted(LOSSES), "registry": {}, "resolved": {}, "providers": {}}
    for name in report["keys"]:
        handle = LOSSES[name]
        report["providers"][name] = handle.provider
        torch.manual_seed(0)
        model_output, targets, params = handle.entry.example_inputs(batch_size=2)
        out = handle(model_output, targets, **params)
        report["registry"][name] = [type(out).__name__, getattr(out, "ndim", None)]
        loss = resolve_loss(name, **params)(model_output, targets)["loss"]
        report["resolved"][name] = [type(loss).__name__, loss.ndim, bool(torch.isfinite(loss))]
    report["plugin_modules"] = sorted(
        m for m in sys.modules if m.split(".")[0] in ("losses_ranking", "losses_vae", "losses_sae")
    )
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def core_alone():
    env = {**os.environ, "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_losses_core_alone_provides_the_builtins(core_alone):
    assert set(core_alone["keys"]) == set(BUILTINS)
    assert set(core_alone["providers"].values()) == {"losses-core"}
    assert core_alone["plugin_modules"] == []
    for name in BUILTINS:
        assert core_alone["resolved"][name] == ["Tensor", 0, True], name


def test_losses_core_alone_registry_calls_return_a_0_dim_tensor(core_alone):
    for name in BUILTINS:
        assert core_alone["registry"][name] == ["Tensor", 0], name
