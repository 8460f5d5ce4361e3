"""The teacher's side of distillation: its declared inputs, and its logits
for any slice of the flattened tokens, without a gradient.

The teacher gives either its logits ``[B, T, V]`` or its final hidden states
``[B, T, H_t]`` and LM head ``[V, H_t]`` (plus an optional bias); its hidden
size ``H_t`` may differ from the student's. With the hidden states the
teacher's logits are computed only for the tokens asked for, so the chunked
student path never holds more than one chunk of the teacher's logits either.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from losses_core import Input, LossInputError, MissingInputError

__all__ = [
    "TEACHER_BIAS",
    "TEACHER_HIDDEN_STATES",
    "TEACHER_INPUTS",
    "TEACHER_LM_HEAD_WEIGHT",
    "TEACHER_LOGITS",
    "TeacherRows",
    "teacher_rows",
]

TEACHER_LOGITS = Input(
    "teacher_logits",
    "targets",
    shape="B T V",
    dtype="float",
    optional=True,
    doc="the teacher's logits; or give teacher_hidden_states and teacher_lm_head_weight",
)
TEACHER_HIDDEN_STATES = Input(
    "teacher_hidden_states",
    "targets",
    shape="B T H_t",
    dtype="float",
    optional=True,
    doc="the teacher's final hidden states (its hidden size may differ from the student's)",
)
TEACHER_LM_HEAD_WEIGHT = Input(
    "teacher_lm_head_weight",
    "targets",
    shape="V H_t",
    dtype="float",
    optional=True,
    doc="the teacher's LM head weight, with teacher_hidden_states",
)
TEACHER_BIAS = Input(
    "teacher_lm_head_bias",
    "targets",
    shape="V",
    dtype="float",
    optional=True,
    doc="the teacher's LM head bias, if it has one",
)
TEACHER_INPUTS = (TEACHER_LOGITS, TEACHER_HIDDEN_STATES, TEACHER_LM_HEAD_WEIGHT, TEACHER_BIAS)
"""The teacher's inputs, read from ``targets``, in this order."""

TeacherRows = Callable[[slice], torch.Tensor]
"""``rows -> [n, V]`` detached teacher logits of those rows of the flattened
``B * T`` tokens."""


def teacher_rows(
    loss: str,
    logits: torch.Tensor | None,
    hidden_states: torch.Tensor | None,
    lm_head_weight: torch.Tensor | None,
    lm_head_bias: torch.Tensor | None,
) -> TeacherRows:
    """The teacher's logits for any slice of its flattened tokens, after
    checking that the call gives exactly one teacher: ``teacher_logits``, or
    ``teacher_hidden_states`` with ``teacher_lm_head_weight``.

    :raises MissingInputError: no teacher input at all (names ``teacher_logits``).
    :raises LossInputError: both, hidden states without the head, a head with
        the logits, or a head whose dtype differs from the hidden states'.
    """
    if logits is not None:
        if hidden_states is not None:
            raise LossInputError(
                f"{loss}: targets has 'teacher_logits' and 'teacher_hidden_states'; give exactly one of them"
            )
        if lm_head_weight is not None or lm_head_bias is not None:
            raise LossInputError(
                f"{loss}: input 'teacher_lm_head_weight'/'teacher_lm_head_bias' given with "
                f"'teacher_logits'; the teacher's head is used only with 'teacher_hidden_states'"
            )
        flat = logits.detach().reshape(-1, logits.shape[-1])
        return lambda rows: flat[rows]
    if hidden_states is None:
        raise MissingInputError(
            f"{loss}: input 'teacher_logits' is required at targets['teacher_logits'] unless targets has "
            f"'teacher_hidden_states' and 'teacher_lm_head_weight'; it has neither"
        )
    if lm_head_weight is None:
        raise LossInputError(
            f"{loss}: input 'teacher_hidden_states' needs input 'teacher_lm_head_weight' (the teacher's "
            f"[V, H_t] LM head weight)"
        )
    for name, tensor in (("teacher_lm_head_weight", lm_head_weight), ("teacher_lm_head_bias", lm_head_bias)):
        if tensor is not None and tensor.dtype != hidden_states.dtype:
            raise LossInputError(
                f"{loss}: input {name!r} has dtype {tensor.dtype} but 'teacher_hidden_states' has "
                f"{hidden_states.dtype}; they must match"
            )
    hidden = hidden_states.detach().reshape(-1, hidden_states.shape[-1])
    weight = lm_head_weight.detach()
    bias = None if lm_head_bias is None else lm_head_bias.detach()

    def rows_logits(rows: slice) -> torch.Tensor:
        h = hidden[rows]
        return h @ weight.t() if bias is None else torch.addmm(bias, h, weight.t())

    return rows_logits
