"""``jumprelu_target_l0``: JumpReLU SAE loss with a quadratic penalty towards a
target L0 (dictionary_learning ``JumpReluTrainer``)."""

from __future__ import annotations

from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_sae._jumprelu_autograd import l0_estimate
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token
from losses_sae._sae_inputs import ACTIVATIONS, LATENTS, PRE_ACTIVATIONS, THRESHOLD, X_HAT
from losses_sae._tokens import check_leading_dims, tokens
from losses_sae._toy_sae import Example, jumprelu_model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["jumprelu_target_l0", "jumprelu_target_l0_example"]

NAME = "jumprelu_target_l0"


def jumprelu_target_l0_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a JumpReLU SAE with
    threshold 0.5 and bandwidth 0.5, aiming at an L0 of 4."""
    sae = toy_sae(batch_size)
    params = {"bandwidth": 0.5, "target_l0": 4.0}
    return jumprelu_model_output(sae, dtype), {"activations": sae.x.to(dtype)}, params


@register_loss(
    aliases=("jumprelu_sae_target_l0",),
    inputs=[X_HAT, LATENTS, PRE_ACTIVATIONS, THRESHOLD, ACTIVATIONS],
    example_inputs=jumprelu_target_l0_example,
)
def jumprelu_target_l0(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor,
    threshold: torch.Tensor,
    activations: torch.Tensor,
    *,
    target_l0: Annotated[float, Range(gt=0)] = 20.0,
    sparsity_weight: Annotated[float, Range(ge=0)] = 1.0,
    bandwidth: Annotated[float, Range(gt=0)] = 0.001,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""JumpReLU SAE loss with a quadratic penalty pulling the batch L0 to a target.

    Registered as ``jumprelu_target_l0`` (alias ``jumprelu_sae_target_l0``;
    saprmarks/dictionary_learning ``jumprelu.py``; the L0 estimator of
    Rajamanoharan et al. 2024b):

    .. math::

        L = \frac1T\sum_t \ell_t + \lambda\Big(\frac{L_0}{L_0^{target}} - 1\Big)^2,
        \qquad L_0 = \frac1T\sum_t\sum_i H(h_{ti} - \theta_i)

    where :math:`H` has the straight-through pseudo-derivative
    :math:`\partial H/\partial\theta = -\frac1\varepsilon
    K(\frac{h-\theta}\varepsilon)` (rectangle kernel, bandwidth
    :math:`\varepsilon`), so the penalty pushes the batch L0 towards the
    target from both sides. :math:`\ell_t` is the ``reconstruction``
    convention (default ``"sum_mean"``, see :func:`losses_sae.sae_loss`).
    Defaults follow dictionary_learning: ``target_l0=20``, :math:`\lambda=1`,
    :math:`\varepsilon=0.001`. dictionary_learning applies the step to the
    JumpReLU output rather than to :math:`h`; the forward value is the same
    (for :math:`\theta > 0`), and using :math:`h` keeps the pseudo-gradient of
    the paper.

    Inputs: ``model_output`` ``reconstruction`` (input ``x_hat``) ``[...,
    d_in]``, ``latents`` and ``pre_activations`` ``[..., n_latents]``,
    ``threshold`` ``[n_latents]`` (or 0-dim); ``targets`` ``activations``
    ``[..., d_in]``.

    :param target_l0: :math:`L_0^{target}`, default 20.
    :param sparsity_weight: :math:`\lambda`, default 1.
    :param bandwidth: :math:`\varepsilon`, default 0.001.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``l0_estimate`` (the differentiable
        :math:`L_0`), ``sparsity`` (the unweighted penalty) and the
        reconstruction metrics. The loss is batch-level (a mean over tokens).
    """
    check_leading_dims(NAME, activations, latents=latents, pre_activations=pre_activations)
    x, x_hat_t, codes = tokens(activations), tokens(x_hat), tokens(latents)
    recon = reconstruction_per_token(x, x_hat_t, reconstruction).mean()
    l0 = l0_estimate(tokens(pre_activations), threshold, bandwidth)
    penalty = (l0 / target_l0 - 1).square()
    metrics = {"reconstruction": recon, "l0_estimate": l0, "sparsity": penalty}
    metrics.update(reconstruction_metrics(x, x_hat_t, codes))
    return loss_result(recon + sparsity_weight * penalty, metrics=metrics)
