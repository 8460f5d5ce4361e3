"""Where a policy's token scores come from: logits, hidden states and the LM
head (the chunked path), or per-token log-probabilities.

Every loss of this package that scores the labels' tokens declares the same
optional model inputs (:data:`POLICY_INPUTS`) and calls :func:`policy_source`,
which says which path the call takes and rejects a call that gives none or
more than one.
"""

from __future__ import annotations

from typing import Literal

import torch

from losses_core import Input, LossInputError, MissingInputError

__all__ = [
    "BIAS",
    "HIDDEN_STATES",
    "LM_HEAD_WEIGHT",
    "LOGITS",
    "LOG_PROBS",
    "POLICY_INPUTS",
    "Source",
    "policy_source",
]

Source = Literal["logits", "hidden_states", "log_probs"]

LOGITS = Input(
    "logits",
    "model_output",
    shape="B T V",
    dtype="float",
    optional=True,
    doc="the model's logits; or give hidden_states and lm_head_weight",
)
HIDDEN_STATES = Input(
    "hidden_states",
    "model_output",
    shape="B T H",
    dtype="float",
    optional=True,
    doc="final hidden states, fed through the LM head chunk by chunk (never all logits at once)",
)
LM_HEAD_WEIGHT = Input(
    "lm_head_weight",
    "model_output",
    shape="V H",
    dtype="float",
    optional=True,
    doc="the LM head's weight, with hidden_states",
)
BIAS = Input(
    "lm_head_bias",
    "model_output",
    shape="V",
    dtype="float",
    optional=True,
    doc="the LM head's bias, if it has one",
)
LOG_PROBS = Input(
    "log_probs",
    "model_output",
    shape="B T",
    dtype="float",
    optional=True,
    doc="per-token log-probabilities of the label tokens, aligned with the labels",
)
POLICY_INPUTS = (LOGITS, HIDDEN_STATES, LM_HEAD_WEIGHT, BIAS, LOG_PROBS)
"""The model inputs of a loss that scores label tokens, in this order."""


def policy_source(
    loss: str,
    logits: torch.Tensor | None,
    hidden_states: torch.Tensor | None,
    lm_head_weight: torch.Tensor | None,
    lm_head_bias: torch.Tensor | None,
    log_probs: torch.Tensor | None = None,
    *,
    allow_log_probs: bool = True,
) -> Source:
    """Which input path a call of ``loss`` takes; a clear error when the call
    gives none, more than one, or hidden states without the head."""
    given = [
        name
        for name, value in (("logits", logits), ("hidden_states", hidden_states), ("log_probs", log_probs))
        if value is not None
    ]
    accepted = "'logits', 'hidden_states' with 'lm_head_weight'" + (
        ", or 'log_probs'" if allow_log_probs else ""
    )
    if log_probs is not None and not allow_log_probs:
        raise LossInputError(
            f"{loss}: input 'log_probs' is not accepted (the loss needs the whole distribution); "
            f"give {accepted}"
        )
    if not given:
        raise MissingInputError(f"{loss}: model_output has none of {accepted}")
    if len(given) > 1:
        raise LossInputError(
            f"{loss}: model_output has {' and '.join(repr(g) for g in given)}; give exactly one of {accepted}"
        )
    source: Source = given[0]  # type: ignore[assignment]
    if source == "hidden_states":
        if lm_head_weight is None:
            raise LossInputError(
                f"{loss}: input 'hidden_states' needs input 'lm_head_weight' (the LM head's [V, H] weight)"
            )
    elif lm_head_weight is not None or lm_head_bias is not None:
        raise LossInputError(
            f"{loss}: input 'lm_head_weight'/'lm_head_bias' given with {source!r}; the head is used "
            f"only with 'hidden_states'"
        )
    return source
