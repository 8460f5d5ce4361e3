"""Example-input factories of the SAE losses (for the conformance checker).

Each builds a tiny, internally consistent SAE forward pass (``batch_size``
sequences of 3 tokens, ``d_in=6``, 16 latents) and returns
``(model_output, targets, params)``; tensors that a model would produce with
gradients are leaf tensors with ``requires_grad=True``.
"""

from __future__ import annotations

from typing import Any

import torch

from losses_sae.activations import batch_topk_relu, jumprelu, topk_relu

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]

D_IN = 6
N_LATENTS = 16
SEQ = 3


_TOPK_GRAD = ("reconstruction", "pre_activations", "decoder_weight")


def _leaf(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t.detach().to(dtype).requires_grad_(True)


def _base(batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.randn(batch_size, SEQ, D_IN)
    pre = torch.randn(batch_size, SEQ, N_LATENTS)
    decoder = torch.randn(N_LATENTS, D_IN)
    decoder = decoder / decoder.norm(dim=1, keepdim=True)
    bias = 0.1 * torch.randn(D_IN)
    return x, pre, decoder, bias


def _dead_mask() -> torch.Tensor:
    return torch.arange(N_LATENTS) % 3 == 0


def _outputs(
    latents: torch.Tensor,
    pre: torch.Tensor,
    decoder: torch.Tensor,
    bias: torch.Tensor,
    dtype: torch.dtype,
    grad: tuple[str, ...],
) -> dict[str, Any]:
    values = {
        "reconstruction": latents @ decoder + bias,
        "latents": latents,
        "pre_activations": pre,
        "decoder_weight": decoder,
        "decoder_bias": bias,
    }
    return {key: _leaf(v, dtype) if key in grad else v.detach().to(dtype) for key, v in values.items()}


def sae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    out = _outputs(pre.relu(), pre, decoder, bias, dtype, ("reconstruction", "latents"))
    return out, {"activations": x.to(dtype)}, {"sparsity_weight": 0.01}


def decoder_norm_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    decoder = decoder * torch.linspace(0.5, 2.0, N_LATENTS).unsqueeze(-1)
    out = _outputs(pre.relu(), pre, decoder, bias, dtype, ("reconstruction", "latents", "decoder_weight"))
    return out, {"activations": x.to(dtype)}, {"sparsity_weight": 0.1}


def topk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    out = _outputs(topk_relu(pre, 4), pre, decoder, bias, dtype, _TOPK_GRAD)
    return out, {"activations": x.to(dtype), "dead_mask": _dead_mask()}, {"k_aux": 3}


def multi_topk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    out = _outputs(topk_relu(pre, 2), pre, decoder, bias, dtype, (*_TOPK_GRAD, "decoder_bias"))
    return out, {"activations": x.to(dtype), "dead_mask": _dead_mask()}, {"k": 2, "k_aux": 3}


def batch_topk_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    out = _outputs(batch_topk_relu(pre, 4), pre, decoder, bias, dtype, _TOPK_GRAD)
    return out, {"activations": x.to(dtype), "dead_mask": _dead_mask()}, {"k_aux": 3}


def _jumprelu_outputs(batch_size: int, dtype: torch.dtype) -> tuple[dict[str, Any], torch.Tensor]:
    x, pre, decoder, bias = _base(batch_size)
    threshold = torch.full((N_LATENTS,), 0.5)
    out = _outputs(jumprelu(pre, threshold), pre, decoder, bias, dtype, ("reconstruction",))
    out["threshold"] = _leaf(threshold, dtype)
    return out, x.to(dtype)


def jumprelu_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, x = _jumprelu_outputs(batch_size, dtype)
    return out, {"activations": x}, {"bandwidth": 0.5, "sparsity_weight": 0.01}


def jumprelu_target_l0_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, x = _jumprelu_outputs(batch_size, dtype)
    return out, {"activations": x}, {"bandwidth": 0.5, "target_l0": 4.0}


def gated_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, gate_pre, decoder, bias = _base(batch_size)
    magnitude = torch.randn(batch_size, SEQ, N_LATENTS)
    latents = (gate_pre > 0).float() * magnitude.relu()
    out = _outputs(latents, gate_pre, decoder, bias, dtype, ("reconstruction", "pre_activations"))
    return out, {"activations": x.to(dtype)}, {"sparsity_weight": 0.01}


def matryoshka_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    out = _outputs(
        topk_relu(pre, 4), pre, decoder, bias, dtype, ("latents", "decoder_weight", "decoder_bias")
    )
    del out["reconstruction"]
    return out, {"activations": x.to(dtype)}, {"group_sizes": [2, 2, 4, 8]}


def ghost_grads_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x, pre, decoder, bias = _base(batch_size)
    grad = ("reconstruction", "latents", "pre_activations", "decoder_weight")
    out = _outputs(pre.relu(), pre, decoder, bias, dtype, grad)
    return out, {"activations": x.to(dtype), "dead_mask": _dead_mask()}, {"sparsity_weight": 0.01}
