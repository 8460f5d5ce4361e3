"""Activation functions of sparse autoencoders, for models that use these losses.

- :func:`jumprelu`: :math:`z\\,H(z-\\theta)` with the straight-through
  pseudo-derivative in :math:`\\theta` (Rajamanoharan et al. 2024b): use it in
  the encoder so that the reconstruction loss trains the threshold.
- :func:`heaviside_step`: :math:`H(z-\\theta)` with its pseudo-derivative, the
  differentiable L0 of the ``jumprelu`` losses.
- :func:`topk_relu`: :math:`\\mathrm{ReLU}(\\mathrm{TopK}_k(z))` per token
  (Gao et al. 2024).
- :func:`batch_topk_relu`: the :math:`kT` largest of :math:`\\mathrm{ReLU}(z)`
  over the whole batch of :math:`T` tokens (Bussmann et al. 2024).

All take ``[..., n_latents]`` pre-activations and return the same shape.
"""

from __future__ import annotations

import torch

from losses_sae._jumprelu_autograd import apply_jumprelu, apply_step

__all__ = ["batch_topk_relu", "heaviside_step", "jumprelu", "topk_relu"]

DEFAULT_BANDWIDTH = 0.001
"""The paper's :math:`\\varepsilon`, for inputs scaled to unit mean squared norm."""


def _check_bandwidth(bandwidth: float) -> float:
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0:
        raise ValueError(f"bandwidth must be a number > 0, got {bandwidth!r}")
    return float(bandwidth)


def jumprelu(
    pre_activations: torch.Tensor, threshold: torch.Tensor, *, bandwidth: float = DEFAULT_BANDWIDTH
) -> torch.Tensor:
    """JumpReLU :math:`z\\,\\mathbb 1\\{z > \\theta\\}` with pseudo-gradient
    :math:`-\\frac\\theta\\varepsilon K(\\frac{z-\\theta}\\varepsilon)` for the
    threshold (rectangle kernel :math:`K`, bandwidth :math:`\\varepsilon`).

    :param threshold: ``[n_latents]`` (or 0-dim), broadcast over tokens.
    """
    return apply_jumprelu(pre_activations, threshold, _check_bandwidth(bandwidth))


def heaviside_step(
    pre_activations: torch.Tensor, threshold: torch.Tensor, *, bandwidth: float = DEFAULT_BANDWIDTH
) -> torch.Tensor:
    """:math:`\\mathbb 1\\{z > \\theta\\}` with pseudo-gradient
    :math:`-\\frac1\\varepsilon K(\\frac{z-\\theta}\\varepsilon)` for the threshold
    and 0 for :math:`z`."""
    return apply_step(pre_activations, threshold, _check_bandwidth(bandwidth))


def topk_relu(pre_activations: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest pre-activations of each token, ReLU them, zero the rest."""
    values, indices = pre_activations.topk(min(k, pre_activations.shape[-1]), dim=-1, sorted=False)
    return torch.zeros_like(pre_activations).scatter(-1, indices, values.relu())


def batch_topk_relu(pre_activations: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k * tokens`` largest ReLU'd pre-activations of the whole batch."""
    n_latents = pre_activations.shape[-1]
    flat = pre_activations.relu().reshape(-1)
    keep = min(k * (flat.shape[0] // n_latents), flat.shape[0])
    values, indices = flat.topk(keep, sorted=False)
    return torch.zeros_like(flat).scatter(0, indices, values).reshape(pre_activations.shape)
