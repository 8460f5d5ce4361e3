"""``jumprelu``: the JumpReLU SAE loss with a straight-through L0 penalty
(step mode, Rajamanoharan et al. 2024b) or Anthropic's tanh penalty."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae._inputs import fetch_dead_mask, fetch_decoder_weight
from losses_sae._jumprelu_autograd import apply_step
from losses_sae._jumprelu_common import fetch_jumprelu_inputs
from losses_sae._params import check_choice, check_nonnegative, check_positive
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token
from losses_sae._result import build_result

__all__ = ["jumprelu_loss"]

NAME = "jumprelu"
MODES = ("step", "tanh")
PRE_ACT_LATENTS = ("all", "dead")


def jumprelu_loss(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sparsity_weight: float = 0.001,
    mode: str = "step",
    bandwidth: float = 0.001,
    tanh_scale: float = 4.0,
    pre_act_weight: float = 0.0,
    pre_act_latents: str = "all",
    reconstruction: str = "sum_mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    threshold_key: str = "threshold",
    decoder_weight_key: str = "decoder_weight",
    activations_key: str = "activations",
    dead_mask_key: str = "dead_mask",
) -> dict[str, Any]:
    r"""JumpReLU SAE loss, registered as ``jumprelu`` (Rajamanoharan et al.
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
    - ``mode="tanh"`` (Anthropic, SAELens ``jumprelu_sparsity_loss_mode="tanh"``):
      :math:`S_t = \sum_i \tanh(c\,|f_{ti}|\,\lVert W_{dec,i}\rVert_2)`,
      :math:`c` = ``tanh_scale`` (4); needs ``decoder_weight``.

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

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents``
        :math:`f` and ``pre_activations`` :math:`h` ``[..., n_latents]``,
        ``threshold`` :math:`\theta` ``[n_latents]`` (or 0-dim),
        ``decoder_weight`` ``[n_latents, d_in]`` (tanh mode or pre-act loss).
    :param targets: ``activations`` ``[..., d_in]``; ``dead_mask`` for
        ``pre_act_latents="dead"``.
    :returns: metrics ``reconstruction``, ``sparsity`` (unweighted
        :math:`\frac1T\sum_t S_t`), ``pre_act`` (when on) and the
        reconstruction metrics. The loss is a mean over tokens.
    """
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    check_choice(NAME, "mode", mode, MODES)
    scale = check_positive(NAME, "tanh_scale", tanh_scale)
    pre_weight = check_nonnegative(NAME, "pre_act_weight", pre_act_weight)
    check_choice(NAME, "pre_act_latents", pre_act_latents, PRE_ACT_LATENTS)
    check_reconstruction(NAME, reconstruction)
    inputs = fetch_jumprelu_inputs(
        NAME,
        model_output,
        targets,
        bandwidth=bandwidth,
        reconstruction_key=reconstruction_key,
        latents_key=latents_key,
        pre_activations_key=pre_activations_key,
        threshold_key=threshold_key,
        activations_key=activations_key,
    )
    rec, latents, pre, threshold = inputs
    n_latents = latents.shape[-1]
    norms = None
    if mode == "tanh" or pre_weight > 0:
        decoder = fetch_decoder_weight(
            model_output, decoder_weight_key, loss=NAME, n_latents=n_latents, d_in=rec.x.shape[-1]
        )
        norms = torch.linalg.vector_norm(decoder, dim=1).to(latents.dtype)
    recon = reconstruction_per_token(rec.x, rec.x_hat, reconstruction).mean()
    if mode == "step":
        steps = apply_step(pre, threshold, float(bandwidth))
        sparsity = steps.sum(dim=-1).mean()
    else:
        assert norms is not None
        sparsity = torch.tanh(scale * latents.abs() * norms).sum(dim=-1).mean()
    total = recon + weight * sparsity
    components = {"reconstruction": recon, "sparsity": sparsity}
    dead_mask = None
    if pre_weight > 0:
        assert norms is not None
        gap = (threshold - pre).relu() * norms.to(pre.dtype)
        if pre_act_latents == "dead":
            dead_mask = fetch_dead_mask(targets, dead_mask_key, loss=NAME, n_latents=n_latents)
            gap = torch.where(dead_mask, gap, torch.zeros_like(gap))
        pre_act = gap.sum(dim=-1).mean()
        total = total + pre_weight * pre_act
        components["pre_act"] = pre_act
    return build_result(total, components, x=rec.x, x_hat=rec.x_hat, latents=latents, dead_mask=dead_mask)
