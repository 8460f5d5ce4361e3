"""Sparse decoding: :math:`\\sum_j v_{tj} W_{dec, i_{tj}}` for ``k`` (index, value)
pairs per token, without materialising a ``[tokens, n_latents]`` code tensor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["sparse_decode"]


def sparse_decode(indices: torch.Tensor, values: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
    """``[tokens, d_in]`` decode of ``values``/``indices`` ``[tokens, k]`` with
    ``decoder_weight`` ``[n_latents, d_in]`` (no bias). Differentiable in
    ``values`` and ``decoder_weight``."""
    return F.embedding_bag(
        indices, decoder_weight, per_sample_weights=values.to(decoder_weight.dtype), mode="sum"
    )
