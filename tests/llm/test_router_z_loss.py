"""router_z_loss: the ST-MoE router z-loss c_z * mean over tokens of logsumexp(x)^2.

Oracles: transformers' ``router_z_loss_func``
(``transformers.models.switch_transformers.modeling_switch_transformers``),
which takes ``[groups, tokens, E]`` logits and averages over every token, and
a loop written from the paper's formula, with and without an attention mask."""

from __future__ import annotations

import pytest
import torch
from transformers.models.switch_transformers import modeling_switch_transformers as switch

from losses_core import LOSSES, LossInputError, LossParameterError, loss_from_config, resolve_loss
from losses_core.testing import assert_conforms

L, B, T, E = 3, 2, 5, 6


def _router_batch(dtype: torch.dtype = torch.float32, seed: int = 0):
    """A tuple of L leaves ``[B*T, E]`` and an attention mask ``[B, T]``
    padding 2 positions of the first sequence."""
    g = torch.Generator().manual_seed(seed)
    layers = tuple(
        (3 * torch.randn(B * T, E, generator=g, dtype=dtype)).requires_grad_(True) for _ in range(L)
    )
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, -2:] = 0
    return layers, mask


def _paper_loop(layers, mask, c_z):
    """c_z / n * sum over the n unpadded tokens i of every layer of (log sum_j exp x_ij)^2."""
    keep = torch.ones(B * T, dtype=torch.bool) if mask is None else mask.reshape(-1).bool()
    total, n = layers[0].new_zeros(()), 0
    for layer in layers:
        for row, kept in zip(layer, keep, strict=True):
            if kept:
                total = total + torch.log(torch.exp(row).sum()) ** 2
                n += 1
    return c_z * total / n


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_transformers_router_z_loss_func(dtype):
    layers, _ = _router_batch(dtype)
    expected = switch.router_z_loss_func(torch.stack(layers))
    got = LOSSES["router_z_loss"]({"router_logits": layers}, {}, weight=1.0)
    tol = {"rtol": 0, "atol": 1e-7 if dtype == torch.float64 else 1e-5}
    torch.testing.assert_close(got, expected, **tol)
    for g, e in zip(torch.autograd.grad(got, layers), torch.autograd.grad(expected, layers), strict=True):
        torch.testing.assert_close(g, e, **tol)


@pytest.mark.parametrize("masked", [False, True])
def test_equals_the_paper_loop_in_float64(masked):
    layers, mask = _router_batch(torch.float64, seed=1)
    attention_mask = mask if masked else None
    expected = _paper_loop(layers, attention_mask, 1e-3)
    targets = {} if attention_mask is None else {"attention_mask": attention_mask}
    got = resolve_loss("router_z_loss")({"router_logits": layers}, targets)
    torch.testing.assert_close(got["loss"], expected, rtol=0, atol=1e-12)
    for g, e in zip(
        torch.autograd.grad(got["loss"], layers), torch.autograd.grad(expected, layers), strict=True
    ):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)
    keep = torch.ones(B * T, dtype=torch.bool) if attention_mask is None else mask.reshape(-1).bool()
    log_z = torch.cat([torch.logsumexp(layer.detach()[keep], -1) for layer in layers])
    torch.testing.assert_close(got["metrics"]["log_z"], log_z.mean(), rtol=0, atol=1e-12)


def test_default_weight_is_st_moe_1e_3_and_the_layouts_agree():
    layers, mask = _router_batch(torch.float64)
    fn = resolve_loss("router_z_loss")
    unscaled = LOSSES["router_z_loss"]({"router_logits": layers}, {"attention_mask": mask}, weight=1.0)
    as_tuple = fn({"router_logits": layers}, {"attention_mask": mask})["loss"]
    torch.testing.assert_close(as_tuple, 1e-3 * unscaled, rtol=0, atol=1e-15)
    stacked = torch.stack([layer.detach() for layer in layers])
    as_tensor = fn({"router_logits": stacked}, {"attention_mask": mask.bool()})["loss"]
    torch.testing.assert_close(as_tensor, as_tuple, rtol=0, atol=0)


def test_all_padding_gives_a_connected_zero():
    layers, mask = _router_batch()
    result = resolve_loss("router_z_loss")(
        {"router_logits": layers}, {"attention_mask": torch.zeros_like(mask)}
    )
    assert result["loss"].requires_grad and float(result["loss"].detach()) == 0.0
    for grad in torch.autograd.grad(result["loss"], layers):
        assert bool((grad == 0).all())
    assert float(result["metrics"]["log_z"]) == 0.0


def test_bfloat16_is_computed_in_float32():
    layers, mask = _router_batch()
    low = tuple(layer.detach().bfloat16().requires_grad_(True) for layer in layers)
    got = LOSSES["router_z_loss"]({"router_logits": low}, {"attention_mask": mask})
    assert got.dtype == torch.float32
    expected = LOSSES["router_z_loss"](
        {"router_logits": tuple(x.detach().float() for x in low)}, {"attention_mask": mask}
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-8)


def test_conforms():
    assert_conforms("router_z_loss")


def test_from_yaml_config_as_a_composite_with_load_balancing(tmp_path):
    layers, mask = _router_batch()
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n  terms:\n"
        "    - {type: moe_load_balancing, weight: 0.01}\n"
        "    - {type: router_z_loss, kwargs: {weight: 0.002}}\n",
        encoding="utf-8",
    )
    out, tg = {"router_logits": layers}, {"attention_mask": mask}
    got = loss_from_config(path)(out, tg)["loss"]
    expected = 0.01 * LOSSES["moe_load_balancing"](out, tg) + 0.002 * LOSSES["router_z_loss"](
        out, tg, weight=1.0
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-8)


def test_bad_inputs_and_parameters_raise_clear_errors():
    layers, mask = _router_batch()
    name = "router_z_loss"
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' must be a tensor .* got an empty list"
    ):
        LOSSES[name]({"router_logits": []}, {})
    with pytest.raises(LossInputError, match=rf"{name}: input 'router_logits' must have a floating dtype"):
        LOSSES[name]({"router_logits": torch.ones(4, 3, dtype=torch.long)}, {})
    with pytest.raises(LossInputError, match=rf"{name}: input 'router_logits' \(layer 1\) has 9 tokens"):
        LOSSES[name]({"router_logits": (layers[0], layers[1][:9])}, {"attention_mask": mask})
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'weight'.*>= 0"):
        resolve_loss(name, weight=-1e-3)
