"""``entropy_regularized_ce``: token cross-entropy minus a weighted predictive entropy.

The loss is named ``entropy_regularized_ce``, not ``entropy_regularized``, so
that it does not collide with a loss a user registers under the name
``entropy_regularized`` in their own code: two providers of one name would
make that name's lookups ambiguous wherever this package is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_llm._sources import BIAS, HIDDEN_STATES, LM_HEAD_WEIGHT, LOGITS
from losses_llm._token_terms import LABELS, token_example, token_loss

__all__ = ["entropy_regularized_ce"]


def entropy_regularized_ce_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6, 11]`` logits and
    ``[B, 6]`` labels, label smoothing 0.1."""
    return token_example(batch_size, dtype, label_smoothing=0.1)


@register_loss(
    inputs=[LABELS, LOGITS, HIDDEN_STATES, LM_HEAD_WEIGHT, BIAS],
    example_inputs=entropy_regularized_ce_example,
)
def entropy_regularized_ce(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    *,
    entropy_weight: float = 0.1,
    label_smoothing: Annotated[float, Range(ge=0, le=1)] = 0.0,
    ignore_index: int = -100,
    shift: bool = True,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> LossReturn:
    r"""Token cross-entropy minus a weighted entropy of the predictive distribution.

    For every target token :math:`t` (a label :math:`y_t` that is not
    ``ignore_index``) with logits :math:`z_t \in \mathbb{R}^V`,
    :math:`p_t = \mathrm{softmax}(z_t)`,
    :math:`\log Z_t = \log \sum_v e^{z_{t,v}}` and smoothing
    :math:`\varepsilon`:

    .. math::
        \mathrm{CE}_t = (1 - \varepsilon)(\log Z_t - z_{t,y_t})
            + \varepsilon \Big(\log Z_t - \frac{1}{V}\sum_v z_{t,v}\Big), \qquad
        H_t = -\sum_v p_{t,v} \log p_{t,v}, \qquad
        \ell_t = \mathrm{CE}_t - w \, H_t

    :math:`\mathrm{CE}_t` is ``torch.nn.functional.cross_entropy`` with
    ``label_smoothing``. With :math:`w > 0` the entropy term rewards spread-out
    predictions, a confidence penalty against over-confident output
    distributions (Pereyra et al. 2017, "Regularizing Neural Networks by
    Penalizing Confident Output Distributions", arXiv 1701.06548); a negative
    :math:`w` minimises the entropy instead.

    Inputs: ``model_output["logits"]`` ``[B, T, V]``, or
    ``model_output["hidden_states"]`` ``[B, T, H]`` with ``"lm_head_weight"``
    ``[V, H]`` (and ``"lm_head_bias"`` ``[V]``), whose logits are computed
    chunk by chunk and never held at once; ``targets["labels"]`` ``[B, T]``.
    Float16/bfloat16 inputs are computed in float32.

    :param entropy_weight: :math:`w`, default ``0.1``.
    :param label_smoothing: :math:`\varepsilon \in [0, 1]`, default ``0.0``.
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
    :returns: ``{"loss", "metrics"}``; metrics ``ce_loss`` (the mean
        :math:`\mathrm{CE}_t`) and ``entropy`` (the mean :math:`H_t`), both
        means over the target tokens whatever the reduction (with the default
        mean, loss = ce_loss - w * entropy), and ``num_tokens``.
    """

    def per_token(
        z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        log_p = torch.log_softmax(z, dim=-1)
        nll = -log_p.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        if label_smoothing > 0:
            nll = (1 - label_smoothing) * nll - label_smoothing * log_p.mean(dim=-1)
        entropy = -(log_p.exp() * log_p).sum(dim=-1)
        zero = torch.zeros((), dtype=z.dtype, device=z.device)
        ce = torch.where(mask, nll, zero)
        entropy = torch.where(mask, entropy, zero)
        return ce - entropy_weight * entropy, {"ce_loss": ce, "entropy": entropy}

    result = token_loss(
        "entropy_regularized_ce",
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
