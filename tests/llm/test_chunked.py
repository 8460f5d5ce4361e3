"""losses_llm._chunked: the fused-linear engine equals autograd through the
materialised logits, for every chunk size, dtype and combination of inputs
that need a gradient, and holds at most one chunk of logits at a time."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
import torch.nn.functional as F

from losses_llm._chunked import ChunkOutput, autograd_chunk, default_chunk_rows, linear_chunked_loss

N, H, V = 23, 8, 31


def _inputs(dtype: torch.dtype = torch.float64, bias: bool = True, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, H, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(V, H, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(V, generator=g, dtype=dtype, requires_grad=True) if bias else None
    labels = torch.randint(0, V, (N,), generator=g)
    return hidden, weight, b, labels


def _ce_terms(labels: torch.Tensor):
    def terms(logits: torch.Tensor, rows: slice) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        y = labels[rows]
        loss = F.cross_entropy(logits, y, reduction="sum") / N
        correct = (logits.argmax(-1) == y).sum()
        return loss, {"correct": correct, "per_row": logits.logsumexp(-1)}

    return terms


def _reference(hidden, weight, bias, labels):
    logits = hidden @ weight.t() + (0 if bias is None else bias)
    return F.cross_entropy(logits.double(), labels), logits


@pytest.mark.parametrize("chunk_rows", [1, 4, 7, N, 100])
@pytest.mark.parametrize("with_bias", [True, False])
def test_value_and_gradients_equal_autograd_through_the_logits(chunk_rows, with_bias):
    hidden, weight, bias, labels = _inputs(bias=with_bias)
    leaves = [t for t in (hidden, weight, bias) if t is not None]
    loss, stats = linear_chunked_loss(
        hidden, weight, bias, autograd_chunk(_ce_terms(labels)), chunk_rows=chunk_rows
    )
    grads = torch.autograd.grad(3.0 * loss, leaves)
    expected, logits = _reference(hidden, weight, bias, labels)
    expected_grads = torch.autograd.grad(3.0 * expected, leaves)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-12)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert int(stats["correct"]) == int((logits.argmax(-1) == labels).sum())
    torch.testing.assert_close(stats["per_row"], logits.logsumexp(-1).detach())


def test_a_head_that_needs_no_gradient_gets_none_and_hidden_still_does():
    hidden, weight, bias, labels = _inputs()
    weight.requires_grad_(False)
    loss, _ = linear_chunked_loss(hidden, weight, bias, autograd_chunk(_ce_terms(labels)), chunk_rows=5)
    loss.backward()
    leaf = hidden.detach().requires_grad_()
    expected, _ = _reference(leaf, weight, bias, labels)
    expected.backward()
    assert weight.grad is None
    assert hidden.grad is not None and bias is not None and bias.grad is not None
    torch.testing.assert_close(hidden.grad, leaf.grad, rtol=0, atol=1e-12)


def test_no_gradient_anywhere_computes_the_value_only():
    hidden, weight, bias, labels = _inputs()
    calls: list[bool] = []
    inner = autograd_chunk(_ce_terms(labels))

    def spy(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        calls.append(need_grad)
        return inner(logits, rows, need_grad)

    with torch.no_grad():
        loss, _ = linear_chunked_loss(hidden, weight, bias, spy, chunk_rows=10)
    expected, _ = _reference(hidden, weight, bias, labels)
    torch.testing.assert_close(loss, expected.detach(), rtol=0, atol=1e-12)
    assert calls == [False, False, False]
    assert not loss.requires_grad


def test_chunk_functions_see_float32_logits_of_their_rows_only():
    hidden, weight, bias, labels = _inputs(dtype=torch.bfloat16)
    seen: list[tuple[torch.dtype, tuple[int, ...], slice]] = []
    inner = autograd_chunk(_ce_terms(labels))

    def spy(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        seen.append((logits.dtype, tuple(logits.shape), rows))
        return inner(logits, rows, need_grad)

    loss, _ = linear_chunked_loss(hidden, weight, bias, spy, chunk_rows=10)
    loss.backward()
    assert seen == [
        (torch.float32, (10, V), slice(0, 10)),
        (torch.float32, (10, V), slice(10, 20)),
        (torch.float32, (3, V), slice(20, 23)),
    ]
    assert loss.dtype == torch.float32
    assert hidden.grad is not None and hidden.grad.dtype == torch.bfloat16
    assert weight.grad is not None and weight.grad.dtype == torch.bfloat16


def test_bfloat16_matches_float32_within_bfloat16_precision():
    hidden, weight, bias, labels = _inputs(dtype=torch.float32)
    low = [t.detach().bfloat16().requires_grad_() for t in (hidden, weight, bias)]  # type: ignore[union-attr]
    loss, _ = linear_chunked_loss(*low, autograd_chunk(_ce_terms(labels)), chunk_rows=6)
    expected, _ = _reference(*(t.detach().bfloat16().float() for t in (hidden, weight, bias)), labels)  # type: ignore[union-attr]
    torch.testing.assert_close(loss, expected.float(), rtol=1e-3, atol=1e-3)


def test_sequence_chunks_keep_the_inner_dimensions():
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(5, 3, H, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(V, H, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, V, (5, 3), generator=g)

    def terms(logits: torch.Tensor, rows: slice) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        assert logits.shape[1:] == (3, V)
        per_sequence = (
            -torch.log_softmax(logits, -1).gather(-1, labels[rows].unsqueeze(-1)).squeeze(-1).sum(-1)
        )
        return F.softplus(per_sequence - 10.0).sum() / 5, {"seq": per_sequence}

    loss, stats = linear_chunked_loss(hidden, weight, None, autograd_chunk(terms), chunk_rows=2)
    grads = torch.autograd.grad(loss, (hidden, weight))
    logits = hidden @ weight.t()
    per_sequence = -torch.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(-1)
    expected = F.softplus(per_sequence - 10.0).mean()
    for got, want in zip(grads, torch.autograd.grad(expected, (hidden, weight)), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(stats["seq"], per_sequence.detach())


def test_a_constant_chunk_loss_gives_zero_gradients_connected_to_the_graph():
    hidden, weight, bias, _ = _inputs()

    def terms(logits: torch.Tensor, rows: slice) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        return torch.zeros((), dtype=logits.dtype), {}

    loss, _ = linear_chunked_loss(hidden, weight, bias, autograd_chunk(terms), chunk_rows=4)
    assert loss.requires_grad
    loss.backward()
    assert hidden.grad is not None and torch.count_nonzero(hidden.grad) == 0


@pytest.mark.parametrize(
    ("vocab", "tokens", "rows"),
    [(131072, 1, 128), (32000, 1, 512), (50, 1, 1024), (131072, 1024, 1), (256, 100, 512)],
)
def test_default_chunk_rows_hold_about_two_to_the_24_logits(vocab, tokens, rows):
    assert default_chunk_rows(vocab, tokens) == rows
