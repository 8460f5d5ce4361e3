"""A tiny SAE forward pass, the material of the example-input factories that
sit next to each loss (for the conformance checker and the docs).

``batch_size`` sequences of 3 tokens, ``d_in=6``, 16 latents, unit-norm
decoder rows. Tensors that a model would produce with gradients are leaf
tensors with ``requires_grad=True``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

__all__ = [
    "D_IN",
    "N_LATENTS",
    "SEQ",
    "Example",
    "ToySAE",
    "dead_mask",
    "jumprelu_model_output",
    "model_output",
    "toy_sae",
]

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
"""``(model_output, targets, params)``."""

D_IN = 6
N_LATENTS = 16
SEQ = 3


class ToySAE(NamedTuple):
    x: torch.Tensor
    """activations ``[batch_size, SEQ, D_IN]``"""
    pre: torch.Tensor
    """pre-activations ``[batch_size, SEQ, N_LATENTS]``"""
    decoder: torch.Tensor
    """``[N_LATENTS, D_IN]``, unit-norm rows"""
    bias: torch.Tensor
    """``[D_IN]``"""


def toy_sae(batch_size: int) -> ToySAE:
    """Random activations, pre-activations, decoder and bias."""
    x = torch.randn(batch_size, SEQ, D_IN)
    pre = torch.randn(batch_size, SEQ, N_LATENTS)
    decoder = torch.randn(N_LATENTS, D_IN)
    decoder = decoder / decoder.norm(dim=1, keepdim=True)
    return ToySAE(x, pre, decoder, 0.1 * torch.randn(D_IN))


def dead_mask() -> torch.Tensor:
    """Every third latent dead."""
    return torch.arange(N_LATENTS) % 3 == 0


def model_output(
    sae: ToySAE,
    latents: torch.Tensor,
    dtype: torch.dtype,
    grad: tuple[str, ...],
    *,
    decoder: torch.Tensor | None = None,
) -> dict[str, Any]:
    """``reconstruction``, ``latents``, ``pre_activations``, ``decoder_weight``
    and ``decoder_bias`` in ``dtype``; those named in ``grad`` are leaves that
    require gradients. ``decoder`` replaces the toy decoder."""
    weight = sae.decoder if decoder is None else decoder
    values = {
        "reconstruction": latents @ weight + sae.bias,
        "latents": latents,
        "pre_activations": sae.pre,
        "decoder_weight": weight,
        "decoder_bias": sae.bias,
    }
    return {key: value.detach().to(dtype).requires_grad_(key in grad) for key, value in values.items()}


def jumprelu_model_output(sae: ToySAE, dtype: torch.dtype) -> dict[str, Any]:
    """:func:`model_output` of a JumpReLU SAE with threshold 0.5 (a leaf that
    requires gradients, under ``"threshold"``); the reconstruction requires
    gradients too."""
    threshold = torch.full((N_LATENTS,), 0.5)
    latents = torch.where(sae.pre > threshold, sae.pre, torch.zeros_like(sae.pre))
    out = model_output(sae, latents, dtype, ("reconstruction",))
    out["threshold"] = threshold.to(dtype).requires_grad_(True)
    return out
