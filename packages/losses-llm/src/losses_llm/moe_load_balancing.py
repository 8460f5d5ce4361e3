"""``moe_load_balancing``: the auxiliary load-balancing loss of Switch Transformers and Mixtral."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch

from losses_core import LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._moe import ATTENTION_MASK, ROUTER_LOGITS, router_example, router_rows

__all__ = ["moe_load_balancing"]


def moe_load_balancing_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: 3 layers' router logits over
    6 experts, ``[3, B * 5, 6]``, an attention mask ``[B, 5]``, top-2 routing."""
    return router_example(batch_size, dtype, top_k=2)


@register_loss(inputs=[ROUTER_LOGITS, ATTENTION_MASK], example_inputs=moe_load_balancing_example)
def moe_load_balancing(
    router_logits: torch.Tensor | Sequence[torch.Tensor],
    attention_mask: torch.Tensor | None = None,
    *,
    top_k: Annotated[int, Range(ge=1)] = 2,
    num_experts: Annotated[int, Range(ge=1)] | None = None,
    weight: Annotated[float, Range(ge=0)] = 1.0,
) -> LossReturn:
    r"""Mixture-of-experts load balancing: each expert's token share times its mean router probability.

    The router logits of every MoE layer are pooled into :math:`N` tokens
    (with an attention mask, the padding positions are left out of every
    sum and count). With :math:`E` experts, router probabilities
    :math:`p_i = \mathrm{softmax}(x_i)` and :math:`\mathcal{T}_i` the
    :math:`k` experts of largest :math:`p_{i,e}` (top-:math:`k` routing):

    .. math::
        f_e = \frac{1}{N} \sum_i \mathbb{1}[e \in \mathcal{T}_i], \qquad
        P_e = \frac{1}{N} \sum_i p_{i,e}, \qquad
        L = \alpha \, E \sum_{e=1}^{E} f_e \, P_e

    :math:`f_e` (the share of tokens sent to expert :math:`e`; the shares sum
    to :math:`k`) is not differentiable; the gradient flows through
    :math:`P_e` and pushes the router towards a uniform load, where
    :math:`L = \alpha k`. Fedus et al. 2021, "Switch Transformers: Scaling to
    Trillion Parameter Models with Simple and Efficient Sparsity", arXiv
    2101.03961, eq. 4-6 (:math:`k = 1`, :math:`\alpha = 10^{-2}`), extended to
    top-:math:`k` as in Mixtral (Jiang et al. 2024, "Mixtral of Experts",
    arXiv 2401.04088). With ``weight=1`` the value equals transformers'
    ``load_balancing_loss_func`` (``transformers.models.mixtral.modeling_mixtral``),
    layers concatenated the same way.

    The coefficient :math:`\alpha` is ``weight`` and defaults to 1: the loss
    is the unscaled term, as transformers' function returns it, because the
    coefficient differs between models (Switch Transformers and ST-MoE use
    :math:`10^{-2}`, transformers' ``router_aux_loss_coef`` defaults to
    :math:`10^{-3}`). Set it here or as the term's weight in a composite config.

    Inputs: ``model_output["router_logits"]``, a tuple or list of
    ``[tokens, E]`` tensors, one per MoE layer (what Hugging Face MoE models
    return with ``output_router_logits=True``), or one ``[..., E]`` tensor
    of every layer's tokens, layer after layer (``[L, tokens, E]``);
    ``targets["attention_mask"]`` ``[B, T]`` (optional), whose ``B * T``
    positions are each layer's tokens in order. Float16/bfloat16 logits are
    computed in float32. A mask that selects no token gives 0 connected to
    the graph.

    :param top_k: :math:`k`, the experts each token is sent to, default 2
        (Mixtral); at most :math:`E`.
    :param num_experts: :math:`E`, default ``None``: the router logits' last
        dimension; when given it must equal that dimension.
    :param weight: :math:`\alpha`, default ``1.0``.
    :returns: ``{"loss", "metrics"}``; metrics ``max_load`` and ``min_load``,
        the largest and smallest :math:`f_e E / k` (1 for every expert at a
        uniform load; 0 for an expert that gets no token).
    """
    rows = router_rows("moe_load_balancing", router_logits, attention_mask)
    logits = rows.logits
    experts = logits.shape[-1]
    if num_experts is not None and num_experts != experts:
        raise LossParameterError(
            f"loss 'moe_load_balancing': parameter 'num_experts' is {num_experts} but input "
            f"'router_logits' has {experts} experts (its last dimension)"
        )
    if top_k > experts:
        raise LossParameterError(
            f"loss 'moe_load_balancing': parameter 'top_k' is {top_k} but there are only {experts} experts"
        )
    probs = torch.softmax(logits, dim=-1)
    chosen = torch.topk(probs, top_k, dim=-1).indices
    if rows.weights is None:
        routed = torch.ones(chosen.numel(), dtype=probs.dtype, device=probs.device)
        prob_sum = probs.sum(dim=0)
        total = torch.full((), logits.shape[0], dtype=probs.dtype, device=probs.device)
    else:
        routed = rows.weights.repeat_interleave(top_k)
        prob_sum = (probs * rows.weights.unsqueeze(-1)).sum(dim=0)
        total = rows.weights.sum()
    counts = torch.zeros(experts, dtype=probs.dtype, device=probs.device).scatter_add(
        0, chosen.reshape(-1), routed
    )
    fraction = safe_divide(counts, total)
    mean_prob = safe_divide(prob_sum, total)
    loss = weight * experts * (fraction * mean_prob).sum()
    with torch.no_grad():
        load = fraction * (experts / top_k)
    return loss_result(loss, metrics={"max_load": load.max(), "min_load": load.min()})
