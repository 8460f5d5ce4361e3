"""The router logits of a mixture-of-experts model, as the MoE auxiliary losses read them.

Hugging Face MoE models return ``router_logits`` as a tuple with one
``[tokens, E]`` tensor per MoE layer (``tokens = B * T``); the auxiliary
losses pool every layer's tokens. :func:`router_rows` accepts that tuple (or a
list), or one tensor ``[..., E]`` holding every layer's tokens layer after
layer (a stacked ``[L, tokens, E]``, one layer's ``[tokens, E]`` or
``[B, T, E]``), checks it, and returns the pooled ``[rows, E]`` logits with
the per-row weights an attention mask gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from losses_core import Input, LossInputError
from losses_core.tensors import as_float, at_least_float32

__all__ = ["ATTENTION_MASK", "ROUTER_LOGITS", "RouterRows", "router_example", "router_rows"]

ROUTER_LOGITS = Input(
    "router_logits",
    "model_output",
    tensor=False,
    doc="router logits: a tuple or list of [tokens, E] tensors, one per MoE layer (as Hugging Face "
    "models return them), or one [..., E] tensor of every layer's tokens, layer after layer",
)
ATTENTION_MASK = Input(
    "attention_mask",
    "targets",
    shape="B T",
    dtype="int_or_bool",
    optional=True,
    doc="1 (True) for real tokens, 0 for padding; each layer's tokens are the B*T positions in order",
)


class RouterRows(NamedTuple):
    """Every layer's router logits pooled, and the weight of each row."""

    logits: torch.Tensor
    """``[rows, E]``, float32 for float16/bfloat16 inputs, else the inputs' dtype."""
    weights: torch.Tensor | None
    """``[rows]`` 0/1 weights from the attention mask (repeated for each
    layer), in the logits' dtype; ``None`` without a mask."""


def router_rows(
    loss: str, router_logits: torch.Tensor | Sequence[torch.Tensor], attention_mask: torch.Tensor | None
) -> RouterRows:
    """Check ``router_logits`` and pool them into ``[rows, E]``.

    :raises LossInputError: ``router_logits`` is not a tensor or a non-empty
        tuple or list of tensors, a tensor is not floating or has fewer than
        two dimensions, the layers disagree on ``E`` (or on the device), or a
        layer's token count does not match the attention mask's ``B * T``.
    """
    what = f"{loss}: input 'router_logits'"
    if isinstance(router_logits, torch.Tensor):
        layers: list[torch.Tensor] = [router_logits]
    elif isinstance(router_logits, (tuple, list)) and router_logits:
        layers = list(router_logits)
        for position, layer in enumerate(layers):
            if not isinstance(layer, torch.Tensor):
                raise LossInputError(
                    f"{what} must hold tensors, one per MoE layer; item {position} is {type(layer).__name__}"
                )
    else:
        raise LossInputError(
            f"{what} must be a tensor [..., E] or a non-empty tuple or list of [tokens, E] tensors "
            f"(one per MoE layer), got {_describe(router_logits)}"
        )
    experts = layers[0].shape[-1] if layers[0].ndim else 0
    for position, layer in enumerate(layers):
        where = "" if isinstance(router_logits, torch.Tensor) else f" (layer {position})"
        if not layer.is_floating_point():
            raise LossInputError(f"{what}{where} must have a floating dtype, got {layer.dtype}")
        if layer.ndim < 2 or layer.shape[-1] != experts or experts == 0:
            raise LossInputError(
                f"{what}{where} must be [tokens, E] with the same E >= 1 in every layer, "
                f"got shape {tuple(layer.shape)} (first layer: {tuple(layers[0].shape)})"
            )
    if len({layer.device for layer in layers}) > 1:
        raise LossInputError(f"{what}: the layers are on different devices")
    flat = [layer.reshape(-1, experts) for layer in layers]
    logits = at_least_float32(flat[0] if len(flat) == 1 else torch.cat(flat))
    if attention_mask is None:
        return RouterRows(logits, None)
    positions = attention_mask.numel()
    if isinstance(router_logits, torch.Tensor):
        if positions == 0 or logits.shape[0] % positions:
            raise LossInputError(
                f"{what} has {logits.shape[0]} tokens, not a multiple of the {positions} positions of "
                f"input 'attention_mask' {tuple(attention_mask.shape)} (each layer's tokens are its "
                f"B*T positions)"
            )
    else:
        for position, layer in enumerate(flat):
            if layer.shape[0] != positions:
                raise LossInputError(
                    f"{what} (layer {position}) has {layer.shape[0]} tokens but input 'attention_mask' "
                    f"{tuple(attention_mask.shape)} has {positions} positions; each layer's tokens are "
                    f"its B*T positions"
                )
    mask = as_float(attention_mask.reshape(-1).to(logits.device), logits.dtype)
    return RouterRows(logits, mask.repeat(logits.shape[0] // positions))


def router_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32, **params: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs of an MoE auxiliary loss: the router logits of 3 layers
    stacked, ``[3, B * 5, 6]`` (a leaf that requires grad), and an attention
    mask ``[B, 5]`` that pads the last position of every other sequence;
    ``params`` as given."""
    logits = torch.randn(3, batch_size * 5, 6).to(dtype).requires_grad_(True)
    mask = torch.ones(batch_size, 5, dtype=torch.long)
    mask[::2, -1] = 0
    return {"router_logits": logits}, {"attention_mask": mask}, dict(params)


def _describe(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"an empty {type(value).__name__}"
    return type(value).__name__
