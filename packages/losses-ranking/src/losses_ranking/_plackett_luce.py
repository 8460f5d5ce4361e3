r"""The Plackett-Luce negative log-likelihood of a given order, per list.

With the items of a list in *reverse* true order (least relevant first,
padded items before every real one), scores :math:`x_1..x_L` and the real
items marked, the negative log-likelihood of the true order is

.. math:: \ell = \sum_{r\ \mathrm{real}} \Bigl( \log \sum_{q \le r,\ q\ \mathrm{real}} e^{x_q} - x_r \Bigr)

(prefix sums here are the suffix sums of the true order). Two exact routes:

- :func:`plackett_luce_nll_graph`: ``torch.logcumsumexp`` recorded by
  autograd. Works everywhere (any device, ``torch.compile``, higher-order
  gradients) but ``logcumsumexp`` and its backward are slow CPU kernels.
- :class:`_FusedPlackettLuce`: the same value with a hand-written backward

  .. math:: \partial \ell / \partial x_j
     = e^{x_j} \sum_{r \ge j,\ r\ \mathrm{real}} e^{-\mathrm{LSE}_r} - [j\ \mathrm{real}]

  from one cumulative sum of :math:`e^{x - \max x}` per direction. That sum
  is exact (to the dtype's rounding) while every real score of every list is
  within :func:`_safe_span` of its list's maximum (about 83 for float32 lists
  of 64 items, 700 for float64), which one check per call confirms; a batch
  that spreads wider takes ``logcumsumexp`` inside the same function, so the
  result is exact for every finite input. Several times faster than the graph
  route on CPU, forward and backward.

:func:`plackett_luce_nll` picks the fused function on CPU in eager mode and
the graph route elsewhere: under ``torch.compile`` (whose compiled scan is
fast and which cannot trace the data-dependent check), under ``torch.func``
transforms (``vmap``, ``grad``) and on accelerators (where the check would
synchronise the device).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from losses_core.tensors import as_float

__all__ = ["plackett_luce_nll", "plackett_luce_nll_graph"]

# True inside torch.func transforms, which need an autograd.Function written
# with setup_context and no data-dependent Python branch: they take the graph route
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


def plackett_luce_nll(scores: torch.Tensor, reverse_order: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-list negative Plackett-Luce log-likelihood, ``[B]``.

    ``scores``: floating ``[B, L]`` in the caller's item order;
    ``reverse_order``: int64 ``[B, L]``, for every list a permutation putting
    its items least relevant first, padded items first of all; ``real``:
    bool ``[B, L]`` in that reversed order, True for a real item. Lists
    without a real item give 0.
    """
    if scores.device.type == "cpu" and not torch.compiler.is_compiling() and not _functorch_active():
        result: torch.Tensor = _FusedPlackettLuce.apply(scores, reverse_order, real)  # type: ignore[no-untyped-call]
        return result
    return plackett_luce_nll_graph(scores, reverse_order, real)


def plackett_luce_nll_graph(
    scores: torch.Tensor, reverse_order: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """:func:`plackett_luce_nll` as plain autograd operations (``torch.logcumsumexp``).

    Its higher-order gradients are those of ``torch.logcumsumexp``: Hessian
    products with respect to the scores are exact, but the derivative of the
    gradient with respect to the incoming gradient is nan for a list with
    padding (that backward takes the log of the incoming gradient, which is 0
    in padded slots). The fused function has no such gap.
    """
    x = torch.gather(scores, -1, reverse_order)
    # padded slots hold a finite score far below the real ones (whatever the
    # caller left there, -inf and nan included): exp() of it is exactly 0 and
    # the backward does no -inf arithmetic
    x = torch.where(real, x, _padding_score(x.dtype))
    return ((torch.logcumsumexp(x, dim=-1) - x) * as_float(real, x.dtype)).sum(dim=-1)


def _safe_span(dtype: torch.dtype, length: int) -> float:
    """The widest spread of a list's scores below its maximum for which the
    fused sums can neither underflow (``exp`` of the spread stays a normal
    number) nor overflow in the backward (``length * exp(spread)`` stays
    finite), with a margin of 1."""
    info = torch.finfo(dtype)
    return min(-math.log(info.tiny), math.log(info.max) - math.log(max(length, 1))) - 1.0


class _FusedPlackettLuce(torch.autograd.Function):
    """:func:`plackett_luce_nll` with a hand-written backward (see the module docstring).

    Padded slots are filled with ``finfo.min / 4`` (finite, whatever the
    caller left there: ``-inf`` and nan included) and then weighted by 0: one
    ``masked_fill``, the rest arithmetic, which is faster on CPU.
    """

    @staticmethod
    def forward(
        ctx: Any, scores: torch.Tensor, reverse_order: torch.Tensor, real: torch.Tensor
    ) -> torch.Tensor:
        x = torch.gather(scores, -1, reverse_order).masked_fill_(~real, _padding_score(scores.dtype))
        real_f = as_float(real, x.dtype)
        shifted = x - x.amax(dim=-1, keepdim=True)
        exps = torch.exp(shifted)  # exactly 0 in padded slots of a list with a real item
        # the smallest exp() of a real item: 1 + min(exps - real), padded slots giving 0
        lowest = float((exps - real_f).amin()) + 1.0
        if lowest >= math.exp(-_safe_span(x.dtype, x.shape[-1])):
            # the padded slots come first, their sums 0: the clamp keeps their log
            # finite (they are weighted by 0) and leaves every real slot's sum alone
            denominators = torch.cumsum(exps, dim=-1).clamp_min_(torch.finfo(x.dtype).tiny)
            per_list = ((torch.log(denominators) - shifted) * real_f).sum(dim=-1)
            ctx.save_for_backward(scores, reverse_order, real, real_f, exps, denominators)
            ctx.fast = True
        else:  # a spread beyond the float range of the sums, or a non-finite score
            lse = torch.logcumsumexp(shifted, dim=-1)
            per_list = ((lse - shifted) * real_f).sum(dim=-1)
            ctx.save_for_backward(scores, reverse_order, real, real_f, shifted, lse)
            ctx.fast = False
        return per_list

    @staticmethod
    def backward(ctx: Any, grad_per_list: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        scores, reverse_order, real, real_f, first, second = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a differentiable backward
            grad = _pairwise_gradient(scores, reverse_order, real) * grad_per_list.unsqueeze(-1)
            return torch.zeros_like(scores).scatter(-1, reverse_order, grad), None, None
        if ctx.fast:
            exps, denominators = first, second
            grad_sorted = exps * (real_f / denominators).flip(-1).cumsum(dim=-1).flip(-1)
        else:
            shifted, lse = first, second
            neg_lse = (-lse).masked_fill_(~real, -math.inf)
            grad_sorted = torch.exp(shifted + torch.logcumsumexp(neg_lse.flip(-1), dim=-1).flip(-1))
        grad_sorted = grad_sorted.sub_(real_f).mul_(grad_per_list.unsqueeze(-1))
        return torch.empty_like(scores).scatter_(-1, reverse_order, grad_sorted), None, None


def _padding_score(dtype: torch.dtype) -> float:
    """The finite score padded slots get: far below any real score, so that
    its ``exp`` after the shift is exactly 0, yet safe to subtract from."""
    return torch.finfo(dtype).min / 4


def _pairwise_gradient(scores: torch.Tensor, reverse_order: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    r"""The gradient in reversed true order, ``[B, L]``, from explicit ``[B, L, L]`` pairs:

    .. math:: \partial \ell / \partial x_j
       = \sum_{r \ge j,\ r\ \mathrm{real}} e^{x_j - \mathrm{LSE}_r} - [j\ \mathrm{real}]

    Built from ``torch.logsumexp``, ``exp`` and ``where`` only, every value
    finite, so that it is exact for any spread of scores and differentiable
    again (its own derivatives, with respect to the scores and to the incoming
    gradient, are free of the nan that ``torch.logcumsumexp``'s double backward
    gives where an incoming gradient is 0). Used for higher-order gradients
    only; it costs :math:`O(L^2)` per list.
    """
    x = torch.where(real, torch.gather(scores, -1, reverse_order), _padding_score(scores.dtype))
    length = x.shape[-1]
    # prefix[r, q]: q <= r (the normaliser of slot r sums slots 0..r)
    prefix = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
    lse = torch.logsumexp(torch.where(prefix, x.unsqueeze(-2), _padding_score(x.dtype)), dim=-1)
    # pairs[j, r]: r >= j and r real
    pairs = prefix.T & real.unsqueeze(-2)
    # masked before exp(): x_j - LSE_r <= 0 on the pairs, so nothing overflows
    weights = torch.exp(torch.where(pairs, x.unsqueeze(-1) - lse.unsqueeze(-2), _padding_score(x.dtype)))
    return weights.sum(dim=-1) - as_float(real, x.dtype)
