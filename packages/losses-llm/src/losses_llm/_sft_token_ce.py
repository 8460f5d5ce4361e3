r"""The token cross-entropy of ``causal_lm`` for a block of rows of logits,
with its gradient written by hand, applied to whole logits (an autograd
function) and to the chunks of the fused-linear engine (a ``ChunkLoss``).

For each row :math:`i` with label :math:`y_i` (not ignored), logits
:math:`x_i` soft-capped to :math:`z_i = c \tanh(x_i / c)` when a cap is set,
:math:`\mathrm{lse}_i = \log\sum_v e^{z_{i,v}}`, smoothing :math:`\varepsilon`,
z-loss weight :math:`\lambda` and row weight :math:`w_i` (the reduction's
normaliser):

.. math::
    \ell_i = (1-\varepsilon)(\mathrm{lse}_i - z_{i,y_i})
             + \varepsilon\Big(\mathrm{lse}_i - \frac1V\sum_v z_{i,v}\Big)
             + \lambda\, \mathrm{lse}_i^2

    \frac{\partial\, w_i \ell_i}{\partial z_{i,v}} = w_i\Big(p_{i,v}(1 + 2\lambda\,\mathrm{lse}_i)
             - (1-\varepsilon)[v = y_i] - \frac{\varepsilon}{V}\Big),
    \qquad p_{i,v} = e^{z_{i,v} - \mathrm{lse}_i}

times :math:`1 - \tanh^2(x_{i,v}/c)` with a cap. One pass over the logits
gives the loss, the gradient and the accuracy; the logits buffer becomes the
gradient in place, so the only ``[rows, V]`` temporary is the soft-cap's
``tanh`` (none without a cap).

With a vocabulary shard (:mod:`losses_llm._vocab_parallel`) the rows hold
this rank's slice of the vocabulary; the row maximum is all-reduced (MAX), then
:math:`\sum_v e^{z_v - \max}`, the label's logit (0 on ranks that do not own
the label) and :math:`\sum_v z_v` (SUM), so every rank computes the loss of the
whole vocabulary and the gradient of its own slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.autograd.function import once_differentiable

from losses_core.tensors import as_float
from losses_llm._chunked import ChunkLoss, ChunkOutput
from losses_llm._vocab_parallel import VocabShard, all_reduce_max_, all_reduce_sum_

__all__ = ["RowsOutput", "TokenCESpec", "chunk_token_ce", "logits_token_ce", "token_ce_rows"]


@dataclass(frozen=True)
class TokenCESpec:
    """The options of the token cross-entropy.

    :param label_smoothing: :math:`\\varepsilon`.
    :param z_loss: :math:`\\lambda`.
    :param logit_softcap: the cap :math:`c`, or ``None``.
    :param shard: this rank's vocabulary shard, or ``None`` when the rows hold
        the whole vocabulary.
    """

    label_smoothing: float = 0.0
    z_loss: float = 0.0
    logit_softcap: float | None = None
    shard: VocabShard | None = None


class RowsOutput(NamedTuple):
    """The token cross-entropy of a block of rows.

    :param values: ``[rows]`` :math:`w_i \\ell_i`, 0 at ignored rows.
    :param grad: ``[rows, V]`` :math:`\\partial (w_i \\ell_i) / \\partial x_i`, or ``None``.
    :param correct: 0-dim count of target rows whose label's logit is the row maximum.
    :param z_term: 0-dim :math:`\\sum_i w_i \\lambda\\, \\mathrm{lse}_i^2` (0 without z-loss).
    """

    values: torch.Tensor
    grad: torch.Tensor | None
    correct: torch.Tensor
    z_term: torch.Tensor


def token_ce_rows(
    buffer: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    scale: torch.Tensor | float,
    spec: TokenCESpec,
    need_grad: bool,
) -> RowsOutput:
    """The loss terms, gradient and accuracy of ``[rows, V]`` float32/float64
    logits ``buffer``, which this function overwrites (it becomes the gradient).

    :param labels: ``[rows]`` vocabulary ids (any value where ``valid`` is false).
    :param valid: ``[rows]`` bool, the target rows.
    :param scale: the weight of every target row (1 / the normaliser of ``"mean"``).
    """
    shard = spec.shard
    eps, lam, cap = spec.label_smoothing, spec.z_loss, spec.logit_softcap
    width = buffer.shape[-1]
    vocab = width if shard is None else shard.vocab_size
    if shard is None:
        owned = valid
        local = labels
    else:
        local = labels - shard.offset
        owned = valid & (local >= 0) & (local < width)
    index = local.masked_fill(~owned, 0).long().unsqueeze(-1)

    tanh: torch.Tensor | None = None
    z = buffer
    if cap is not None:
        if need_grad:
            tanh = buffer.div_(cap).tanh_()
            z = tanh * cap
        else:
            z = buffer.div_(cap).tanh_().mul_(cap)

    row_max = z.amax(dim=-1)
    target = z.gather(-1, index).squeeze(-1).masked_fill(~owned, 0)
    logit_sum = z.sum(dim=-1) if eps > 0 else None
    if shard is not None:
        all_reduce_max_(row_max, shard)
    exp = z.sub_(row_max.unsqueeze(-1)).exp_()
    exp_sum = exp.sum(dim=-1)
    if shard is not None:
        sums = torch.stack([exp_sum, target] if logit_sum is None else [exp_sum, target, logit_sum])
        all_reduce_sum_(sums, shard)
        exp_sum, target = sums[0], sums[1]
        logit_sum = None if logit_sum is None else sums[2]
    lse = row_max + exp_sum.log()

    weight = as_float(valid, z.dtype) * scale
    per_row = lse - target
    if logit_sum is not None:
        per_row = (1 - eps) * per_row + eps * (lse - logit_sum / vocab)
    z_term = lse.square().mul_(lam) if lam > 0 else None
    if z_term is not None:
        per_row = per_row + z_term
    values = torch.where(valid, per_row * weight, 0)
    correct = (valid & (target == row_max)).sum()
    z_total = (
        torch.zeros((), dtype=z.dtype, device=z.device)
        if z_term is None
        else torch.where(valid, z_term * weight, 0).sum()
    )
    if not need_grad:
        return RowsOutput(values, None, correct, z_total)

    row_factor = weight / exp_sum
    if lam > 0:
        row_factor = row_factor * (1 + 2 * lam * lse)
    grad = exp.mul_(row_factor.unsqueeze(-1))
    hit = torch.where(owned, weight, 0).mul_(-(1 - eps))
    grad.scatter_add_(-1, index, hit.unsqueeze(-1))
    if eps > 0:
        grad.sub_((weight * (eps / vocab)).unsqueeze(-1))
    if tanh is not None:
        grad.mul_(tanh.square_().neg_().add_(1))
    return RowsOutput(values, grad, correct, z_total)


def chunk_token_ce(
    labels: torch.Tensor, valid: torch.Tensor, scale: torch.Tensor | float, spec: TokenCESpec
) -> ChunkLoss:
    """The :data:`~losses_llm._chunked.ChunkLoss` of the token cross-entropy
    over flat ``[N]`` labels and target mask; the stats are ``correct`` and
    ``z_term`` (summed over the chunks)."""

    def chunk_loss(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        out = token_ce_rows(logits, labels[rows], valid[rows], scale, spec, need_grad)
        return ChunkOutput(out.values.sum(), out.grad, {"correct": out.correct, "z_term": out.z_term})

    return chunk_loss


def logits_token_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    scale: torch.Tensor | float,
    spec: TokenCESpec,
    *,
    per_token: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The token cross-entropy of ``[..., V]`` logits over flat ``[N]`` labels:
    ``(loss, correct, z_term)``, the loss the sum of the rows' values (or the
    ``[N]`` values with ``per_token``), differentiable with respect to ``logits``
    (once). The gradient comes from :func:`token_ce_rows`, so this path and the
    chunked one compute one formula."""
    need_grad = logits.requires_grad and torch.is_grad_enabled()
    loss, correct, z_term = _LogitsTokenCE.apply(  # type: ignore[no-untyped-call]
        logits, labels, valid, scale, spec, per_token, need_grad
    )
    return loss, correct, z_term


class _LogitsTokenCE(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        labels: torch.Tensor,
        valid: torch.Tensor,
        scale: torch.Tensor | float,
        spec: TokenCESpec,
        per_token: bool,
        need_grad: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        acc = torch.float64 if logits.dtype == torch.float64 else torch.float32
        buffer = logits.to(acc, memory_format=torch.contiguous_format, copy=True)
        out = token_ce_rows(buffer.view(-1, logits.shape[-1]), labels, valid, scale, spec, need_grad)
        ctx.save_for_backward(out.grad if out.grad is not None else torch.empty(0))
        ctx.shape = logits.shape
        ctx.dtype = logits.dtype
        ctx.per_token = per_token
        ctx.mark_non_differentiable(out.correct, out.z_term)
        loss = out.values if per_token else out.values.sum()
        return loss, out.correct, out.z_term

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_loss: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        factor = grad_loss.to(grad.dtype)
        scaled = grad * (factor.unsqueeze(-1) if ctx.per_token else factor)
        return scaled.view(ctx.shape).to(ctx.dtype), None, None, None, None, None, None
