"""``jumprelu_target_l0``: JumpReLU SAE loss with a quadratic penalty towards a
target L0 (dictionary_learning ``JumpReluTrainer``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losses_sae._jumprelu_autograd import apply_step
from losses_sae._jumprelu_common import fetch_jumprelu_inputs
from losses_sae._params import check_nonnegative, check_positive
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token
from losses_sae._result import build_result

__all__ = ["jumprelu_target_l0"]

NAME = "jumprelu_target_l0"


def jumprelu_target_l0(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    target_l0: float = 20.0,
    sparsity_weight: float = 1.0,
    bandwidth: float = 0.001,
    reconstruction: str = "sum_mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    threshold_key: str = "threshold",
    activations_key: str = "activations",
) -> dict[str, Any]:
    r"""JumpReLU SAE loss with a target-L0 penalty, registered as
    ``jumprelu_target_l0`` (saprmarks/dictionary_learning ``jumprelu.py``;
    the L0 estimator of Rajamanoharan et al. 2024b):

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

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents`` and
        ``pre_activations`` ``[..., n_latents]``, ``threshold`` ``[n_latents]``.
    :param targets: ``activations`` ``[..., d_in]``.
    :returns: metrics ``reconstruction``, ``l0_estimate`` (the differentiable
        :math:`L_0`), ``sparsity`` (the unweighted penalty) and the
        reconstruction metrics. The loss is batch-level (a mean over tokens).
    """
    target = check_positive(NAME, "target_l0", target_l0)
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    check_reconstruction(NAME, reconstruction)
    rec, latents, pre, threshold = fetch_jumprelu_inputs(
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
    recon = reconstruction_per_token(rec.x, rec.x_hat, reconstruction).mean()
    l0_estimate = apply_step(pre, threshold, float(bandwidth)).sum(dim=-1).mean()
    penalty = (l0_estimate / target - 1).square()
    return build_result(
        recon + weight * penalty,
        {"reconstruction": recon, "l0_estimate": l0_estimate, "sparsity": penalty},
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
    )
