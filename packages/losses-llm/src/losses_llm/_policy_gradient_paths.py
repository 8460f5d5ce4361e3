r"""The three input paths of the policy-gradient losses: logits, hidden states
through the LM head (fused and chunked), or given per-token log-probabilities.

Each path turns the policy's output into the log-probabilities
:math:`\log\pi_t` of the completion tokens and hands them to one
:class:`~losses_llm._policy_gradient.PolicyObjective`, so the three compute
one formula:

- ``log_probs``: the given ``[B, T]`` log-probabilities;
- ``logits``: ``[B, T, V]`` logits divided by the temperature, scored with
  :func:`losses_llm._tokens.label_log_probs`; autograd does the rest;
- ``hidden_states``: :func:`losses_llm._chunked.linear_chunked_loss` over
  chunks of tokens (chunks of whole sequences for a sequence-level ratio,
  which needs every token of a sequence at once). Per chunk, the log-softmax,
  the entropy and the softmax are computed once; the objective is
  differentiated with respect to the chunk's few log-probabilities only, and
  the gradient of the logits follows in closed form,
  :math:`\partial L/\partial z_v = g\,(\mathbb{1}[v = y] - p_v)/\tau` with
  :math:`g = \partial L/\partial\log\pi_t`, written over the softmax's own
  buffer. A chunk holds two ``[rows, V]`` buffers (logits and softmax), hence
  half the rows of :func:`~losses_llm._chunked.default_chunk_rows`.

Logits and hidden states also give the mean per-token entropy of the
(temperature-scaled) policy, the ``entropy`` statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from losses_core import LossParameterError, MissingInputError
from losses_core.tensors import at_least_float32
from losses_llm._chunked import ChunkLoss, ChunkOutput, default_chunk_rows, linear_chunked_loss
from losses_llm._policy_gradient import PolicyObjective
from losses_llm._sources import Source, policy_source
from losses_llm._tokens import label_log_probs

__all__ = ["PolicyInputs", "policy_inputs", "policy_loss"]


@dataclass(frozen=True)
class PolicyInputs:
    """A call's policy output, checked: the path, its tensors and the dtype the
    loss is computed in (float32; float64 for float64 inputs)."""

    source: Source
    logits: torch.Tensor | None
    hidden_states: torch.Tensor | None
    lm_head_weight: torch.Tensor | None
    lm_head_bias: torch.Tensor | None
    log_probs: torch.Tensor | None
    completion_ids: torch.Tensor | None
    dtype: torch.dtype


def policy_inputs(
    loss: str,
    logits: torch.Tensor | None,
    hidden_states: torch.Tensor | None,
    lm_head_weight: torch.Tensor | None,
    lm_head_bias: torch.Tensor | None,
    log_probs: torch.Tensor | None,
    completion_ids: torch.Tensor | None,
    *,
    temperature: float,
    chunk_size: int | None,
) -> PolicyInputs:
    """Which path ``loss`` takes, after checking that the call gives what it
    needs (``completion_ids`` with logits or hidden states) and no parameter
    the path ignores (``temperature`` and ``chunk_size`` with log-probs,
    ``chunk_size`` with logits)."""
    source = policy_source(loss, logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    if source == "log_probs":
        assert log_probs is not None
        if temperature != 1.0:
            raise LossParameterError(
                f"loss {loss!r}: parameter 'temperature' ({temperature}) applies to logits and hidden "
                f"states; given 'log_probs' are already the policy's (temperature-scaled) log-probabilities"
            )
        dtype = at_least_float32(log_probs).dtype
    else:
        if completion_ids is None:
            raise MissingInputError(
                f"{loss}: input 'completion_ids' (targets['completion_ids'], [B, T] token ids, "
                f"logits[:, t] scoring completion_ids[:, t]) is required with {source!r}"
            )
        scores = logits if source == "logits" else lm_head_weight
        assert scores is not None
        dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
    if chunk_size is not None and source != "hidden_states":
        raise LossParameterError(
            f"loss {loss!r}: parameter 'chunk_size' applies to the chunked path (input 'hidden_states' "
            f"with 'lm_head_weight'), not to {source!r}"
        )
    return PolicyInputs(
        source, logits, hidden_states, lm_head_weight, lm_head_bias, log_probs, completion_ids, dtype
    )


def policy_loss(
    inputs: PolicyInputs,
    objective: PolicyObjective,
    *,
    temperature: float = 1.0,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The objective's loss and summed statistics (plus ``entropy`` from
    logits or hidden states) on the path ``inputs`` takes.

    :param chunk_size: tokens per chunk (sequences for a sequence-level
        objective) on the hidden-states path; by default half of
        :func:`~losses_llm._chunked.default_chunk_rows`.
    """
    if inputs.source == "log_probs":
        assert inputs.log_probs is not None
        loss, stats = objective(inputs.log_probs.to(inputs.dtype), slice(None))
        return loss, dict(stats)
    ids = inputs.completion_ids
    assert ids is not None
    if inputs.source == "logits":
        assert inputs.logits is not None
        return _logits_loss(inputs.logits, ids, objective, temperature)
    hidden, weight = inputs.hidden_states, inputs.lm_head_weight
    assert hidden is not None and weight is not None
    vocab = weight.shape[0]
    if objective.sequence_level:
        rows = chunk_size or max(1, default_chunk_rows(vocab, hidden.shape[1]) // 2)
        chunk = _policy_chunk(objective, ids, temperature)
    else:
        rows = chunk_size or max(1, default_chunk_rows(vocab) // 2)
        hidden = hidden.reshape(-1, hidden.shape[-1])
        chunk = _policy_chunk(objective.flat(), ids.reshape(-1), temperature)
    return linear_chunked_loss(hidden, weight, inputs.lm_head_bias, chunk, chunk_rows=rows)


def _logits_loss(
    logits: torch.Tensor, ids: torch.Tensor, objective: PolicyObjective, temperature: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    z = at_least_float32(logits)
    if temperature != 1.0:
        z = z / temperature
    on = objective.batch.on
    loss, stats = objective(label_log_probs(z, ids, on), slice(None))
    with torch.no_grad():
        entropy = torch.logsumexp(z, dim=-1) - (torch.softmax(z, dim=-1) * z).sum(-1)
        summed = (torch.where(on, entropy, torch.zeros_like(entropy)) * objective.batch.mask).sum()
    return loss, {**stats, "entropy": summed}


def _policy_chunk(objective: PolicyObjective, ids: torch.Tensor, temperature: float) -> ChunkLoss:
    """The :data:`~losses_llm._chunked.ChunkLoss` of a policy objective: one
    chunk's log-probabilities, entropy and logits gradient. The chunk's logits
    buffer is scratch (the engine drops it after the call) and is scaled in
    place by the temperature."""

    def chunk_loss(logits: torch.Tensor, rows: slice, need_grad: bool) -> ChunkOutput:
        shape = logits.shape[:-1]
        z = logits.reshape(-1, logits.shape[-1])
        if temperature != 1.0:
            z.div_(temperature)
        batch = objective.batch.rows(rows)
        on = batch.on.reshape(-1)
        labels = torch.where(on, ids[rows].reshape(-1), torch.zeros_like(on, dtype=ids.dtype))
        labels = labels.long().unsqueeze(-1)
        with torch.no_grad():
            top = z.amax(dim=-1, keepdim=True)
            probs = torch.sub(z, top).exp_()
            total = probs.sum(dim=-1, keepdim=True)
            lse = (top + total.log()).squeeze(-1)
            probs.div_(total)
            picked = z.gather(-1, labels).squeeze(-1)
            zero = torch.zeros_like(lse)
            log_probs = torch.where(on, picked - lse, zero).view(shape)
            expected = torch.bmm(probs.unsqueeze(1), z.unsqueeze(-1)).view(-1)
            entropy = (torch.where(on, lse - expected, zero) * batch.mask.reshape(-1)).sum()
        if not need_grad:
            with torch.no_grad():
                loss, stats = objective(log_probs, rows)
            return ChunkOutput(loss, None, {**stats, "entropy": entropy})
        with torch.enable_grad():
            leaf = log_probs.requires_grad_(True)
            loss, stats = objective(leaf, rows)
            (grad,) = torch.autograd.grad(loss, leaf) if loss.requires_grad else (torch.zeros_like(leaf),)
        with torch.no_grad():
            g = torch.where(on, grad.reshape(-1), zero)
            if temperature != 1.0:
                g = g / temperature
            grad_logits = probs.mul_(-g.unsqueeze(-1))
            grad_logits.scatter_add_(-1, labels, g.unsqueeze(-1))
        return ChunkOutput(loss.detach(), grad_logits.view(logits.shape), {**stats, "entropy": entropy})

    return chunk_loss
