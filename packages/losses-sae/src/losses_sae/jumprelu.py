"""``jumprelu``: the JumpReLU SAE loss with a straight-through L0 penalty
(step mode, Rajamanoharan et al. 2024b) or Anthropic's tanh penalty."""

from __future__ import annotations

from typing import Annotated, Literal

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_sae._jumprelu_autograd import l0_estimate
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token
from losses_sae._sae_inputs import (
    ACTIVATIONS,
    DEAD_MASK,
    DECODER_WEIGHT,
    LATENTS,
    PRE_ACTIVATIONS,
    THRESHOLD,
    X_HAT,
    optional,
)
from losses_sae._tokens import check_decoder_weight, check_leading_dims, require, tokens
from losses_sae._toy_sae import Example, jumprelu_model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["jumprelu", "jumprelu_example"]

NAME = "jumprelu"


def jumprelu_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a JumpReLU SAE with
    threshold 0.5 (bandwidth 0.5, so that some pre-activations fall in the
    kernel window)."""
    sae = toy_sae(batch_size)
    params = {"bandwidth": 0.5, "sparsity_weight": 0.01}
    return jumprelu_model_output(sae, dtype), {"activations": sae.x.to(dtype)}, params


@register_loss(
    aliases=("jumprelu_sae",),
    inputs=[
        X_HAT,
        LATENTS,
        PRE_ACTIVATIONS,
        THRESHOLD,
        ACTIVATIONS,
        optional(DECODER_WEIGHT, 'needed by mode="tanh" and pre_act_weight > 0'),
        optional(DEAD_MASK, 'needed by pre_act_latents="dead"'),
    ],
    example_inputs=jumprelu_example,
)
def jumprelu(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor,
    threshold: torch.Tensor,
    activations: torch.Tensor,
    decoder_weight: torch.Tensor | None = None,
    dead_mask: torch.Tensor | None = None,
    *,
    sparsity_weight: Annotated[float, Range(ge=0)] = 0.001,
    mode: Literal["step", "tanh"] = "step",
    bandwidth: Annotated[float, Range(gt=0)] = 0.001,
    tanh_scale: Annotated[float, Range(gt=0)] = 4.0,
    pre_act_weight: Annotated[float, Range(ge=0)] = 0.0,
    pre_act_latents: Literal["all", "dead"] = "all",
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""JumpReLU SAE loss: reconstruction plus an L0 (step) or tanh sparsity penalty.

    Registered as ``jumprelu`` (alias ``jumprelu_sae``; Rajamanoharan et al.
    2024b, "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
    Sparse Autoencoders"; Anthropic, "Circuits Updates - January 2025").

    The model encodes :math:`f = \mathrm{JumpReLU}_\theta(h) = h\,H(h-\theta)`
    with :func:`losses_sae.activations.jumprelu` (so the reconstruction term
    trains :math:`\theta` through its pseudo-gradient). The loss is

    .. math::

        L = \frac1T\sum_t \Big(\ell_t + \lambda\, S_t + \lambda_P P_t\Big)

    with :math:`\ell_t` the ``reconstruction`` convention (default
    ``"sum_mean"``, see :func:`losses_sae.sae_loss`) and the sparsity term

    - ``mode="step"`` (DeepMind): :math:`S_t = \lVert f_t\rVert_0 = \sum_i
      H(h_{ti} - \theta_i)`, differentiated through the straight-through
      pseudo-derivative :math:`\partial H/\partial\theta =
      -\frac1\varepsilon K(\frac{h-\theta}\varepsilon)` (rectangle kernel
      :math:`K(u)=\mathbb 1\{|u|<\frac12\}`, bandwidth :math:`\varepsilon`,
      :math:`\partial H/\partial h = 0`).
    - ``mode="tanh"`` (Anthropic; SAELens ``jumprelu_sparsity_loss_mode="tanh"``):
      :math:`S_t = \sum_i \tanh(c\,f_{ti}\,\lVert W_{dec,i}\rVert_2)`,
      :math:`c` = ``tanh_scale`` (4); needs ``decoder_weight``. The penalty
      reads the latents :math:`f` themselves, not :math:`|f|`: JumpReLU
      outputs are non-negative (for a threshold :math:`\theta \ge 0`, as in
      every reference), and the derivative of :math:`|f|` at :math:`f = 0`
      is 0 in torch, which would cut the pseudo-gradient of the latents just
      below the threshold (:math:`f = 0` inside the kernel window), the ones
      that most need it to reach :math:`\theta`. Through :math:`f`, such a
      latent sends :math:`c\lVert W_{dec,i}\rVert\cdot(-\theta/\varepsilon)`
      to its threshold.

    and Anthropic's pre-activation loss :math:`P_t = \sum_i
    \mathrm{ReLU}(\theta_i - h_{ti})\,\lVert W_{dec,i}\rVert_2` (off by
    default; Anthropic uses :math:`\lambda_P = 3\cdot10^{-6}` over all latents,
    ``pre_act_latents="all"``; SAELens restricts it to dead latents,
    ``pre_act_latents="dead"``, which reads ``targets["dead_mask"]``).

    Defaults: :math:`\varepsilon = 0.001` (the paper's, for inputs scaled to
    :math:`\mathbb E\lVert x\rVert^2 = 1`; SAELens uses 0.05), :math:`\lambda
    = 0.001` (the paper sweeps it; SAELens' ``l0_coefficient`` defaults to 1).
    For the penalty :math:`\lambda((L_0/L_0^{target}) - 1)^2` use
    ``jumprelu_target_l0``.

    Inputs: ``model_output`` ``reconstruction`` (input ``x_hat``) ``[...,
    d_in]``, ``latents`` :math:`f` and ``pre_activations`` :math:`h` ``[...,
    n_latents]``, ``threshold`` :math:`\theta` ``[n_latents]`` (or 0-dim),
    ``decoder_weight`` ``[n_latents, d_in]`` (tanh mode or pre-activation
    loss); ``targets`` ``activations`` ``[..., d_in]``, ``dead_mask`` for
    ``pre_act_latents="dead"``.

    :param sparsity_weight: :math:`\lambda`, default 0.001.
    :param mode: ``"step"`` (default) or ``"tanh"``.
    :param bandwidth: :math:`\varepsilon` of the step's pseudo-derivative, default 0.001.
    :param tanh_scale: :math:`c` of the tanh penalty, default 4.
    :param pre_act_weight: :math:`\lambda_P`, default 0 (off).
    :param pre_act_latents: ``"all"`` (default) or ``"dead"`` latents in :math:`P_t`.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``sparsity`` (unweighted
        :math:`\frac1T\sum_t S_t`), ``pre_act`` (when on) and the
        reconstruction metrics. The loss is a mean over tokens.
    """
    check_leading_dims(NAME, activations, latents=latents, pre_activations=pre_activations)
    x, x_hat_t, codes, pre = tokens(activations), tokens(x_hat), tokens(latents), tokens(pre_activations)
    n_latents = codes.shape[-1]
    norms = None
    if mode == "tanh" or pre_act_weight > 0:
        if mode == "tanh":
            when, otherwise = 'with mode="tanh" (the tanh penalty)', 'use mode="step"'
        else:
            when, otherwise = "when pre_act_weight > 0 (the pre-activation loss)", "set pre_act_weight=0"
        decoder = check_decoder_weight(
            NAME,
            require(NAME, decoder_weight, "decoder_weight", "model_output", when=when, otherwise=otherwise),
            n_latents=n_latents,
            d_in=x.shape[-1],
        )
        norms = torch.linalg.vector_norm(decoder, dim=1).to(codes.dtype)
    recon = reconstruction_per_token(x, x_hat_t, reconstruction).mean()
    if mode == "step":
        sparsity = l0_estimate(pre, threshold, bandwidth)
    else:
        assert norms is not None
        sparsity = torch.tanh(tanh_scale * codes * norms).sum(dim=-1).mean()
    total = recon + sparsity_weight * sparsity
    metrics = {"reconstruction": recon, "sparsity": sparsity}
    dead = None
    if pre_act_weight > 0:
        assert norms is not None
        gap = (threshold - pre).relu() * norms.to(pre.dtype)
        if pre_act_latents == "dead":
            dead = require(
                NAME,
                dead_mask,
                "dead_mask",
                "targets",
                when='when pre_act_weight > 0 and pre_act_latents="dead"',
                otherwise='use pre_act_latents="all"',
            )
            gap = torch.where(dead, gap, torch.zeros_like(gap))
        pre_act = gap.sum(dim=-1).mean()
        total = total + pre_act_weight * pre_act
        metrics["pre_act"] = pre_act
    metrics.update(reconstruction_metrics(x, x_hat_t, codes))
    if dead is not None:
        metrics["dead_fraction"] = dead.to(metrics["fvu"].dtype).mean()
    return loss_result(total, metrics=metrics)
