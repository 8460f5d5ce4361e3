"""ppo: against TRL's ``PPOTrainer`` loss (transcribed, ``_pg_trl``), the
paper's L^CLIP and the clipped value loss written as loops (``_pg_paper``),
and Liger-Kernel's fused linear GRPO loss (``bnpo`` with one clip range is
PPO's policy loss); the on-policy gradient, the three input paths, empty
batches, errors, conformance and config."""

from __future__ import annotations

import pytest
import torch
from _pg_data import Rollout, rollout
from _pg_paper import paper_ppo, paper_value_loss
from _pg_trl import trl_ppo_loss, trl_selective_log_softmax
from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss

from losses_core import LOSSES, LossParameterError, MissingInputError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import ppo


def _values(data: Rollout, stream: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(stream)
    shape, dtype = data.mask.shape, data.hidden.dtype
    values = torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(True)
    return {
        "values": values,
        "old_values": values.detach() + 0.3 * torch.randn(*shape, generator=g, dtype=dtype),
        "returns": torch.randn(*shape, generator=g, dtype=dtype),
    }


def _token_advantages(data: Rollout, stream: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(stream)
    return torch.randn(*data.mask.shape, generator=g, dtype=data.hidden.dtype)


@pytest.mark.parametrize("clip_range", [0.1, 0.2])
def test_equals_trl_ppo_trainer_loss(clip_range):
    temperature = 0.7
    data = rollout(dtype=torch.float64, temperature=temperature)
    logits = data.logits().detach().requires_grad_(True)
    value_inputs = _values(data)
    advantages = _token_advantages(data)
    # TRL's value mask reaches one token past the response (padding_mask_p1)
    value_mask = data.mask.clone()
    value_mask[1, -2] = 1
    result = ppo(
        {"logits": logits, "values": value_inputs["values"]},
        {
            "completion_mask": data.mask,
            "advantages": advantages,
            "completion_ids": data.ids,
            "old_log_probs": data.old,
            "old_values": value_inputs["old_values"],
            "returns": value_inputs["returns"],
            "value_mask": value_mask,
        },
        clip_range=clip_range,
        temperature=temperature + 1e-7,  # TRL divides the logits by temperature + 1e-7
    )
    new_logprobs = trl_selective_log_softmax(logits / (temperature + 1e-7), data.ids)
    expected, trl_metrics = trl_ppo_loss(
        new_logprobs,
        data.old,
        advantages,
        data.mask == 0,
        value_inputs["values"],
        value_inputs["old_values"],
        value_inputs["returns"],
        value_mask == 0,
        cliprange=clip_range,
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-12)
    leaves = [logits, value_inputs["values"]]
    for got, want in zip(
        torch.autograd.grad(result["loss"], leaves), torch.autograd.grad(expected, leaves), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    metrics = result["metrics"]
    torch.testing.assert_close(metrics["policy_loss"], trl_metrics["pg_loss"].detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(metrics["value_loss"], trl_metrics["vf_loss"].detach(), rtol=0, atol=1e-12)
    # TRL averages its clip masks in float32 (.float())
    torch.testing.assert_close(
        metrics["value_clip_ratio"], trl_metrics["vf_clipfrac"].double(), rtol=0, atol=1e-7
    )
    torch.testing.assert_close(
        metrics["clip_ratio_region"], trl_metrics["pg_clipfrac"].double(), rtol=0, atol=1e-7
    )
    assert 0 < float(metrics["clip_ratio_region"]) < 1
    assert 0 < float(metrics["value_clip_ratio"]) < 1


@pytest.mark.parametrize("clip_range_value", [0.2, None])
def test_equals_the_papers_loops(clip_range_value):
    data = rollout(dtype=torch.float64)
    with torch.no_grad():
        current = data.log_probs()
    lp = current.requires_grad_(True)
    value_inputs = _values(data)
    advantages = _token_advantages(data)
    targets = {
        "completion_mask": data.mask,
        "advantages": advantages,
        "old_log_probs": data.old,
        "returns": value_inputs["returns"],
    }
    if clip_range_value is not None:
        targets["old_values"] = value_inputs["old_values"]
    result = ppo(
        {"log_probs": lp, "values": value_inputs["values"]},
        targets,
        clip_range=0.15,
        vf_coef=0.5,
        clip_range_value=clip_range_value,
    )
    m = data.mask.tolist()
    expected = paper_ppo(lp, data.old, advantages.tolist(), m, eps=0.15) + 0.5 * paper_value_loss(
        value_inputs["values"], value_inputs["old_values"], value_inputs["returns"], m, clip=clip_range_value
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-12)
    leaves = [lp, value_inputs["values"]]
    for got, want in zip(
        torch.autograd.grad(result["loss"], leaves), torch.autograd.grad(expected, leaves), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_policy_loss_equals_liger_bnpo_with_one_clip_range(chunk_size):
    data = rollout()
    module = LigerFusedLinearGRPOLoss(
        beta=0.0, compiled=False, use_ref_model=False, epsilon_low=0.1, epsilon_high=0.1, loss_type="bnpo"
    )
    expected, _ = module(
        data.hidden,
        data.weight,
        data.ids,
        data.mask,
        data.advantages,
        bias=data.bias,
        old_per_token_logps=data.old,
    )
    result = ppo(
        {"hidden_states": data.hidden, "lm_head_weight": data.weight, "lm_head_bias": data.bias},
        {
            "completion_mask": data.mask,
            "advantages": data.advantages,
            "completion_ids": data.ids,
            "old_log_probs": data.old,
        },
        clip_range=0.1,
        chunk_size=chunk_size,
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-5)
    for got, want in zip(
        torch.autograd.grad(result["loss"], data.leaves()),
        torch.autograd.grad(expected, data.leaves()),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_on_policy_gradient_is_the_token_mean_policy_gradient():
    data = rollout(dtype=torch.float64)
    with torch.no_grad():
        current = data.log_probs()
    lp = current.requires_grad_(True)
    advantages = _token_advantages(data)
    result = ppo({"log_probs": lp}, {"completion_mask": data.mask, "advantages": advantages})
    (grad,) = torch.autograd.grad(result["loss"], lp)
    mask = data.mask.double()
    torch.testing.assert_close(grad, -advantages * mask / mask.sum(), rtol=0, atol=1e-15)
    torch.testing.assert_close(result["loss"], -(advantages * mask).sum() / mask.sum(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("chunk_size", [1, 4, 28])
def test_chunked_equals_logits_equals_log_probs(chunk_size):
    data = rollout(dtype=torch.float64)
    value_inputs = _values(data)
    targets = {
        "completion_mask": data.mask,
        "advantages": _token_advantages(data),
        "completion_ids": data.ids,
        "old_log_probs": data.old,
        "old_values": value_inputs["old_values"],
        "returns": value_inputs["returns"],
    }
    head = {"hidden_states": data.hidden, "lm_head_weight": data.weight, "lm_head_bias": data.bias}
    leaves = [*data.leaves(), value_inputs["values"]]
    results = [
        ppo({**head, "values": value_inputs["values"]}, targets, chunk_size=chunk_size),
        ppo({"logits": data.logits(), "values": value_inputs["values"]}, targets),
        ppo({"log_probs": data.log_probs(), "values": value_inputs["values"]}, targets),
    ]
    grads = [torch.autograd.grad(r["loss"], leaves) for r in results]
    for other, other_grads in zip(results[1:], grads[1:], strict=True):
        torch.testing.assert_close(results[0]["loss"], other["loss"], rtol=0, atol=1e-13)
        for got, want in zip(grads[0], other_grads, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for key, value in results[1]["metrics"].items():
        torch.testing.assert_close(results[0]["metrics"][key], value, rtol=0, atol=1e-12)


def test_a_batch_without_response_tokens_gives_zero_and_zero_gradients():
    data = rollout()
    data.mask.zero_()
    value_inputs = _values(data)
    lp = torch.full_like(data.old, float("inf")).requires_grad_(True)
    result = ppo(
        {"log_probs": lp, "values": value_inputs["values"]},
        {
            "completion_mask": data.mask,
            "advantages": _token_advantages(data),
            "old_log_probs": torch.full_like(data.old, -float("inf")),
            "old_values": torch.full_like(data.old, float("nan")),
            "returns": value_inputs["returns"],
        },
    )
    assert float(result["loss"].detach()) == 0.0
    for grad in torch.autograd.grad(result["loss"], [lp, value_inputs["values"]]):
        assert bool((grad == 0).all())
    for name, value in result["metrics"].items():
        assert bool(torch.isfinite(value)), name


def test_per_sequence_advantages_broadcast_over_tokens():
    data = rollout(dtype=torch.float64)
    lp = data.log_probs()
    base = {"completion_mask": data.mask, "old_log_probs": data.old}
    per_token = data.advantages.unsqueeze(-1).expand_as(data.old).clone()
    torch.testing.assert_close(
        ppo({"log_probs": lp}, {**base, "advantages": data.advantages})["loss"],
        ppo({"log_probs": lp}, {**base, "advantages": per_token})["loss"],
        rtol=0,
        atol=0,
    )


ERRORS = [
    ({"vf_coef": 0.5}, {}, LossParameterError, "'vf_coef'"),
    ({"clip_range_value": None}, {}, LossParameterError, "'clip_range_value'"),
    ({}, ("values",), MissingInputError, "'returns'"),
    ({}, ("values", "returns"), MissingInputError, "'old_values'"),
    ({"temperature": 0.5}, {}, LossParameterError, "'temperature'"),
    ({"clip_range": 1.5}, {}, LossParameterError, "clip_range"),
]


@pytest.mark.parametrize(("params", "given", "error", "text"), ERRORS, ids=lambda x: str(x)[:40])
def test_errors_name_the_parameter_or_input(params, given, error, text):
    data = rollout()
    value_inputs = _values(data)
    model_output = {"log_probs": data.log_probs()}
    targets = {"completion_mask": data.mask, "advantages": data.advantages}
    if "values" in given:
        model_output["values"] = value_inputs["values"]
    if "returns" in given:
        targets["returns"] = value_inputs["returns"]
    with pytest.raises(error, match="ppo") as info:
        ppo(model_output, targets, **params)
    assert text in str(info.value)


def test_unclipped_value_loss_needs_no_old_values():
    data = rollout()
    value_inputs = _values(data)
    result = ppo(
        {"log_probs": data.log_probs(), "values": value_inputs["values"]},
        {"completion_mask": data.mask, "advantages": data.advantages, "returns": value_inputs["returns"]},
        clip_range_value=None,
    )
    mask = data.mask.float()
    expected = 0.5 * (((value_inputs["values"] - value_inputs["returns"]) ** 2) * mask).sum() / mask.sum()
    torch.testing.assert_close(result["metrics"]["value_loss"], expected.detach(), rtol=0, atol=1e-6)
    assert float(result["metrics"]["value_clip_ratio"]) == 0.0


def test_conforms():
    assert_conforms("ppo")


def test_from_yaml_config(tmp_path):
    path = tmp_path / "ppo.yaml"
    path.write_text(
        "loss:\n"
        "  type: ppo\n"
        "  kwargs: {clip_range: 0.1, vf_coef: 0.5, clip_range_value: null}\n"
        "  keys: {values: value_preds}\n"
    )
    loss_fn = loss_from_config(path)
    data = rollout()
    value_inputs = _values(data)
    lp = data.log_probs()
    targets = {
        "completion_mask": data.mask,
        "advantages": data.advantages,
        "returns": value_inputs["returns"],
    }
    result = loss_fn({"log_probs": lp, "value_preds": value_inputs["values"]}, targets)
    expected = ppo(
        {"log_probs": lp, "values": value_inputs["values"]},
        targets,
        clip_range=0.1,
        vf_coef=0.5,
        clip_range_value=None,
    )
    torch.testing.assert_close(result["loss"], expected["loss"], rtol=0, atol=0)
    assert LOSSES["ppo"]({"log_probs": lp}, targets).ndim == 0


def test_chunked_path_under_torch_compile_gives_the_eager_value():
    data = rollout()
    model_output = {"hidden_states": data.hidden, "lm_head_weight": data.weight}
    targets = {
        "completion_mask": data.mask,
        "advantages": data.advantages,
        "completion_ids": data.ids,
        "old_log_probs": data.old,
    }

    def step(mo, t):
        return ppo(mo, t, chunk_size=16)["loss"]

    expected = step(model_output, targets)
    torch._dynamo.reset()
    compiled = torch.compile(step, backend="aot_eager")(model_output, targets)
    torch.testing.assert_close(compiled, expected, rtol=1e-6, atol=1e-6)
