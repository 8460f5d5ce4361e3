r"""One driver for the per-token losses over an LM head's distribution.

``z_loss``, ``entropy_regularized_ce`` and ``dft`` each score every *target
token* (a label that is not ``ignore_index``) with a function of that token's
logits, then sum and normalise. :func:`token_loss` does everything around that
function once: it picks the input path (logits, or hidden states and the LM
head chunk by chunk), shifts the labels, counts the target tokens, fixes the
normaliser before any chunk is computed, and sums the per-token metrics.

The loss supplies a :data:`PerToken` function. The same function runs on the
full logits (inside the caller's graph) and on each chunk of the chunked path
(through :func:`losses_llm._chunked.autograd_chunk`), so both paths compute
one formula.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

from losses_core import Input, LossParameterError
from losses_core.reduction import safe_divide
from losses_core.tensors import at_least_float32
from losses_llm._chunked import autograd_chunk, default_chunk_rows, linear_chunked_loss
from losses_llm._sources import policy_source
from losses_llm._tokens import shift_labels

__all__ = ["LABELS", "PerToken", "TokenLoss", "token_example", "token_loss"]

LABELS = Input(
    "labels",
    "targets",
    shape="B T",
    dtype="int",
    doc="token ids: the input ids with shift=True (the default), else each position's target; "
    "ignore_index marks tokens that are not scored",
)
"""The labels input of the per-token losses."""


def token_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32, **params: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs of a per-token loss: ``[B, 6, 11]`` logits (a leaf that
    requires grad) and ``[B, 6]`` labels (the input ids, shifted by the loss)
    whose first two tokens are ignored, as a prompt would be; ``params`` as given."""
    logits = (2 * torch.randn(batch_size, 6, 11)).to(dtype).requires_grad_(True)
    labels = torch.randint(0, 11, (batch_size, 6))
    labels[:, :2] = -100
    return {"logits": logits}, {"labels": labels}, dict(params)


PerToken = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, Mapping[str, torch.Tensor]]
]
"""``per_token(z, labels, mask) -> (values, metrics)``: ``z`` the ``[n, V]``
logits of ``n`` tokens in float32 (float64 for float64 inputs), ``labels`` the
``[n]`` label ids (0 where ``mask`` is false, so they can always be indexed),
``mask`` the ``[n]`` bool target-token mask. ``values`` is the ``[n]``
per-token loss and each metric an ``[n]`` per-token value; both must be 0
where ``mask`` is false."""


class TokenLoss(NamedTuple):
    """What :func:`token_loss` returns."""

    loss: torch.Tensor
    """The 0-dim loss, normalised as the reduction says."""
    metrics: dict[str, torch.Tensor]
    """Each per-token metric's mean over the target tokens (0 when there is none), detached."""
    num_tokens: torch.Tensor
    """The number of target tokens (0-dim, integer)."""


def token_loss(
    loss: str,
    per_token: PerToken,
    logits: torch.Tensor | None,
    hidden_states: torch.Tensor | None,
    lm_head_weight: torch.Tensor | None,
    lm_head_bias: torch.Tensor | None,
    labels: torch.Tensor,
    *,
    ignore_index: int,
    shift: bool,
    num_items_in_batch: torch.Tensor | int | None,
    reduction: str,
    chunk_size: int | None,
) -> TokenLoss:
    r"""The per-token loss ``per_token`` over the target tokens, reduced.

    ``reduction="mean"`` divides the sum over target tokens by their number
    (0 connected to the graph when there is none), or by
    ``num_items_in_batch`` when it is given; ``"sum"`` returns the sum. The
    metrics are means over the target tokens whatever the reduction.

    :param loss: the loss's name, for error messages.
    :param chunk_size: tokens per chunk on the hidden-states path (``None``:
        :func:`~losses_llm._chunked.default_chunk_rows` of the vocabulary).
    :raises LossParameterError: ``num_items_in_batch`` with ``reduction="sum"``,
        or ``chunk_size`` with logits.
    """
    source = policy_source(loss, logits, hidden_states, lm_head_weight, lm_head_bias, allow_log_probs=False)
    if num_items_in_batch is not None and reduction != "mean":
        raise LossParameterError(
            f"loss {loss!r}: parameter 'num_items_in_batch' only applies to reduction='mean', "
            f"got reduction={reduction!r}"
        )
    if chunk_size is not None and source != "hidden_states":
        raise LossParameterError(
            f"loss {loss!r}: parameter 'chunk_size' only applies to inputs 'hidden_states' with "
            f"'lm_head_weight' (the chunked path), not to 'logits'"
        )
    targets = shift_labels(labels, ignore_index) if shift else labels
    flat_labels = targets.reshape(-1)
    mask = flat_labels != ignore_index
    safe_labels = torch.where(mask, flat_labels, torch.zeros_like(flat_labels)).long()
    num_tokens = mask.sum()
    divisor = _divisor(num_tokens, num_items_in_batch, reduction)

    def terms(chunk_logits: torch.Tensor, rows: slice) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = at_least_float32(chunk_logits)
        values, per_token_metrics = per_token(z, safe_labels[rows], mask[rows])
        sums = {name: value.sum() for name, value in per_token_metrics.items()}
        return _normalise(values.sum(), divisor), sums

    if source == "logits":
        assert logits is not None
        value, sums = terms(logits.reshape(-1, logits.shape[-1]), slice(None))
    else:
        assert hidden_states is not None and lm_head_weight is not None
        rows = default_chunk_rows(lm_head_weight.shape[0]) if chunk_size is None else chunk_size
        hidden = hidden_states.reshape(-1, hidden_states.shape[-1])
        value, sums = linear_chunked_loss(
            hidden, lm_head_weight, lm_head_bias, autograd_chunk(terms), chunk_rows=rows
        )
    with torch.no_grad():
        metrics = {name: safe_divide(total, num_tokens.to(total.dtype)) for name, total in sums.items()}
    return TokenLoss(value, metrics, num_tokens)


def _divisor(
    num_tokens: torch.Tensor, num_items_in_batch: torch.Tensor | int | None, reduction: str
) -> torch.Tensor | int | None:
    """What the summed loss is divided by: ``None`` for ``"sum"``."""
    if reduction == "sum":
        return None
    return num_tokens if num_items_in_batch is None else num_items_in_batch


def _normalise(total: torch.Tensor, divisor: torch.Tensor | int | None) -> torch.Tensor:
    """``total / divisor``, a graph-connected 0 for a zero tensor divisor."""
    if divisor is None:
        return total
    if isinstance(divisor, torch.Tensor):
        return safe_divide(total, divisor.to(device=total.device, dtype=total.dtype))
    return total / divisor
