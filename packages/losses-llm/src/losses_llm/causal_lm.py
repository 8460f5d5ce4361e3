"""``causal_lm``: the token cross-entropy of supervised fine-tuning, from the
logits or chunk by chunk from the hidden states and the LM head."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch.distributed import ProcessGroup  # at run time: losses-core checks the annotation

from losses_core import Input, LossInputError, LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, safe_divide
from losses_core.results import loss_result
from losses_llm._chunked import default_chunk_rows, linear_chunked_loss
from losses_llm._sft_token_ce import TokenCESpec, chunk_token_ce, logits_token_ce
from losses_llm._sources import BIAS, HIDDEN_STATES, LM_HEAD_WEIGHT, LOGITS, policy_source
from losses_llm._tokens import shift_labels
from losses_llm._vocab_parallel import copy_to_vocab_shards, vocab_shard

__all__ = ["causal_lm", "causal_lm_example"]

NAME = "causal_lm"


def causal_lm_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6, 11]`` logits,
    unshifted ``[B, 6]`` labels with one ignored token per row, label
    smoothing and z-loss switched on."""
    logits = torch.randn(batch_size, 6, 11, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 11, (batch_size, 6))
    labels[:, 2] = -100
    return {"logits": logits}, {"labels": labels}, {"label_smoothing": 0.1, "z_loss": 1e-4}


@register_loss(
    inputs=[
        Input(
            "labels",
            "targets",
            shape="B T",
            dtype="int",
            doc="token ids, unshifted (the input ids) with shift=True; ignore_index where not scored",
        ),
        LOGITS,
        HIDDEN_STATES,
        LM_HEAD_WEIGHT,
        BIAS,
    ],
    example_inputs=causal_lm_example,
)
def causal_lm(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    shift: bool = True,
    label_smoothing: Annotated[float, Range(ge=0, le=1)] = 0.0,
    z_loss: Annotated[float, Range(ge=0)] = 0.0,
    logit_softcap: Annotated[float, Range(gt=0)] | None = None,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
    reduction: Reduction = "mean",
    vocab_parallel: bool = False,
    process_group: ProcessGroup | None = None,
) -> LossReturn:
    r"""Causal-LM (SFT) token cross-entropy, chunked from hidden states without all logits.

    Without materialising the logits when given the hidden states and the LM
    head.

    Inputs (``model_output``): ``logits`` ``[B, T, V]``, or ``hidden_states``
    ``[B, T, H]`` with ``lm_head_weight`` ``[V, H]`` (and ``lm_head_bias``
    ``[V]`` if the head has one); ``targets``: ``labels`` ``[B, T]``.

    For every target token :math:`t` (label not ``ignore_index``), with logits
    :math:`z_t` (soft-capped if asked), :math:`\mathrm{lse}_t = \log\sum_v
    e^{z_{t,v}}`, label :math:`y_t`, smoothing :math:`\varepsilon` and z-loss
    weight :math:`\lambda`:

    .. math::
        \ell_t = (1-\varepsilon)(\mathrm{lse}_t - z_{t,y_t})
                 + \varepsilon\Big(\mathrm{lse}_t - \frac1V \sum_v z_{t,v}\Big)
                 + \lambda\,\mathrm{lse}_t^2

    The first two terms are exactly ``torch.nn.functional.cross_entropy``
    with ``label_smoothing`` (the cross-entropy against
    :math:`(1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon/V`: Szegedy et
    al. 2016, "Rethinking the Inception Architecture for Computer Vision",
    arXiv:1512.00567); the last is the z-loss of PaLM (Chowdhery et al. 2022,
    "PaLM: Scaling Language Modeling with Pathways", arXiv:2204.02311, weight
    :math:`10^{-4}`). Soft-capping is Gemma 2's (Gemma Team 2024,
    arXiv:2408.00118); the vocabulary-parallel statistics are Megatron-LM's
    (Shoeybi et al. 2019, arXiv:1909.08053).

    Parameters:

    - ``shift=True``: the labels are the input ids (the Hugging Face
      convention): position :math:`t` predicts ``labels[:, t + 1]`` and the
      last position predicts nothing; the logits/hidden states are never
      sliced. ``shift=False``: ``labels[:, t]`` is position :math:`t`'s target.
    - ``ignore_index=-100``: the label of tokens that are not scored.
    - ``label_smoothing=0.0`` (:math:`\varepsilon \in [0, 1]`).
    - ``z_loss=0.0`` (:math:`\lambda \ge 0`); the z-loss term, reduced like the
      loss, is the metric ``z_loss``.
    - ``logit_softcap=None``: with :math:`c > 0` the logits become
      :math:`c\tanh(z/c)` before everything else (Gemma 2 uses 30).
    - ``num_items_in_batch=None``: with ``reduction="mean"`` only; the summed
      loss is divided by this count (an int, or a 1-element tensor: see
      :func:`losses_llm.global_num_items`) instead of the local number of
      target tokens, so that micro-batches of a gradient-accumulation step,
      and data-parallel ranks, add up to the whole batch's mean (transformers'
      ``num_items_in_batch``). A zero count gives 0.
    - ``chunk_size=None``: with ``hidden_states``, the tokens per chunk
      (default: about :math:`2^{24}` logits per chunk, at most 1024 tokens);
      not accepted with ``logits``.
    - ``reduction="mean"``: :math:`\sum_t \ell_t / N`, :math:`N` the number of
      target tokens (or ``num_items_in_batch``); ``"sum"``: :math:`\sum_t
      \ell_t`; ``"none"``: :math:`\ell_t` as ``[B, T]``, 0 at ignored tokens,
      only with ``logits`` (the chunked path computes the gradients in the
      forward pass, which needs a scalar loss). A batch with no target token
      gives 0 connected to the graph (zero gradients).
    - ``vocab_parallel=False``, ``process_group=None``: with
      ``vocab_parallel=True`` each rank of ``process_group`` (the default group
      when ``None``; the tensor-parallel group, every rank holding the same
      tokens) holds a contiguous, equal slice of the vocabulary, as Megatron's
      vocab-parallel LM head: rank :math:`r` has the ids :math:`[r V_l, (r+1)
      V_l)`, its logits ``[B, T, V_l]`` or its head shard ``[V_l, H]`` (and
      bias ``[V_l]``), and the labels are ids of the whole vocabulary
      :math:`W V_l`. The row maximum is all-reduced (MAX), then the sum of
      exponentials, the label's logit and (with smoothing) the logits' sum
      (SUM), so every rank returns the loss of the whole vocabulary and the
      gradient of its own slice; with ``hidden_states`` the hidden states'
      gradient is summed over the group, the whole gradient on every rank. Every
      rank must call the loss. Without an initialised process group (or with
      one rank) the whole vocabulary is local. Unequal shards raise.

    Floating-point: float16/bfloat16 logits (or head) are computed in float32
    (logsumexp, sums, gradients), float64 stays float64; the loss is float32
    or float64. Labels outside :math:`[0, V)` other than ``ignore_index``
    raise (checked in eager mode).

    The chunked path (hidden states) computes each chunk's logits, loss and
    gradients (hidden states, head weight, bias) in the forward pass and drops
    the logits; the gradient is written out (:math:`p(1 + 2\lambda\,
    \mathrm{lse}) - (1-\varepsilon)\,\mathrm{onehot} - \varepsilon/V`, times
    :math:`1 - \tanh^2` with a cap), one formula and one gradient for both
    paths; both are differentiable once (no double backward).
    ``torch.compile`` traces the logits path whole and graph-breaks around
    the chunked one.

    :returns: ``{"loss", "metrics"}`` with the metrics ``num_tokens`` (local
        target tokens), ``accuracy`` (the fraction of target tokens whose
        label's logit is the largest, i.e. the argmax up to ties) and, when
        ``z_loss > 0``, ``z_loss``.
    """
    source = policy_source(NAME, logits, hidden_states, lm_head_weight, lm_head_bias, allow_log_probs=False)
    _check_parameters(source, reduction, num_items_in_batch, chunk_size, vocab_parallel, process_group)
    targets = shift_labels(labels, ignore_index) if shift else labels
    flat_labels = targets.reshape(-1)
    valid = flat_labels != ignore_index
    if source == "logits":
        assert logits is not None
        what, local_vocab, device = "logits", logits.shape[-1], logits.device
        acc = torch.float64 if logits.dtype == torch.float64 else torch.float32
    else:
        assert hidden_states is not None and lm_head_weight is not None
        what, local_vocab, device = "lm_head_weight", lm_head_weight.shape[0], lm_head_weight.device
        acc = torch.float64 if lm_head_weight.dtype == torch.float64 else torch.float32
    shard = vocab_shard(NAME, what, local_vocab, device, process_group) if vocab_parallel else None
    _check_label_range(flat_labels, valid, local_vocab if shard is None else shard.vocab_size)
    count = valid.sum()
    scale = _row_scale(reduction, count, num_items_in_batch, acc, device)
    spec = TokenCESpec(label_smoothing, z_loss, logit_softcap, shard)

    if source == "logits":
        assert logits is not None
        loss, correct, z_term = logits_token_ce(
            logits, flat_labels, valid, scale, spec, per_token=reduction == "none"
        )
        if reduction == "none":
            loss = loss.view(targets.shape)
    else:
        assert hidden_states is not None and lm_head_weight is not None
        hidden = hidden_states.reshape(-1, hidden_states.shape[-1])
        if shard is not None:
            hidden = copy_to_vocab_shards(hidden, shard)
        rows = default_chunk_rows(local_vocab) if chunk_size is None else chunk_size
        loss, stats = linear_chunked_loss(
            hidden,
            lm_head_weight,
            lm_head_bias,
            chunk_token_ce(flat_labels, valid, scale, spec),
            chunk_rows=rows,
        )
        correct, z_term = stats["correct"], stats["z_term"]

    metrics: dict[str, torch.Tensor] = {
        "num_tokens": count,
        "accuracy": safe_divide(correct.to(acc), count.to(acc)),
    }
    if z_loss > 0:
        metrics["z_loss"] = z_term
    return loss_result(loss, metrics=metrics)


def _check_parameters(
    source: str,
    reduction: Reduction,
    num_items_in_batch: torch.Tensor | int | None,
    chunk_size: int | None,
    vocab_parallel: bool,
    process_group: ProcessGroup | None,
) -> None:
    if num_items_in_batch is not None:
        if reduction != "mean":
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'num_items_in_batch' only applies to reduction='mean', "
                f"got reduction={reduction!r}"
            )
        if isinstance(num_items_in_batch, torch.Tensor) and num_items_in_batch.numel() != 1:
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'num_items_in_batch' must be an int or a 1-element tensor, "
                f"got a tensor of shape {tuple(num_items_in_batch.shape)}"
            )
    if source == "logits" and chunk_size is not None:
        raise LossParameterError(
            f"loss {NAME!r}: parameter 'chunk_size' applies to the chunked path (input 'hidden_states' "
            f"with 'lm_head_weight'), not to input 'logits'"
        )
    if source == "hidden_states" and reduction == "none":
        raise LossParameterError(
            f"loss {NAME!r}: reduction='none' needs input 'logits'; with 'hidden_states' the gradients "
            f"are computed chunk by chunk in the forward pass for a scalar loss: use 'mean' or 'sum'"
        )
    if process_group is not None and not vocab_parallel:
        raise LossParameterError(
            f"loss {NAME!r}: parameter 'process_group' is the group of vocab_parallel=True; "
            f"got a process group with vocab_parallel=False"
        )


def _check_label_range(labels: torch.Tensor, valid: torch.Tensor, vocab: int) -> None:
    """A clear error for target labels outside ``[0, vocab)``: one host
    synchronisation, in eager mode only."""
    if torch.compiler.is_compiling():
        return
    bad = valid & ((labels < 0) | (labels >= vocab))
    if bool(bad.any()):
        raise LossInputError(
            f"{NAME}: input 'labels' has target ids outside [0, {vocab}) (the vocabulary), e.g. "
            f"{int(labels[bad][0])}; labels must be vocabulary ids or ignore_index"
        )


def _row_scale(
    reduction: Reduction,
    count: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor | float:
    """The weight of every target token: 1 / the normaliser of ``"mean"``
    (0 when it is 0), 1 for ``"sum"`` and ``"none"``."""
    if reduction != "mean":
        return 1.0
    if num_items_in_batch is None:
        return 1 / count.clamp_min(1).to(dtype)
    if isinstance(num_items_in_batch, torch.Tensor):
        total = num_items_in_batch.reshape(()).to(device=device, dtype=dtype)
        nonzero = total != 0
        return torch.where(nonzero, 1 / torch.where(nonzero, total, 1), 0)
    return 1.0 / num_items_in_batch
