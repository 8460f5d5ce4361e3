"""losses_llm._sources: a call takes exactly one input path, and a wrong
combination is an error naming the loss and the inputs."""

from __future__ import annotations

import pytest
import torch

from losses_core import LossInputError
from losses_llm._sources import POLICY_INPUTS, policy_source

T = torch.zeros(1)


def test_the_policy_inputs_are_optional_model_inputs_in_signature_order():
    assert [i.name for i in POLICY_INPUTS] == [
        "logits",
        "hidden_states",
        "lm_head_weight",
        "lm_head_bias",
        "log_probs",
    ]
    assert all(i.optional and i.source == "model_output" for i in POLICY_INPUTS)


@pytest.mark.parametrize(
    ("given", "source"),
    [
        ({"logits": T}, "logits"),
        ({"hidden_states": T, "lm_head_weight": T}, "hidden_states"),
        ({"hidden_states": T, "lm_head_weight": T, "lm_head_bias": T}, "hidden_states"),
        ({"log_probs": T}, "log_probs"),
    ],
)
def test_each_path(given, source):
    assert (
        policy_source(
            "dpo",
            **{
                **dict.fromkeys(("logits", "hidden_states", "lm_head_weight", "lm_head_bias", "log_probs")),
                **given,
            },
        )
        == source
    )


def _call(allow_log_probs: bool = True, **given):
    values = {
        **dict.fromkeys(("logits", "hidden_states", "lm_head_weight", "lm_head_bias", "log_probs")),
        **given,
    }
    return policy_source("some_loss", **values, allow_log_probs=allow_log_probs)


@pytest.mark.parametrize(
    ("given", "allow", "message"),
    [
        (
            {},
            True,
            "model_output has none of 'logits', 'hidden_states' with 'lm_head_weight', or 'log_probs'",
        ),
        ({}, False, "model_output has none of 'logits', 'hidden_states' with 'lm_head_weight'$"),
        ({"logits": T, "log_probs": T}, True, "has 'logits' and 'log_probs'; give exactly one"),
        ({"hidden_states": T}, True, "'hidden_states' needs input 'lm_head_weight'"),
        ({"logits": T, "lm_head_weight": T}, True, "the head is used only with 'hidden_states'"),
        ({"log_probs": T}, False, "input 'log_probs' is not accepted"),
    ],
)
def test_errors_name_the_loss_and_the_inputs(given, allow, message):
    with pytest.raises(LossInputError, match=message) as info:
        _call(allow, **given)
    assert str(info.value).startswith("some_loss: ")
