"""``dft``: Dynamic Fine-Tuning, the token cross-entropy rescaled by the token's probability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_llm._sources import BIAS, HIDDEN_STATES, LM_HEAD_WEIGHT, LOGITS
from losses_llm._token_terms import LABELS, token_example, token_loss
from losses_llm._tokens import label_log_probs

__all__ = ["dft"]


def dft_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6, 11]`` logits and ``[B, 6]`` labels."""
    return token_example(batch_size, dtype)


@register_loss(
    inputs=[LABELS, LOGITS, HIDDEN_STATES, LM_HEAD_WEIGHT, BIAS],
    example_inputs=dft_example,
)
def dft(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    shift: bool = True,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> LossReturn:
    r"""Dynamic Fine-Tuning: each target token's cross-entropy weighted by its detached probability.

    For every target token :math:`t` (a label :math:`y_t` that is not
    ``ignore_index``) with logits :math:`z_t` and
    :math:`p_t = \mathrm{softmax}(z_t)_{y_t}`:

    .. math:: \ell_t = -\operatorname{sg}(p_t) \log p_t

    where :math:`\operatorname{sg}` stops the gradient: the gradient is the
    cross-entropy's scaled by :math:`p_t`. Wu et al. show that the SFT
    gradient is a policy gradient whose implicit reward is inversely
    proportional to :math:`p_t`, and rectify it with this weight (Wu et al.
    2025, "On the Generalization of SFT: A Reinforcement Learning Perspective
    with Reward Rectification", arXiv 2508.05629). The normalisation is TRL's
    ``SFTTrainer`` with ``loss_type="dft"``: the sum over target tokens
    divided by ``num_items_in_batch`` when given, else by the number of target
    tokens.

    Inputs: ``model_output["logits"]`` ``[B, T, V]``, or
    ``model_output["hidden_states"]`` ``[B, T, H]`` with ``"lm_head_weight"``
    ``[V, H]`` (and ``"lm_head_bias"`` ``[V]``), whose logits are computed
    chunk by chunk and never held at once; ``targets["labels"]`` ``[B, T]``.
    Float16/bfloat16 inputs are computed in float32.

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
        none, where TRL divides 0 by 0) or by ``num_items_in_batch``;
        ``"sum"``: :math:`\sum_t \ell_t`.
    :returns: ``{"loss", "metrics"}``; metrics ``ce_loss`` (the mean
        :math:`-\log p_t`, the plain SFT loss) and ``token_prob`` (the mean
        :math:`p_t`), means over the target tokens, and ``num_tokens``.
    """

    def per_token(
        z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        log_p = label_log_probs(z, target, mask)
        prob = torch.where(mask, log_p.detach().exp(), torch.zeros((), dtype=z.dtype, device=z.device))
        return -prob * log_p, {"ce_loss": -log_p, "token_prob": prob}

    result = token_loss(
        "dft",
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
    return loss_result(result.loss, metrics={**result.metrics, "num_tokens": result.num_tokens})
