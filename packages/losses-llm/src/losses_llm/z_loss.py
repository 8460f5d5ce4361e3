"""``z_loss``: the output z-loss of PaLM, alone, to add to another loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_llm._sources import BIAS, HIDDEN_STATES, LM_HEAD_WEIGHT, LOGITS
from losses_llm._token_terms import LABELS, token_example, token_loss

__all__ = ["z_loss"]


def z_loss_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6, 11]`` logits and
    ``[B, 6]`` labels, weight 0.01."""
    return token_example(batch_size, dtype, weight=0.01)


@register_loss(
    inputs=[LABELS, LOGITS, HIDDEN_STATES, LM_HEAD_WEIGHT, BIAS],
    example_inputs=z_loss_example,
)
def z_loss(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    *,
    weight: Annotated[float, Range(ge=0)] = 1e-4,
    ignore_index: int = -100,
    shift: bool = True,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> LossReturn:
    r"""Output z-loss: the squared log-partition function of the LM head, weighted.

    For every target token :math:`t` (a label that is not ``ignore_index``)
    with logits :math:`z_t \in \mathbb{R}^V` and
    :math:`\log Z_t = \log \sum_v e^{z_{t,v}}`:

    .. math:: \ell_t = w \, (\log Z_t)^2

    It pushes :math:`\log Z_t` towards 0, so that the softmax normaliser stays
    near 1 and the logits do not drift (Chowdhery et al. 2022, "PaLM: Scaling
    Language Modeling with Pathways", arXiv 2204.02311, with
    :math:`w = 10^{-4}`). The weight is applied inside, so the value is the
    term to add to the cross-entropy, e.g. as a second term of a composite
    config; the sum equals ``token_ce`` (or ``causal_lm``) with ``z_loss=w``.

    Inputs: ``model_output["logits"]`` ``[B, T, V]``, or
    ``model_output["hidden_states"]`` ``[B, T, H]`` with ``"lm_head_weight"``
    ``[V, H]`` (and ``"lm_head_bias"`` ``[V]``), whose logits are computed
    chunk by chunk and never held at once; ``targets["labels"]`` ``[B, T]``.
    Float16/bfloat16 inputs are computed in float32.

    :param weight: :math:`w`, default ``1e-4`` (PaLM).
    :param ignore_index: the label of tokens that are not scored, default ``-100``.
    :param shift: default ``True``: the labels are the input ids (Hugging Face
        convention), position :math:`t` is scored against ``labels[:, t + 1]``
        and the last position is not scored; ``False``: ``labels[:, t]``.
    :param num_items_in_batch: with ``reduction="mean"``, divide the sum by
        this global count of target tokens (gradient accumulation, several
        ranks) instead of the local count; default ``None``.
    :param chunk_size: tokens per chunk on the hidden-states path, default
        ``None``: about :math:`2^{24}` logits per chunk; an error with logits.
    :param reduction: ``"mean"`` (default): :math:`\sum_t \ell_t` over target
        tokens divided by their number (0 connected to the graph when there is
        none) or by ``num_items_in_batch``; ``"sum"``: :math:`\sum_t \ell_t`.
    :returns: ``{"loss", "metrics"}``; metrics ``num_tokens`` (target tokens)
        and ``log_z`` (the mean :math:`\log Z_t` over target tokens).
    """

    def per_token(
        z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        log_z = torch.where(mask, torch.logsumexp(z, dim=-1), torch.zeros((), dtype=z.dtype, device=z.device))
        return weight * log_z.square(), {"log_z": log_z}

    result = token_loss(
        "z_loss",
        per_token,
        logits,
        hidden_states,
        lm_head_weight,
        lm_head_bias,
        labels,
        ignore_index=ignore_index,
        shift=shift,
        num_items_in_batch=num_items_in_batch,
        reduction=reduction,
        chunk_size=chunk_size,
    )
    return loss_result(result.loss, metrics={"num_tokens": result.num_tokens, **result.metrics})
