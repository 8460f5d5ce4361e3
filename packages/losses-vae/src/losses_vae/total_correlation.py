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
from typing import Any, Literal, TypeAlias, get_args

import torch

from losses_vae._gaussian import LOG_2PI, log_standard_normal

__all__ = ["ESTIMATORS", "Estimator", "kl_decomposition", "log_importance_weight_matrix"]

Estimator: TypeAlias = Literal["mss", "mws"]
"""Minibatch-stratified or minibatch-weighted sampling."""

ESTIMATORS: tuple[str, ...] = get_args(Estimator)


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


class _AggregatePosterior(torch.autograd.Function):
    """``(log q(z_i|x_i), log q(z_i), log prod_d q(z_id))`` from ``z``, ``mu``,
    ``logvar`` (``[B, Z]``) and the log-weights ``logw`` (``[B, B]``, constant).

    Forward and backward are written out by hand so that only three ``[B, B, Z]``
    tensors are allocated in all (the rest is done in place) instead of the
    twenty-odd that autograd on the plain expression makes; the gradient is
    exact (checked against autograd, pythae and ``gradcheck`` in the tests).
    Backward runs once (``once_differentiable``).
    """

    @staticmethod
    def forward(
        z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, logw: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        half_precision = 0.5 * torch.exp(-logvar)  # h[j, d]
        norm = -0.5 * (logvar + LOG_2PI)  # a[j, d]
        diff = z.unsqueeze(1) - mu.unsqueeze(0)  # [i, j, d]
        logq = diff.square()
        logq.mul_(-half_precision.unsqueeze(0)).add_(norm.unsqueeze(0))  # a - h * diff^2
        joint = logq.sum(2)  # [i, j]
        log_qz_x = torch.diagonal(joint).clone()
        weighted_joint = joint.add_(logw)
        log_qz = torch.logsumexp(weighted_joint, dim=1)
        weighted = logq.add_(logw.unsqueeze(2))
        peak = weighted.amax(dim=1, keepdim=True)
        probs = weighted.sub_(peak).exp_()  # [i, j, d]
        total = probs.sum(dim=1, keepdim=True)
        log_prod_qz = (total.log() + peak).squeeze(1).sum(1)
        probs.div_(total)  # softmax over j of log q[i, j, d] + log w[i, j]
        return log_qz_x, log_qz, log_prod_qz, diff, probs, weighted_joint, half_precision

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        _, log_qz, _, diff, probs, weighted_joint, half_precision = output
        ctx.save_for_backward(diff, probs, weighted_joint, half_precision, log_qz)
        ctx.mark_non_differentiable(diff, probs, weighted_joint, half_precision)
        ctx.set_materialize_grads(False)  # no zero [B, B, Z] gradients for the saved outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any,
        g_qz_x: torch.Tensor | None,
        g_qz: torch.Tensor | None,
        g_prod: torch.Tensor | None,
        *_unused: Any,
    ) -> tuple[torch.Tensor | None, ...]:
        diff, probs, weighted_joint, half_precision, log_qz = ctx.saved_tensors
        batch = diff.shape[0]
        # the only [B, B, Z] allocation of the backward pass:
        grad = torch.zeros_like(probs) if g_prod is None else probs * g_prod.view(batch, 1, 1)
        pair = torch.zeros_like(weighted_joint)
        if g_qz is not None:
            pair = pair + torch.exp(weighted_joint - log_qz.unsqueeze(1)) * g_qz.unsqueeze(1)
        if g_qz_x is not None:
            pair = pair + torch.diag_embed(g_qz_x)
        grad.add_(pair.unsqueeze(2))  # G = d loss / d log q[i, j, d]
        grad_sum = grad.sum(0)
        grad.mul_(diff).mul_(half_precision.unsqueeze(0))  # G * h * diff
        grad_z = -2.0 * grad.sum(1)
        grad_mu = 2.0 * grad.sum(0)
        grad_logvar = grad.mul_(diff).sum(0) - 0.5 * grad_sum  # G * h * diff^2 - G / 2
        return grad_z, grad_mu, grad_logvar, None


def kl_decomposition(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    dataset_size: int,
    estimator: Estimator = "mss",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-sample ``(mi, tc, dimwise_kl)``, each ``[B]``, for ``z``, ``mu`` and
    the (clamped) ``logvar`` of shape ``[B, Z]``.

    One ``[B, B, Z]`` tensor of log densities is built; its diagonal gives
    :math:`\log q(z_i\mid x_i)`. The MWS weight :math:`1/(NB)` enters as a
    constant log-weight matrix, so both estimators share one code path.
    """
    batch = z.shape[0]
    if estimator == "mws":
        logw = torch.full((batch, batch), -math.log(dataset_size * batch), dtype=z.dtype, device=z.device)
    else:
        logw = log_importance_weight_matrix(batch, dataset_size, dtype=z.dtype, device=z.device)
    outputs: tuple[torch.Tensor, ...] = _AggregatePosterior.apply(z, mu, logvar, logw)  # type: ignore[no-untyped-call]
    log_qz_x, log_qz, log_prod_qz = outputs[:3]
    log_pz = log_standard_normal(z).sum(1)
    return log_qz_x - log_qz, log_qz - log_prod_qz, log_prod_qz - log_pz
