r"""Kernels and the unbiased maximum mean discrepancy (Gretton et al. 2012) used
by InfoVAE/MMD-VAE.

With :math:`d` the latent dimension and bandwidth :math:`\sigma`:

- RBF: :math:`k(x, y) = \sum_s \exp(-\lVert x-y\rVert^2 / (s \cdot 2 d \sigma^2))`,
  default scales ``(1.0,)`` (a single kernel, pythae's ``rbf``);
- IMQ (inverse multiquadric, multi-scale): :math:`k(x, y) = \sum_s C_s / (C_s + \lVert x-y\rVert^2)`
  with :math:`C_s = s \cdot 2 d \sigma^2`, default scales ``(0.1, 0.2, 0.5, 1, 2, 5, 10)``
  (pythae's ``imq``; Tolstikhin et al. 2018).

Unbiased estimate for samples :math:`z` (``[B, d]``) and :math:`z'` (``[B', d]``):

.. math::
    \widehat{\mathrm{MMD}}^2 = \frac{\sum_{i\ne j} k(z_i, z_j)}{B(B-1)}
    + \frac{\sum_{i\ne j} k(z'_i, z'_j)}{B'(B'-1)} - \frac{2\sum_{i,j} k(z_i, z'_j)}{B B'}

A within-set term with a single sample (no pair) is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias, get_args

import torch

__all__ = ["DEFAULT_SCALES", "KERNELS", "Kernel", "kernel_matrix", "mmd_unbiased", "squared_distances"]

Kernel: TypeAlias = Literal["imq", "rbf"]
"""The MMD kernel: multi-scale inverse multiquadric or RBF."""

KERNELS: tuple[str, ...] = get_args(Kernel)
DEFAULT_SCALES = {"imq": (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), "rbf": (1.0,)}


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""``[N, M]`` matrix of :math:`\lVert x_i - y_j\rVert^2` via
    :math:`\lVert x\rVert^2 + \lVert y\rVert^2 - 2 x^\top y` (one matmul), clamped at 0."""
    xx = x.square().sum(1, keepdim=True)
    yy = y.square().sum(1).unsqueeze(0)
    return (xx + yy - 2.0 * (x @ y.transpose(0, 1))).clamp_min(0.0)


def kernel_matrix(
    sq_dist: torch.Tensor, *, kernel: Kernel, latent_dim: int, bandwidth: float, scales: Sequence[float]
) -> torch.Tensor:
    """The kernel applied to squared distances, summed over ``scales``."""
    base = 2.0 * latent_dim * bandwidth * bandwidth
    c = torch.tensor([float(s) * base for s in scales], dtype=sq_dist.dtype, device=sq_dist.device)
    c = c.view(-1, *([1] * sq_dist.ndim))
    if kernel == "rbf":
        return torch.exp(-sq_dist.unsqueeze(0) / c).sum(0)
    return (c / (c + sq_dist.unsqueeze(0))).sum(0)


def mmd_unbiased(
    z: torch.Tensor,
    z_prior: torch.Tensor,
    *,
    kernel: Kernel = "imq",
    bandwidth: float = 1.0,
    scales: Sequence[float] | None = None,
) -> torch.Tensor:
    """The unbiased squared MMD between the rows of ``z`` and ``z_prior`` (0-dim).

    One kernel evaluation over the stacked ``[B + B', d]`` samples gives all
    three blocks; diagonals are removed by subtracting the trace.
    """
    if scales is None:
        scales = DEFAULT_SCALES[kernel]
    n, m = z.shape[0], z_prior.shape[0]
    both = torch.cat([z, z_prior], 0)
    k = kernel_matrix(
        squared_distances(both, both),
        kernel=kernel,
        latent_dim=z.shape[1],
        bandwidth=bandwidth,
        scales=scales,
    )
    k_zz, k_pp, k_zp = k[:n, :n], k[n:, n:], k[:n, n:]
    within_z = k_zz.sum() - torch.diagonal(k_zz).sum()
    within_p = k_pp.sum() - torch.diagonal(k_pp).sum()
    term_z = within_z / (n * (n - 1)) if n > 1 else within_z * 0
    term_p = within_p / (m * (m - 1)) if m > 1 else within_p * 0
    return term_z + term_p - 2.0 * k_zp.sum() / (n * m)
