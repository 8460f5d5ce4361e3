"""Every losses-llm loss through losses-core: names, provider, the declaration
equal to the code, module and function names, docstring summaries, lazy
exports, the entropy_regularized name left to user code, and a composite
config mixing the package's losses."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points

import pytest
import torch

import losses_llm
from losses_core import LOSSES, UnknownLossError, list_losses, loss_from_config
from losses_core.testing import check_manifest

NAMES = [
    "causal_lm",
    "cpo",
    "dft",
    "distillation",
    "dpo",
    "entropy_regularized_ce",
    "grpo",
    "kto",
    "moe_load_balancing",
    "orpo",
    "ppo",
    "router_z_loss",
    "simpo",
    "z_loss",
]
HELPERS = {"group_advantages": "advantages", "global_num_items": "distributed"}


def _infos():
    return {info.name: info for info in list_losses() if info.provider == "losses-llm"}


def test_the_distribution_registers_exactly_these_losses():
    infos = _infos()
    assert sorted(infos) == NAMES
    for name in NAMES:
        assert infos[name].qualified_name == f"{name}@losses-llm"
        assert LOSSES[name].provider == "losses-llm"


def test_the_entry_point_names_the_packages_manifest():
    (ep,) = [ep for ep in entry_points(group="losses.plugins") if ep.name == "losses-llm"]
    assert ep.value == "losses_llm:losses.json"


def test_the_manifest_matches_the_code():
    assert check_manifest("losses-llm") == []


@pytest.mark.parametrize("name", NAMES)
def test_module_function_and_registered_name_agree(name):
    module = __import__(f"losses_llm.{name}", fromlist=[name])
    function = getattr(module, name)
    assert LOSSES[name].function is function
    assert getattr(losses_llm, name) is function
    assert function.__module__ == f"losses_llm.{name}"


@pytest.mark.parametrize("name", NAMES)
def test_docstring_summary_is_one_line_and_is_what_losses_list_shows(name):
    summary, _, body = inspect.getdoc(LOSSES[name].function).partition("\n")
    assert summary.endswith(".") and len(summary) <= 100 and "``" not in summary
    assert body.startswith("\n"), "the summary is one line followed by a blank line"
    assert _infos()[name].summary == summary


@pytest.mark.parametrize(("name", "module"), sorted(HELPERS.items()))
def test_helpers_are_exported_from_their_modules(name, module):
    exported = getattr(losses_llm, name)
    assert exported.__module__ == f"losses_llm.{module}"
    assert name in losses_llm.__all__


def test_every_public_name_resolves():
    for name in losses_llm.__all__:
        assert getattr(losses_llm, name) is not None


def test_the_name_entropy_regularized_is_left_to_user_code():
    with pytest.raises(UnknownLossError):
        LOSSES["entropy_regularized"]


def test_a_composite_config_mixes_sft_and_moe_losses():
    config = {
        "loss": {
            "terms": [
                {"type": "causal_lm", "name": "sft"},
                {"type": "z_loss", "kwargs": {"weight": 1e-4}, "name": "z"},
                {"type": "moe_load_balancing", "kwargs": {"top_k": 2}, "weight": 0.01, "name": "balance"},
            ]
        }
    }
    loss_fn = loss_from_config(config)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g, requires_grad=True)
    router = torch.randn(10, 4, generator=g, requires_grad=True)
    labels = torch.randint(0, 11, (2, 5), generator=g)
    result = loss_fn({"logits": logits, "router_logits": (router,)}, {"labels": labels})
    parts = {key: value for key, value in result["metrics"].items() if key.endswith("/loss")}
    assert set(parts) == {"sft/loss", "z/loss", "balance/loss"}
    expected = LOSSES["causal_lm"]({"logits": logits}, {"labels": labels})
    expected = expected + LOSSES["z_loss"]({"logits": logits}, {"labels": labels}, weight=1e-4)
    expected = expected + 0.01 * LOSSES["moe_load_balancing"]({"router_logits": (router,)}, {}, top_k=2)
    torch.testing.assert_close(result["loss"], expected)
    result["loss"].backward()
    assert logits.grad is not None and router.grad is not None
