"""The JumpReLU and Heaviside step functions with straight-through
pseudo-derivatives (Rajamanoharan et al. 2024b, "Jumping Ahead", eqs. 11-12).

With the rectangle kernel :math:`K(u) = \\mathbb 1\\{|u| < \\tfrac12\\}` and
bandwidth :math:`\\varepsilon`:

- :math:`H(z - \\theta)`: forward :math:`\\mathbb 1\\{z > \\theta\\}`;
  :math:`\\partial/\\partial\\theta = -\\frac1\\varepsilon
  K(\\frac{z-\\theta}{\\varepsilon})`, :math:`\\partial/\\partial z = 0`.
- :math:`\\mathrm{JumpReLU}_\\theta(z) = z\\,H(z-\\theta)`: forward as written;
  :math:`\\partial/\\partial\\theta = -\\frac\\theta\\varepsilon
  K(\\frac{z-\\theta}{\\varepsilon})`, :math:`\\partial/\\partial z = H(z-\\theta)`.

The threshold's gradient is summed over the dimensions it was broadcast over.
Both are ``torch.autograd.Function``\\ s with static methods and
``ctx.save_for_backward``, so they trace under ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["HeavisideStep", "JumpReLUFunction", "apply_jumprelu", "apply_step", "l0_estimate"]


def _rectangle(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    return ((pre - threshold) / bandwidth).abs() < 0.5


class HeavisideStep(torch.autograd.Function):
    """:math:`H(z - \\theta)` with the rectangle-kernel pseudo-derivative in :math:`\\theta`."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor | None, None]:
        pre, threshold = ctx.saved_tensors
        grad_threshold = None
        if ctx.needs_input_grad[1]:
            bandwidth = ctx.bandwidth
            window = _rectangle(pre, threshold, bandwidth)
            local = torch.where(window, grad, torch.zeros_like(grad)) * (-1.0 / bandwidth)
            grad_threshold = local.sum_to_size(threshold.shape).to(threshold.dtype)
        return None, grad_threshold, None


class JumpReLUFunction(torch.autograd.Function):
    """:math:`z\\,H(z-\\theta)` with the rectangle-kernel pseudo-derivative in :math:`\\theta`."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return torch.where(pre > threshold, pre, torch.zeros_like(pre))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        pre, threshold = ctx.saved_tensors
        grad_pre = grad_threshold = None
        if ctx.needs_input_grad[0]:
            grad_pre = torch.where(pre > threshold, grad, torch.zeros_like(grad))
        if ctx.needs_input_grad[1]:
            bandwidth = ctx.bandwidth
            window = _rectangle(pre, threshold, bandwidth)
            local = torch.where(window, grad, torch.zeros_like(grad)) * (-threshold / bandwidth)
            grad_threshold = local.sum_to_size(threshold.shape).to(threshold.dtype)
        return grad_pre, grad_threshold, None


def apply_step(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """:class:`HeavisideStep` applied (typed wrapper)."""
    out: torch.Tensor = HeavisideStep.apply(pre, threshold, bandwidth)  # type: ignore[no-untyped-call]
    return out


def apply_jumprelu(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """:class:`JumpReLUFunction` applied (typed wrapper)."""
    out: torch.Tensor = JumpReLUFunction.apply(pre, threshold, bandwidth)  # type: ignore[no-untyped-call]
    return out


def l0_estimate(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """The token mean of :math:`\\lVert f_t\\rVert_0 = \\sum_i H(h_{ti} - \\theta_i)`
    for ``pre`` ``[tokens, n_latents]``, differentiable in the threshold
    through :class:`HeavisideStep` (the L0 of the JumpReLU losses)."""
    return apply_step(pre, threshold, float(bandwidth)).sum(dim=-1).mean()
