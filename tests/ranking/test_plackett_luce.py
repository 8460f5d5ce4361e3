"""ListMLE's fused Plackett-Luce function (the default on CPU) against the
autograd graph of ``torch.logcumsumexp`` and against a float64 loop written
from the formula: values, gradients, higher-order gradients, both of its
branches (the cumulative sum, and the wide-spread fallback), padding filled
with anything, and the routes it must not take (torch.func, torch.compile)."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from losses_ranking import listmle
from losses_ranking._plackett_luce import (
    _FusedPlackettLuce,
    _safe_span,
    plackett_luce_nll,
    plackett_luce_nll_graph,
)


def reversed_true_order(relevance, mask):
    """Indices least relevant first, padded first (ties: later item first),
    and the mask in that order."""
    key = relevance.masked_fill(~mask, -math.inf)
    values, idx = torch.sort(key, dim=-1, descending=True, stable=True)
    return idx.flip(-1), (values > -math.inf).flip(-1)


def loop_nll(scores, relevance, mask):
    """Per-list negative Plackett-Luce log-likelihood, item by item in float64."""
    out = []
    for s, y, m in zip(scores.tolist(), relevance.tolist(), mask.tolist(), strict=True):
        items = sorted((i for i in range(len(s)) if m[i]), key=lambda i: -y[i])  # stable: ties by position
        total = 0.0
        for r, i in enumerate(items):
            rest = [s[j] for j in items[r:]]
            top = max(rest)
            total += top + math.log(sum(math.exp(v - top) for v in rest)) - s[i]
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def inputs(seed, b=5, length=9, scale=1.0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    scores = (torch.randn(b, length, generator=gen, dtype=torch.float64) * scale).to(dtype)
    relevance = torch.randint(0, 4, (b, length), generator=gen).to(dtype)
    mask = torch.rand(b, length, generator=gen) > 0.25
    mask[0] = False  # an all-padded list
    mask[1] = True  # a full one
    return scores, relevance, mask


def both_routes(scores, relevance, mask):
    order, real = reversed_true_order(relevance, mask)
    results = []
    for route in (plackett_luce_nll, plackett_luce_nll_graph):
        leaf = scores.clone().requires_grad_(True)
        per_list = route(leaf, order, real)
        weights = torch.linspace(0.5, 1.5, per_list.shape[0], dtype=per_list.dtype)
        (per_list * weights).sum().backward()
        results.append((per_list.detach(), leaf.grad))
    return results


@pytest.mark.parametrize("scale", [1.0, 30.0, 300.0, 3000.0])
def test_fused_equals_graph_and_loop_in_float64(scale):
    # 300 is within float64's safe span (the cumulative sum), 3000 beyond it
    # (the logcumsumexp branch inside the fused function)
    scores, relevance, mask = inputs(1, scale=scale)
    (fused, fused_grad), (graph, graph_grad) = both_routes(scores, relevance, mask)
    torch.testing.assert_close(fused, loop_nll(scores, relevance, mask), rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(fused, graph, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(fused_grad, graph_grad, rtol=1e-10, atol=1e-12)
    assert fused[0] == 0 and torch.all(fused_grad[0] == 0)
    assert torch.all(fused_grad[~mask] == 0)


@pytest.mark.parametrize("scale", [1.0, 20.0, 200.0])
def test_fused_equals_graph_in_float32(scale):
    # 200 is beyond float32's safe span: the fallback branch
    scores, relevance, mask = inputs(2, b=16, length=64, scale=scale, dtype=torch.float32)
    (fused, fused_grad), (graph, graph_grad) = both_routes(scores, relevance, mask)
    exact = loop_nll(scores.double(), relevance.double(), mask).float()
    torch.testing.assert_close(fused, exact, rtol=2e-5, atol=1e-3 * scale)
    torch.testing.assert_close(fused, graph, rtol=2e-5, atol=1e-3 * scale)
    torch.testing.assert_close(fused_grad, graph_grad, rtol=1e-4, atol=1e-5)


def test_safe_span_limits():
    # float32, 64 items: exp(-span) is a normal float and 64 * exp(span) is finite
    span = _safe_span(torch.float32, 64)
    assert 80 < span < 87
    assert math.exp(-span) > torch.finfo(torch.float32).tiny
    assert 64 * math.exp(span) < torch.finfo(torch.float32).max
    assert 700 < _safe_span(torch.float64, 64) < 709


@pytest.mark.parametrize("fill", [-math.inf, math.inf, math.nan, 1e30])
def test_padded_slots_may_hold_anything(fill):
    scores, relevance, mask = inputs(3)
    dirty = scores.masked_fill(~mask, fill)
    for (per_list, grad), (clean, clean_grad) in zip(
        both_routes(dirty, relevance, mask), both_routes(scores, relevance, mask), strict=True
    ):
        torch.testing.assert_close(per_list, clean, rtol=0, atol=0)
        torch.testing.assert_close(grad, clean_grad, rtol=0, atol=0)


def test_gradcheck_and_gradgradcheck_in_both_branches():
    for scale in (1.0, 2000.0):  # the cumulative sum, then the fallback
        scores, relevance, mask = inputs(4, b=3, length=5, scale=scale)
        order, real = reversed_true_order(relevance, mask)
        leaf = scores.clone().requires_grad_(True)
        fused = functools.partial(_fused, order=order, real=real)
        assert torch.autograd.gradcheck(fused, (leaf,))
        assert torch.autograd.gradgradcheck(fused, (leaf,))


def _fused(scores, *, order, real):
    return _FusedPlackettLuce.apply(scores, order, real)


def test_listmle_takes_the_fused_function_on_cpu_and_the_graph_when_asked():
    scores, relevance, mask = inputs(5)
    leaf = scores.clone().requires_grad_(True)
    fused = listmle({"scores": leaf}, {"relevance": relevance, "mask": mask}, reduction="none")
    graph = listmle(
        {"scores": leaf}, {"relevance": relevance, "mask": mask}, reduction="none", normalizer="logcumsumexp"
    )
    assert type(fused.grad_fn).__name__ == "_FusedPlackettLuceBackward"
    assert "FusedPlackettLuce" not in type(graph.grad_fn).__name__
    torch.testing.assert_close(fused, graph, rtol=1e-12, atol=1e-12)


def test_torch_func_transforms_take_the_graph_route():
    scores, relevance, mask = inputs(6)
    order, real = reversed_true_order(relevance, mask)

    def total(s):
        return plackett_luce_nll(s, order, real).sum()

    eager = scores.clone().requires_grad_(True)
    total(eager).backward()
    torch.testing.assert_close(torch.func.grad(total)(scores), eager.grad, rtol=1e-12, atol=1e-12)
    per_row = torch.func.vmap(lambda s, o, r: plackett_luce_nll(s[None], o[None], r[None])[0])
    expected = plackett_luce_nll_graph(scores, order, real)
    torch.testing.assert_close(per_row(scores, order, real), expected, rtol=1e-12, atol=1e-12)


def test_compiled_listmle_matches_eager():
    scores, relevance, mask = inputs(7, dtype=torch.float32)

    def loss(s):
        return listmle({"scores": s}, {"relevance": relevance, "mask": mask})["loss"]

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    a = scores.clone().requires_grad_(True)
    b = scores.clone().requires_grad_(True)
    expected, got = loss(a), compiled(b)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    expected.backward()
    got.backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)
