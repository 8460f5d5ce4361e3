r"""Shared machinery of the preference losses (``dpo``, ``orpo``, ``simpo``,
``cpo``, ``kto``): the layout of a batch, the log-probability of each
sequence's completion under the policy, and the paths that compute it.

**Layout.** A batch of :math:`P` preference pairs holds :math:`2P` sequences:
the :math:`P` chosen ones first, then the :math:`P` rejected ones, so pair
:math:`i` is rows :math:`i` and :math:`P + i` (TRL's trainers and
Liger-Kernel's fused losses concatenate a batch this way, for one forward
pass of the model). KTO's batch holds :math:`B` unpaired sequences. Inside,
the sequences are viewed as groups of :math:`k` (``[P, 2, ...]`` for pairs,
``[B, 1, ...]`` otherwise) without copying.

**Completion tokens.** ``labels`` ``[B, T]`` carry the token ids with
``ignore_index`` at the prompt and the padding. With ``shift=True`` (the
default for logits and hidden states, as Hugging Face models return them)
the labels are the input ids and position :math:`t` scores ``labels[:, t +
1]`` (:func:`losses_llm._tokens.shift_labels`); per-token ``log_probs`` are
taken as aligned with the labels (``shift=False`` by default), or with the
positions of the logits under an explicit ``shift=True``.

**Sequence log-probabilities.** :math:`\log \pi(y \mid x) = \sum_t \log
\pi(y_t \mid x, y_{<t})` over the completion tokens, from one of three
sources (:func:`losses_llm._sources.policy_source`): per-token ``log_probs``;
``logits`` (``z_y - \mathrm{logsumexp}\, z`` in float32); or
``hidden_states`` and the LM head, chunk by chunk over groups (each chunk
holds both sequences of a pair) through
:func:`losses_llm._chunked.linear_chunked_loss`. Each loss writes its terms
once, as a function of the ``[groups, k]`` summed log-probabilities
(:data:`Terms`); the chunked path derives the gradient of a chunk's share
with respect to those sums by autograd on the small ``[groups, k]`` tensor
and turns it into the gradient with respect to the chunk's logits by hand,
:math:`c_t(\mathbf{1}_{y_t} - \mathrm{softmax}(z_t))`, in the logits'
own buffer. A loss that couples the groups (TRL's ``aot``, which sorts over
the batch) takes two passes over the chunks: the sums first, then the
gradient.

A group with a sequence that has no completion token is *empty*: it has
nothing to score, and each loss leaves it out of its mean (a batch of empty
groups gives 0 connected to the graph).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from losses_core import Input, LossInputError, LossParameterError, MissingInputError
from losses_core.reduction import safe_divide
from losses_llm._chunked import ChunkLoss, ChunkOutput, default_chunk_rows, linear_chunked_loss
from losses_llm._sources import Source
from losses_llm._tokens import label_log_probs, shift_labels

__all__ = [
    "PAIRED_LABELS",
    "REF_CHOSEN_LOGPS",
    "REF_REJECTED_LOGPS",
    "NLLTerm",
    "Scored",
    "Targets",
    "Terms",
    "check_chunk_size",
    "check_log_probs_labels",
    "chosen_nll",
    "mean_over",
    "num_pairs",
    "pair_logits_example",
    "reference_logps",
    "resolve_shift",
    "score_sequences",
    "targets_for",
    "work_dtype",
]

PAIRED_LABELS = Input(
    "labels",
    "targets",
    shape="B T",
    dtype="int",
    doc="token ids of the 2P sequences, the P chosen first, then the P rejected; ignore_index marks "
    "the prompt and the padding",
)
REF_CHOSEN_LOGPS = Input(
    "ref_chosen_logps",
    "targets",
    shape="P",
    dtype="float",
    optional=True,
    doc="the reference model's summed completion log-probabilities of the P chosen sequences",
)
REF_REJECTED_LOGPS = Input(
    "ref_rejected_logps",
    "targets",
    shape="P",
    dtype="float",
    optional=True,
    doc="the reference model's summed completion log-probabilities of the P rejected sequences",
)

Terms = Callable[[torch.Tensor, slice], torch.Tensor]
"""``terms(sums, rows)``: the share of the loss of the groups ``rows`` given
their ``[groups, k]`` summed completion log-probabilities (differentiable),
already divided by every normaliser that spans the batch. Called on the
whole batch (``rows=slice(None)``) by the dense paths and on each chunk of
groups by the chunked path."""


class Targets(NamedTuple):
    """The completion tokens of a batch, in the policy's positions.

    :param labels: ``[B, T]`` int64 token ids, 0 where no token is scored.
    :param mask: ``[B, T]`` bool, the completion tokens.
    :param counts: ``[groups, k]`` completion tokens of each sequence, in
        the work dtype.
    :param per_group: ``k``: 2 for pairs, 1 for unpaired sequences.
    """

    labels: torch.Tensor
    mask: torch.Tensor
    counts: torch.Tensor
    per_group: int


class NLLTerm(NamedTuple):
    """A negative log-likelihood term on the chosen sequences, added to the
    preference terms: ``weight`` times the mean over the tokens of ``mask``
    of :math:`-\\log \\pi(y_t)`.

    :param labels: ``[B, T]`` int64 token ids (0 where ``mask`` is false), or
        ``None`` to score the completion tokens (``mask`` is then the
        completion mask of the chosen sequences).
    :param mask: ``[B, T]`` bool, false outside the chosen sequences.
    :param weight: the term's weight.
    """

    labels: torch.Tensor | None
    mask: torch.Tensor
    weight: float


class Scored(NamedTuple):
    """What :func:`score_sequences` returns.

    :param loss: the loss (preference terms plus the NLL term), 0-dim.
    :param sums: ``[groups, k]`` summed completion log-probabilities, detached.
    :param nll: the NLL term's token mean (unweighted), detached; ``None``
        without an NLL term.
    """

    loss: torch.Tensor
    sums: torch.Tensor
    nll: torch.Tensor | None


def pair_logits_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker of a reference-free pair
    loss: ``batch_size`` pairs of ``[5, 7]`` logits (``2 * batch_size``
    sequences, chosen first) and labels whose first two positions are the
    prompt."""
    logits = torch.randn(2 * batch_size, 5, 7, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 7, (2 * batch_size, 5))
    labels[:, :2] = -100
    return {"logits": logits}, {"labels": labels}, {}


def work_dtype(source: Source, *tensors: torch.Tensor | None) -> torch.dtype:
    """float64 when the policy's scores are float64 (the logits, the log-probs
    or the LM head), float32 otherwise (float16 and bfloat16 are upcast)."""
    logits, _, weight, log_probs = tensors
    scores = {"logits": logits, "hidden_states": weight, "log_probs": log_probs}[source]
    assert scores is not None
    return torch.float64 if scores.dtype == torch.float64 else torch.float32


def resolve_shift(shift: bool | None, source: Source) -> bool:
    """``shift=None`` shifts the labels for logits and hidden states (Hugging
    Face positions) and not for per-token log-probs (aligned with the labels)."""
    return source != "log_probs" if shift is None else shift


def num_pairs(loss: str, labels: torch.Tensor) -> int:
    """``P`` for ``2P`` sequences; a clear error for an odd count."""
    rows = labels.shape[0]
    if rows % 2 or rows == 0:
        raise LossInputError(
            f"{loss}: input 'labels' has {rows} sequences; a batch of P pairs has 2P sequences, "
            f"the P chosen first, then the P rejected (pair i is rows i and P + i)"
        )
    return rows // 2


def group(x: torch.Tensor, per_group: int) -> torch.Tensor:
    """``[B, ...]`` viewed as ``[groups, k, ...]``: pairs (chosen first, then
    rejected) as ``[P, 2, ...]``, unpaired sequences as ``[B, 1, ...]``."""
    if per_group == 1:
        return x.unsqueeze(1)
    return x.view(2, x.shape[0] // 2, *x.shape[1:]).transpose(0, 1)


def targets_for(
    loss: str,
    source: Source,
    labels: torch.Tensor,
    *,
    ignore_index: int,
    shift: bool | None,
    dtype: torch.dtype,
    paired: bool,
) -> Targets:
    """The completion tokens of ``labels`` (shifted when ``shift`` says so;
    ``None`` shifts for logits and hidden states, not for log-probs)."""
    if paired:
        num_pairs(loss, labels)
    if resolve_shift(shift, source):
        labels = shift_labels(labels, ignore_index)
    mask = labels != ignore_index
    safe = torch.where(mask, labels, torch.zeros_like(labels)).long()
    per_group = 2 if paired else 1
    counts = group(mask.sum(-1).to(dtype), per_group)
    return Targets(safe, mask, counts, per_group)


def chosen_nll(
    targets: Targets,
    weight: float,
    nll_labels: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    shift: bool = False,
) -> NLLTerm:
    """The NLL term on the chosen half of a paired batch: on the completion
    tokens, or on the tokens of ``nll_labels`` ``[2P, T]`` (shifted when
    ``shift``)."""
    pairs = targets.labels.shape[0] // 2
    if nll_labels is None:
        mask = targets.mask.clone()
        mask[pairs:] = False
        return NLLTerm(None, mask, weight)
    if shift:
        nll_labels = shift_labels(nll_labels, ignore_index)
    mask = nll_labels != ignore_index
    mask[pairs:] = False
    return NLLTerm(torch.where(mask, nll_labels, torch.zeros_like(nll_labels)).long(), mask, weight)


def check_log_probs_labels(loss: str, source: Source, nll_labels: torch.Tensor | None) -> None:
    """Separate NLL labels need the whole distribution: not with ``log_probs``."""
    if source == "log_probs" and nll_labels is not None:
        raise LossInputError(
            f"{loss}: input 'nll_labels' needs 'logits' or 'hidden_states' with 'lm_head_weight'; "
            f"'log_probs' score the tokens of 'labels' only"
        )


def check_chunk_size(loss: str, name: str, value: int | None, source: Source) -> None:
    """A chunk size applies to the hidden-states path only."""
    if value is not None and source != "hidden_states":
        raise LossParameterError(
            f"loss {loss!r}: parameter {name!r} applies to the chunked path (input 'hidden_states' with "
            f"'lm_head_weight') only; this call gives {source!r}"
        )


def reference_logps(
    loss: str,
    chosen: torch.Tensor | None,
    rejected: torch.Tensor | None,
    *,
    reference_free: bool,
    pairs: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """``[P, 2]`` reference log-probabilities (chosen, rejected), detached;
    zeros with ``reference_free=True``, which takes none."""
    if reference_free:
        pairs_given = (("ref_chosen_logps", chosen), ("ref_rejected_logps", rejected))
        given = [name for name, value in pairs_given if value is not None]
        if given:
            raise LossInputError(
                f"{loss}: reference_free=True uses no reference model, but input "
                f"{' and '.join(repr(g) for g in given)} is given; drop it or set reference_free=False"
            )
        return torch.zeros(pairs, 2, dtype=dtype, device=device)
    for name, value in (("ref_chosen_logps", chosen), ("ref_rejected_logps", rejected)):
        if value is None:
            raise MissingInputError(
                f"{loss}: input {name!r} (targets[{name!r}], [P] summed completion log-probabilities of "
                f"the reference model) is required unless reference_free=True"
            )
    assert chosen is not None and rejected is not None
    if chosen.shape[0] != pairs:
        raise LossInputError(
            f"{loss}: inputs 'ref_chosen_logps' and 'ref_rejected_logps' have {chosen.shape[0]} entries "
            f"but 'labels' holds {pairs} pairs ({2 * pairs} sequences); give one per pair"
        )
    return torch.stack((chosen, rejected), dim=1).detach().to(dtype)


def mean_over(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the entries whose 0/1 weight is 1 (0 when
    there are none), detached."""
    values = values.detach()
    return safe_divide(torch.where(weights > 0, values, torch.zeros_like(values)).sum(), weights.sum())


def score_sequences(
    source: Source,
    policy: tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None],
    log_probs: torch.Tensor | None,
    targets: Targets,
    terms: Terms,
    *,
    nll: NLLTerm | None = None,
    coupled: bool = False,
    chunk_rows: int | None = None,
) -> Scored:
    """The loss ``terms(sums, :)`` (plus ``nll``) of the batch, from the
    policy's ``source``.

    :param policy: ``(logits, hidden_states, lm_head_weight, lm_head_bias)``.
    :param coupled: ``terms`` couples the groups (cannot be split into
        per-chunk shares); the chunked path then takes two passes.
    :param chunk_rows: groups per chunk on the chunked path (default: about
        2**24 logits per chunk).
    """
    logits, hidden, weight, bias = policy
    if source == "hidden_states":
        assert hidden is not None and weight is not None
        return _chunked(hidden, weight, bias, targets, terms, nll, coupled, chunk_rows)
    if source == "log_probs":
        assert log_probs is not None
        scores = log_probs if log_probs.dtype == torch.float64 else log_probs.float()
        tok = torch.where(targets.mask, scores, torch.zeros_like(scores))
        nll_tok = tok
    else:
        assert logits is not None
        tok = label_log_probs(logits, targets.labels, targets.mask)
        nll_tok = tok
        if nll is not None and nll.labels is not None:
            nll_tok = label_log_probs(logits, nll.labels, nll.mask)
    sums = group(tok.sum(-1), targets.per_group)
    loss = terms(sums, slice(None))
    nll_mean = None
    if nll is not None:
        nll_sum = -torch.where(nll.mask, nll_tok, torch.zeros_like(nll_tok)).sum()
        nll_mean = safe_divide(nll_sum, nll.mask.sum().to(nll_sum.dtype))
        loss = loss + nll.weight * nll_mean
        nll_mean = nll_mean.detach()
    return Scored(loss, sums.detach(), nll_mean)


Coefficients = Callable[[torch.Tensor, slice, bool], tuple[torch.Tensor, torch.Tensor | None]]
"""``coefficients(sums, rows, need_grad) -> (share, d share / d sums or None)``
for a chunk of groups."""


def _from_terms(terms: Terms) -> Coefficients:
    def coefficients(
        sums: torch.Tensor, rows: slice, need_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not need_grad:
            return terms(sums, rows).detach(), None
        with torch.enable_grad():
            leaf = sums.detach().requires_grad_(True)
            share = terms(leaf, rows)
            if share.requires_grad:
                (coef,) = torch.autograd.grad(share, leaf)
            else:
                coef = torch.zeros_like(leaf)
        return share.detach(), coef

    return coefficients


def _fixed(coef: torch.Tensor) -> Coefficients:
    def coefficients(
        sums: torch.Tensor, rows: slice, need_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        c = coef[rows]
        return (c * sums).sum(), c if need_grad else None

    return coefficients


def _chunk_loss(
    labels: torch.Tensor,
    mask: torch.Tensor,
    nll: tuple[torch.Tensor | None, torch.Tensor, torch.Tensor] | None,
    coefficients: Coefficients,
) -> ChunkLoss:
    """The chunk function of the chunked path, on grouped ``[groups, k, T]``
    labels and masks; ``nll`` is ``(labels, mask, weight per token)``, labels
    ``None`` when the NLL scores the completion tokens.

    It writes the softmax, then the gradient, into the chunk's logits buffer,
    which :func:`linear_chunked_loss` computes for the chunk and drops after
    the call: no other ``[rows, T, V]`` tensor is allocated.
    """

    def chunk_loss(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        y = labels[rows].unsqueeze(-1)
        m = mask[rows]
        picked = logits.gather(-1, y).squeeze(-1)
        if nll is not None:
            ny = y if nll[0] is None else nll[0][rows].unsqueeze(-1)
            nm = nll[1][rows]
            picked_nll = picked if nll[0] is None else logits.gather(-1, ny).squeeze(-1)
        peak = logits.amax(-1, keepdim=True)
        probs = logits.sub_(peak).exp_()
        total = probs.sum(-1, keepdim=True)
        lse = (total.log() + peak).squeeze(-1)
        zero = torch.zeros_like(lse)
        sums = torch.where(m, picked - lse, zero).sum(-1)
        share, coef = coefficients(sums, rows, need_grad)
        stats = {"sums": sums}
        if nll is not None:
            nll_sum = -torch.where(nm, picked_nll - lse, zero).sum()
            share = share + nll[2] * nll_sum
            stats["nll"] = nll_sum
        if not need_grad:
            return ChunkOutput(share, None, stats)
        assert coef is not None
        a = torch.where(m, coef.unsqueeze(-1).expand_as(lse), zero)
        w = a
        if nll is not None:
            b = torch.where(nm, -nll[2].expand_as(lse), zero)
            w = a + b
        probs.mul_((-w).unsqueeze(-1) / total)
        probs.scatter_add_(-1, y, a.unsqueeze(-1))
        if nll is not None:
            probs.scatter_add_(-1, ny, b.unsqueeze(-1))
        return ChunkOutput(share, probs, stats)

    return chunk_loss


def _chunked(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: Targets,
    terms: Terms,
    nll: NLLTerm | None,
    coupled: bool,
    chunk_rows: int | None,
) -> Scored:
    k = targets.per_group
    grouped = group(hidden, k)
    labels, mask = group(targets.labels, k), group(targets.mask, k)
    acc = torch.float64 if weight.dtype == torch.float64 else torch.float32
    nll_spec = None
    if nll is not None:
        count = nll.mask.sum().to(acc)
        scale = safe_divide(torch.ones_like(count), count) * nll.weight
        nll_labels = None if nll.labels is None else group(nll.labels, k)
        nll_spec = (nll_labels, group(nll.mask, k), scale)
    rows = chunk_rows or default_chunk_rows(weight.shape[0], k * hidden.shape[1])
    if not coupled:
        loss, stats = linear_chunked_loss(
            grouped, weight, bias, _chunk_loss(labels, mask, nll_spec, _from_terms(terms)), chunk_rows=rows
        )
        return Scored(loss, stats["sums"], _nll_mean(stats, nll_spec))
    # pass 1: the sums alone; then the coupled terms and their gradient on the
    # [groups, k] sums; pass 2: that gradient through each chunk's logits
    zeros = torch.zeros(grouped.shape[0], k, dtype=acc, device=hidden.device)
    detached_bias = None if bias is None else bias.detach()
    _, first = linear_chunked_loss(
        grouped.detach(),
        weight.detach(),
        detached_bias,
        _chunk_loss(labels, mask, nll_spec, _fixed(zeros)),
        chunk_rows=rows,
    )
    sums = first["sums"]
    nll_value = torch.zeros((), dtype=acc, device=hidden.device)
    if nll_spec is not None:
        nll_value = nll_spec[2] * first["nll"]
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (hidden, weight, bias)
    )
    if not needs_grad:
        return Scored(terms(sums, slice(None)).detach() + nll_value, sums, _nll_mean(first, nll_spec))
    with torch.enable_grad():
        leaf = sums.clone().requires_grad_(True)
        value = terms(leaf, slice(None))
        coef = torch.autograd.grad(value, leaf)[0] if value.requires_grad else torch.zeros_like(leaf)
    surrogate, _ = linear_chunked_loss(
        grouped, weight, bias, _chunk_loss(labels, mask, nll_spec, _fixed(coef)), chunk_rows=rows
    )
    total = value.detach() + nll_value
    return Scored(surrogate + (total - surrogate).detach(), sums, _nll_mean(first, nll_spec))


def _nll_mean(
    stats: dict[str, torch.Tensor], nll: tuple[torch.Tensor | None, torch.Tensor, torch.Tensor] | None
) -> torch.Tensor | None:
    if nll is None:
        return None
    count = nll[1].sum().to(stats["nll"].dtype)
    return safe_divide(stats["nll"], count)
