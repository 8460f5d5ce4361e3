r"""Losses over an LM head's logits, computed chunk by chunk, never holding them all.

A causal LM's logits are ``hidden_states @ lm_head_weight.T (+ bias)``,
``[rows, ..., V]``; with a 128k vocabulary they and their gradient dominate
training memory. :func:`linear_chunked_loss` takes the hidden states and the
head instead, and for each chunk of rows (dimension 0 of ``hidden``) it

1. computes that chunk's logits in float32 (float64 for a float64 head),
2. asks the loss for the chunk's share of the total loss and for the gradient
   of that share with respect to the chunk's logits (:class:`ChunkLoss`),
3. turns that gradient into the chunk's gradient for the hidden states,
   ``dL/dh = g W``, and adds ``g^T h`` to the weight's and ``sum(g)`` to the
   bias's, then drops the logits.

So the gradients are computed in the forward pass (as Liger-Kernel's fused
linear losses do), peak memory is ``O(chunk x V)`` on top of the weight's
gradient, and the work is the three matrix products of the unchunked loss:
nothing is recomputed. The backward pass only scales the stored gradients by
the incoming one. The loss must therefore be a sum of per-chunk shares: any
normaliser that spans chunks (a token count, a batch size) is known before the
chunks are computed and divided in by the chunk function.

Limits: the result is differentiable with respect to ``hidden``, ``weight``
and ``bias`` only (once: no double backward), and the Python loop over chunks
with gradients computed inside the forward pass is opaque to
``torch.compile``, which graph-breaks around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

__all__ = ["ChunkLoss", "ChunkOutput", "autograd_chunk", "default_chunk_rows", "linear_chunked_loss"]

_ELEMENTS_PER_CHUNK = 1 << 24
"""Target size of one chunk's logits: 2**24 floats, 64 MiB in float32."""


class ChunkOutput(NamedTuple):
    """What a chunk function returns for one chunk of rows.

    :param loss: 0-dim float32 (float64 for a float64 head), the chunk's share of the total loss (already
        divided by any global normaliser).
    :param grad_logits: ``d loss / d logits`` for the chunk, in the logits' dtype, shaped like
        the chunk's logits; ``None`` when no gradient was asked for.
    :param stats: detached tensors: 0-dim ones are summed over the chunks, the
        others concatenated along dimension 0 (one entry per row).
    """

    loss: torch.Tensor
    grad_logits: torch.Tensor | None
    stats: Mapping[str, torch.Tensor]


ChunkLoss = Callable[[torch.Tensor, slice, bool], ChunkOutput]
"""``chunk_loss(logits, rows, need_grad)``: the float32 (float64) logits of the rows
``rows`` of ``hidden`` (shape ``hidden.shape[:-1] + (V,)`` for those rows), and
whether the gradient with respect to them is needed. The logits buffer belongs
to the chunk function: it may overwrite it (for instance with the gradient, to
hold one ``chunk x V`` buffer instead of two); the engine drops it after the
call."""

ChunkTerms = Callable[[torch.Tensor, slice], tuple[torch.Tensor, Mapping[str, torch.Tensor]]]
"""``terms(logits, rows) -> (loss_share, stats)``, written with differentiable
torch operations; :func:`autograd_chunk` derives the gradient."""


def autograd_chunk(terms: ChunkTerms) -> ChunkLoss:
    """A :data:`ChunkLoss` whose gradient autograd computes from ``terms``.

    The same ``terms`` function serves the unchunked path (called on the full
    logits, inside the caller's graph) and the chunked one, so both compute
    one formula.
    """

    def chunk_loss(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        if not need_grad:
            with torch.no_grad():
                loss, stats = terms(logits, rows)
            return ChunkOutput(loss.detach(), None, {k: v.detach() for k, v in stats.items()})
        with torch.enable_grad():
            leaf = logits.detach().requires_grad_(True)
            loss, stats = terms(leaf, rows)
            if loss.requires_grad:
                (grad,) = torch.autograd.grad(loss, leaf)
            else:
                grad = torch.zeros_like(leaf)
        return ChunkOutput(loss.detach(), grad, {k: v.detach() for k, v in stats.items()})

    return chunk_loss


def default_chunk_rows(vocab_size: int, tokens_per_row: int = 1) -> int:
    """Rows per chunk so that a chunk's logits hold about 2**24 floats (64 MiB
    in float32): a power of two, at least 1, at most 1024."""
    rows = max(1, _ELEMENTS_PER_CHUNK // max(1, vocab_size * tokens_per_row))
    return int(min(1024, 1 << (rows.bit_length() - 1)))


def linear_chunked_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    chunk_loss: ChunkLoss,
    *,
    chunk_rows: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``sum over chunks of chunk_loss(hidden[rows] @ weight.T + bias)``, and the
    chunks' stats, without materialising the logits of more than ``chunk_rows``
    rows of ``hidden`` at once.

    :param hidden: ``[rows, ..., H]`` hidden states; chunks are taken along
        dimension 0 (tokens for per-token losses, sequences or pairs for
        sequence-level ones).
    :param weight: ``[V, H]`` LM head weight.
    :param bias: ``[V]`` LM head bias, or ``None``.
    :param chunk_loss: the loss of one chunk (:data:`ChunkLoss`).
    :param chunk_rows: rows of ``hidden`` per chunk (the last chunk may be shorter).
    :returns: the loss (0-dim float32, float64 for a float64 head, differentiable with respect to
        ``hidden``, ``weight`` and ``bias``) and the stats.
    """
    stats: dict[str, torch.Tensor] = {}
    tracked = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias)
    )
    if not tracked:
        value, _ = _chunk_loop(hidden, weight, bias, chunk_loss, chunk_rows, (False, False, False), stats)
        return value, stats
    loss: torch.Tensor = _LinearChunked.apply(  # type: ignore[no-untyped-call]
        hidden, weight, bias, chunk_loss, chunk_rows, stats
    )
    return loss, stats


def _merge(collected: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
    merged: dict[str, torch.Tensor] = {}
    for key, parts in collected.items():
        if parts[0].ndim == 0:
            merged[key] = torch.stack(parts).sum()
        else:
            merged[key] = torch.cat(parts)
    return merged


Gradients = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def _chunk_loop(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    chunk_loss: ChunkLoss,
    chunk_rows: int,
    needs: tuple[bool, bool, bool],
    stats_out: dict[str, torch.Tensor],
) -> tuple[torch.Tensor, Gradients]:
    """The loss over all chunks and the gradients ``needs`` asks for (hidden,
    weight, bias; the weight's and bias's accumulated in float32/float64)."""
    need_hidden, need_weight = needs[0], needs[1]
    need_bias = bias is not None and needs[2]
    need_grad = need_hidden or need_weight or need_bias
    size = hidden.shape[-1]
    vocab = weight.shape[0]
    acc = torch.float64 if weight.dtype == torch.float64 else torch.float32
    grad_hidden = torch.empty_like(hidden) if need_hidden else None
    grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_weight else None
    grad_bias = torch.zeros(vocab, dtype=acc, device=weight.device) if need_bias else None
    total = torch.zeros((), dtype=acc, device=hidden.device)
    collected: dict[str, list[torch.Tensor]] = {}
    for start in range(0, hidden.shape[0], chunk_rows):
        rows = slice(start, min(start + chunk_rows, hidden.shape[0]))
        h = hidden[rows].reshape(-1, size)
        logits = h @ weight.t() if bias is None else torch.addmm(bias, h, weight.t())
        out_shape = (*hidden[rows].shape[:-1], vocab)
        output = chunk_loss(logits.to(acc).view(out_shape), rows, need_grad)
        del logits
        total += output.loss.to(acc)
        for key, value in output.stats.items():
            collected.setdefault(key, []).append(value)
        if not need_grad or output.grad_logits is None:
            continue
        g = output.grad_logits.reshape(-1, vocab)
        g_low = g if g.dtype == weight.dtype else g.to(weight.dtype)
        if grad_hidden is not None:
            grad_hidden[rows] = (g_low @ weight).view(hidden[rows].shape)
        if grad_weight is not None:
            if weight.dtype == acc:
                grad_weight.addmm_(g.t(), h)
            else:
                grad_weight += (g_low.t() @ h).to(acc)
        if grad_bias is not None:
            grad_bias += g.sum(0)
        del g, g_low, output  # the chunk's gradient buffer goes before the next chunk's logits
    stats_out.update(_merge(collected))
    return total, (grad_hidden, grad_weight, grad_bias)


class _LinearChunked(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        chunk_loss: ChunkLoss,
        chunk_rows: int,
        stats_out: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        needs = ctx.needs_input_grad
        total, grads = _chunk_loop(
            hidden,
            weight,
            bias,
            chunk_loss,
            chunk_rows,
            (bool(needs[0]), bool(needs[1]), bool(needs[2])),
            stats_out,
        )
        ctx.save_for_backward(*(t if t is not None else torch.empty(0) for t in grads))
        ctx.present = tuple(t is not None for t in grads)
        ctx.weight_dtype = weight.dtype
        ctx.bias_dtype = None if bias is None else bias.dtype
        return total

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        scale = None if bool(torch.all(grad_loss == 1)) else grad_loss
        grads: list[torch.Tensor | None] = []
        for tensor, present, dtype in zip(
            saved, ctx.present, (None, ctx.weight_dtype, ctx.bias_dtype), strict=True
        ):
            if not present:
                grads.append(None)
                continue
            value = tensor if scale is None else tensor * scale.to(tensor.dtype)
            grads.append(value if dtype is None else value.to(dtype))
        return grads[0], grads[1], grads[2], None, None, None
