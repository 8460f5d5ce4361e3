"""``router_z_loss``: the router z-loss of ST-MoE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import reduce
from losses_core.results import loss_result
from losses_llm._moe import ATTENTION_MASK, ROUTER_LOGITS, router_example, router_rows

__all__ = ["router_z_loss"]


def router_z_loss_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: 3 layers' router logits over
    6 experts, ``[3, B * 5, 6]``, and an attention mask ``[B, 5]``."""
    return router_example(batch_size, dtype)


@register_loss(inputs=[ROUTER_LOGITS, ATTENTION_MASK], example_inputs=router_z_loss_example)
def router_z_loss(
    router_logits: torch.Tensor | Sequence[torch.Tensor],
    attention_mask: torch.Tensor | None = None,
    *,
    weight: Annotated[float, Range(ge=0)] = 1e-3,
) -> LossReturn:
    r"""Router z-loss: the mean squared log-partition function of the router logits, weighted.

    The router logits of every MoE layer are pooled into :math:`N` tokens
    (with an attention mask, the padding positions are left out). With
    :math:`x_i \in \mathbb{R}^E` the router logits of token :math:`i`:

    .. math:: L = c_z \, \frac{1}{N} \sum_{i=1}^{N} \Big(\log \sum_{e=1}^{E} e^{x_{i,e}}\Big)^2

    It keeps the router logits small, which stabilises training of sparse
    expert models without hurting quality (Zoph et al. 2022, "ST-MoE:
    Designing Stable and Transferable Sparse Expert Models", arXiv 2202.08906,
    with :math:`c_z = 10^{-3}`). The coefficient is applied inside,
    so the value is the term to add to the model's loss; ``weight=1`` gives
    the unscaled mean, transformers' ``router_z_loss_func``
    (``transformers.models.switch_transformers``), whose model multiplies it
    by ``router_z_loss_coef`` (also :math:`10^{-3}`).

    Inputs: ``model_output["router_logits"]``, a tuple or list of
    ``[tokens, E]`` tensors, one per MoE layer (what Hugging Face MoE models
    return with ``output_router_logits=True``), or one ``[..., E]`` tensor
    of every layer's tokens, layer after layer (``[L, tokens, E]``);
    ``targets["attention_mask"]`` ``[B, T]`` (optional), whose ``B * T``
    positions are each layer's tokens in order. Float16/bfloat16 logits are
    computed in float32. A mask that selects no token gives 0 connected to
    the graph.

    :param weight: :math:`c_z`, default ``1e-3`` (ST-MoE).
    :returns: ``{"loss", "metrics"}``; metric ``log_z``, the mean
        :math:`\log \sum_e e^{x_{i,e}}` over the tokens.
    """
    rows = router_rows("router_z_loss", router_logits, attention_mask)
    log_z = torch.logsumexp(rows.logits, dim=-1)
    loss = weight * reduce(log_z.square(), "mean", rows.weights)
    with torch.no_grad():
        mean_log_z = reduce(log_z, "mean", rows.weights)
    return loss_result(loss, metrics={"log_z": mean_log_z})
