r"""Minibatch estimators of the KL decomposition of Chen et al. 2018 (β-TCVAE).

With :math:`N` the dataset size, :math:`B` the batch size and
:math:`\log q[i, j, d] = \log\mathcal N(z_{id};\ \mu_{jd}, e^{v_{jd}})`:

.. math::
    \mathbb E_{x}\,\mathrm{KL}(q(z\mid x)\,\|\,p(z)) =
    \underbrace{I_q(z; n)}_{\text{MI}}
    + \underbrace{\mathrm{KL}(q(z)\,\|\,\textstyle\prod_d q(z_d))}_{\text{TC}}
    + \underbrace{\textstyle\sum_d \mathrm{KL}(q(z_d)\,\|\,p(z_d))}_{\text{dimension-wise KL}}

estimated per sample :math:`i` as ``MI_i = log q(z_i|x_i) - log q(z_i)``,
``TC_i = log q(z_i) - log prod_d q(z_id)``, ``dimKL_i = log prod_d q(z_id) - log p(z_i)``,
which add up to ``log q(z_i|x_i) - log p(z_i)`` for any batch and either estimator.

- ``"mws"`` (minibatch-weighted sampling): :math:`\log q(z_i) = \mathrm{LSE}_j \sum_d \log q[i,j,d]
  - \log(NB)` and :math:`\log\prod_d q(z_{id}) = \sum_d(\mathrm{LSE}_j \log q[i,j,d] - \log(NB))`.
- ``"mss"`` (minibatch-stratified sampling): the same with the importance weights
  :math:`W` of :func:`log_importance_weight_matrix` inside the log-sum-exps
  instead of :math:`1/(NB)`.
"""

from __future__ import annotations

import math

import torch

from losses_vae._gaussian import LOG_2PI, log_standard_normal

__all__ = ["ESTIMATORS", "kl_decomposition", "log_importance_weight_matrix"]

ESTIMATORS = ("mss", "mws")


def log_importance_weight_matrix(
    batch_size: int,
    dataset_size: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""``log W`` (``[B, B]``) of minibatch-stratified sampling (Chen et al. 2018, App. C).

    Row :math:`i` estimates :math:`q(z_i) = \sum_j W_{ij}\, q(z_i \mid x_j)` from the
    batch: the sample's own posterior gets :math:`1/N`, one other sample (the
    next one, cyclically: :math:`j = i+1 \bmod B`) carries the stratum of the
    :math:`N-B+1` data points outside the batch, :math:`(N-B+1)/(N(B-1))`, and
    the remaining :math:`B-2` samples get :math:`1/(B-1)` each; every row sums
    to 1. (The widely copied rtqichen/pythae/AntixK version strides
    ``W.view(-1)[::B]`` down column 0 instead of the diagonal, so its rows do not
    sum to 1.) For ``B == 1`` the matrix is ``[[0.]]`` (weight 1).

    :raises ValueError: ``batch_size < 1`` or ``dataset_size < batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if dataset_size < batch_size:
        raise ValueError(f"dataset_size ({dataset_size}) must be >= the batch size ({batch_size})")
    if batch_size == 1:
        return torch.zeros(1, 1, dtype=dtype, device=device)
    n, m = float(dataset_size), float(batch_size - 1)
    log_self = -math.log(n)
    log_stratum = math.log(n - m) - math.log(n) - math.log(m)
    log_other = -math.log(m)
    eye = torch.eye(batch_size, dtype=torch.bool, device=device)
    nxt = eye.roll(1, dims=1)
    logw = torch.full((batch_size, batch_size), log_other, dtype=dtype, device=device)
    logw = torch.where(nxt, torch.full_like(logw, log_stratum), logw)
    return torch.where(eye, torch.full_like(logw, log_self), logw)


def kl_decomposition(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    dataset_size: int,
    estimator: str = "mss",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-sample ``(mi, tc, dimwise_kl)``, each ``[B]``, for ``z``, ``mu`` and
    the (clamped) ``logvar`` of shape ``[B, Z]``.

    One ``[B, B, Z]`` tensor of log densities is built; its diagonal gives
    :math:`\log q(z_i\mid x_i)`.
    """
    batch = z.shape[0]
    inv_var_half = 0.5 * torch.exp(-logvar)  # [B, Z], index j
    norm = -0.5 * (logvar + LOG_2PI)  # [B, Z], index j
    diff = z.unsqueeze(1) - mu.unsqueeze(0)  # [i, j, d]
    logq = norm.unsqueeze(0) - diff.square() * inv_var_half.unsqueeze(0)
    log_qz_x = logq.diagonal(dim1=0, dim2=1).sum(0)  # [B]
    log_pz = log_standard_normal(z).sum(1)
    joint = logq.sum(2)  # [i, j]
    if estimator == "mws":
        log_nb = math.log(dataset_size * batch)
        log_qz = torch.logsumexp(joint, dim=1) - log_nb
        log_prod_qz = torch.logsumexp(logq, dim=1).sum(1) - z.shape[1] * log_nb
    else:
        logw = log_importance_weight_matrix(batch, dataset_size, dtype=z.dtype, device=z.device)
        log_qz = torch.logsumexp(joint + logw, dim=1)
        log_prod_qz = torch.logsumexp(logq + logw.unsqueeze(2), dim=1).sum(1)
    return log_qz_x - log_qz, log_qz - log_prod_qz, log_prod_qz - log_pz
