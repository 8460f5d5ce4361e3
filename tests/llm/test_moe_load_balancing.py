"""moe_load_balancing: the Switch/Mixtral load-balancing loss alpha * E * sum_e f_e P_e.

Oracles: transformers' ``load_balancing_loss_func``
(``transformers.models.mixtral.modeling_mixtral`` in transformers 5.18),
with and without an attention mask, and loops written from the Switch
Transformers paper's equations (4)-(6) (top-1) and their top-k form."""

from __future__ import annotations

import pytest
import torch
from transformers.models.mixtral import modeling_mixtral as mixtral

from losses_core import LOSSES, LossInputError, LossParameterError, loss_from_config, resolve_loss
from losses_core.testing import assert_conforms

L, B, T, E = 3, 2, 5, 6


def _router_batch(dtype: torch.dtype = torch.float32, seed: int = 0):
    """A tuple of L leaves ``[B*T, E]`` (as a Mixtral model returns its router
    logits) and an attention mask ``[B, T]`` padding 2 positions of the first
    sequence."""
    g = torch.Generator().manual_seed(seed)
    layers = tuple(
        (2 * torch.randn(B * T, E, generator=g, dtype=dtype)).requires_grad_(True) for _ in range(L)
    )
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, -2:] = 0
    return layers, mask


@pytest.mark.parametrize("top_k", [1, 2, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_equals_transformers_mixtral_load_balancing_loss_func(top_k, masked):
    layers, mask = _router_batch()
    attention_mask = mask if masked else None
    expected = mixtral.load_balancing_loss_func(layers, E, top_k, attention_mask)
    targets = {} if attention_mask is None else {"attention_mask": attention_mask}
    got = LOSSES["moe_load_balancing"]({"router_logits": layers}, targets, top_k=top_k, num_experts=E)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    for g, e in zip(torch.autograd.grad(got, layers), torch.autograd.grad(expected, layers), strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-6)


def _switch_loop(layers, mask, top_k, alpha):
    """alpha * E * sum_e f_e P_e over the unpadded tokens of every layer, with
    f_e = (tokens whose top-k experts include e) / n and P_e = (sum of p_e) / n."""
    experts = layers[0].shape[-1]
    keep = mask.reshape(-1).bool()
    routed = [0.0] * experts
    prob = [layers[0].new_zeros(()) for _ in range(experts)]
    n = 0
    for layer in layers:
        for row, kept in zip(layer, keep, strict=True):
            if not kept:
                continue
            p = torch.exp(row) / torch.exp(row).sum()
            order = sorted(range(experts), key=lambda e, p=p: -float(p[e].detach()))
            for e in range(experts):
                routed[e] += 1.0 if e in order[:top_k] else 0.0
                prob[e] = prob[e] + p[e]
            n += 1
    return alpha * experts * sum((routed[e] / n) * (prob[e] / n) for e in range(experts))


@pytest.mark.parametrize("top_k", [1, 2])
def test_equals_the_paper_loop_in_float64(top_k):
    layers, mask = _router_batch(torch.float64, seed=1)
    expected = _switch_loop(layers, mask, top_k, 0.01)
    got = LOSSES["moe_load_balancing"](
        {"router_logits": list(layers)}, {"attention_mask": mask}, top_k=top_k, weight=0.01
    )
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for g, e in zip(torch.autograd.grad(got, layers), torch.autograd.grad(expected, layers), strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)


def test_a_stacked_tensor_equals_the_tuple_and_a_bool_mask_equals_an_int_mask():
    layers, mask = _router_batch(torch.float64)
    fn = resolve_loss("moe_load_balancing")
    as_tuple = fn({"router_logits": layers}, {"attention_mask": mask})
    stacked = torch.stack([layer.detach() for layer in layers])
    as_tensor = fn({"router_logits": stacked}, {"attention_mask": mask.bool()})
    torch.testing.assert_close(as_tensor["loss"], as_tuple["loss"], rtol=0, atol=0)
    assert as_tensor["metrics"].keys() == {"max_load", "min_load"}
    one_layer = fn({"router_logits": stacked[0].reshape(B, T, E)}, {"attention_mask": mask})
    torch.testing.assert_close(
        one_layer["loss"],
        fn({"router_logits": (stacked[0],)}, {"attention_mask": mask})["loss"],
        rtol=0,
        atol=0,
    )


def test_weight_scales_the_value_and_defaults_to_one():
    layers, mask = _router_batch()
    out, tg = {"router_logits": layers}, {"attention_mask": mask}
    unscaled = LOSSES["moe_load_balancing"](out, tg)
    expected = mixtral.load_balancing_loss_func(layers, E, 2, mask)
    torch.testing.assert_close(unscaled, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(LOSSES["moe_load_balancing"](out, tg, weight=0.001), 0.001 * unscaled)


def test_uniform_router_gives_k_and_unit_loads():
    """Equal logits: P_e = 1/E and the shares f_e sum to k, so the loss is k
    whatever experts the ties pick; a router that always picks the same k
    experts has loads E/k there and 0 elsewhere."""
    uniform = torch.zeros(2, 8, E, requires_grad=True)
    result = resolve_loss("moe_load_balancing", top_k=3)({"router_logits": uniform}, {})
    torch.testing.assert_close(result["loss"], torch.tensor(3.0), rtol=0, atol=1e-6)
    peaked = torch.zeros(16, E)
    peaked[:, :2] = 5.0
    metrics = resolve_loss("moe_load_balancing")({"router_logits": peaked}, {})["metrics"]
    torch.testing.assert_close(metrics["max_load"], torch.tensor(E / 2))
    torch.testing.assert_close(metrics["min_load"], torch.tensor(0.0))


def test_all_padding_gives_a_connected_zero():
    layers, mask = _router_batch()
    result = resolve_loss("moe_load_balancing")(
        {"router_logits": layers}, {"attention_mask": torch.zeros_like(mask)}
    )
    assert result["loss"].requires_grad and float(result["loss"].detach()) == 0.0
    for grad in torch.autograd.grad(result["loss"], layers):
        assert bool((grad == 0).all())


def test_bfloat16_is_computed_in_float32():
    layers, mask = _router_batch()
    low = tuple(layer.detach().bfloat16().requires_grad_(True) for layer in layers)
    got = LOSSES["moe_load_balancing"]({"router_logits": low}, {"attention_mask": mask})
    assert got.dtype == torch.float32
    expected = LOSSES["moe_load_balancing"](
        {"router_logits": tuple(x.detach().float() for x in low)}, {"attention_mask": mask}
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_a_tuple_compiles_without_graph_breaks():
    layers, mask = _router_batch()
    fn = resolve_loss("moe_load_balancing")

    def step(out, tg):
        return fn(out, tg)["loss"]

    expected = step({"router_logits": layers}, {"attention_mask": mask})
    torch._dynamo.reset()
    got = torch.compile(step, fullgraph=True, backend="aot_eager")(
        {"router_logits": layers}, {"attention_mask": mask}
    )
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_conforms():
    assert_conforms("moe_load_balancing")


def test_from_yaml_config(tmp_path):
    layers, mask = _router_batch()
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n  type: moe_load_balancing\n  kwargs: {top_k: 1, weight: 0.01}\n"
        "  keys: {router_logits: aux}\n",
        encoding="utf-8",
    )
    got = loss_from_config(path)({"aux": layers}, {"attention_mask": mask})["loss"]
    expected = 0.01 * mixtral.load_balancing_loss_func(layers, E, 1, mask)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)


def test_bad_inputs_and_parameters_raise_clear_errors():
    layers, mask = _router_batch()
    name = "moe_load_balancing"
    call = LOSSES[name]
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' must be a tensor .* got an empty tuple"
    ):
        call({"router_logits": ()}, {})
    with pytest.raises(LossInputError, match=rf"{name}: input 'router_logits' must be a tensor .* got dict"):
        call({"router_logits": {"layer0": layers[0]}}, {})
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' must hold tensors.*item 1 is list"
    ):
        call({"router_logits": (layers[0], [1.0])}, {})
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' \(layer 1\) must have a floating"
    ):
        call({"router_logits": (layers[0], layers[1].long())}, {})
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' \(layer 2\) must be \[tokens, E\]"
    ):
        call({"router_logits": (layers[0], layers[1], layers[2][:, :4])}, {})
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' must be \[tokens, E\].*shape \(6,\)"
    ):
        call({"router_logits": torch.randn(6)}, {})
    with pytest.raises(LossInputError, match=rf"{name}: input 'router_logits' \(layer 0\) has 10 tokens but"):
        call({"router_logits": layers}, {"attention_mask": torch.ones(B, T + 1, dtype=torch.long)})
    with pytest.raises(
        LossInputError, match=rf"{name}: input 'router_logits' has 30 tokens, not a multiple of"
    ):
        call({"router_logits": torch.cat(layers)}, {"attention_mask": torch.ones(B, 4, dtype=torch.long)})
    with pytest.raises(LossInputError, match=rf"{name}: input 'attention_mask'.*integer or bool"):
        call({"router_logits": layers}, {"attention_mask": mask.float()})
    with pytest.raises(
        LossParameterError, match=rf"'{name}': parameter 'top_k' is 7 but there are only 6 experts"
    ):
        call({"router_logits": layers}, {}, top_k=7)
    with pytest.raises(LossParameterError, match=rf"'{name}': parameter 'num_experts' is 8 but"):
        call({"router_logits": layers}, {}, num_experts=8)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'top_k'.*>= 1"):
        resolve_loss(name, top_k=0)
    with pytest.raises(LossParameterError, match=rf"'{name}'.*'weight'.*>= 0"):
        resolve_loss(name, weight=-0.1)
