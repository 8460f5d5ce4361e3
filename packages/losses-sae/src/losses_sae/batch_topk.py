"""``batch_topk``: the BatchTopK SAE loss (Bussmann et al. 2024)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losses_sae._topk_core import AuxKConfig, Keys, topk_family_loss

__all__ = ["batch_topk"]

NAME = "batch_topk"


def batch_topk(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    alpha: float = 1 / 32,
    k_aux: int | None = None,
    normalize: str = "residual_var",
    include_bias: bool = False,
    dead_scale: bool = False,
    reconstruction: str = "sum_mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    decoder_weight_key: str = "decoder_weight",
    decoder_bias_key: str | None = "decoder_bias",
    activations_key: str = "activations",
    dead_mask_key: str = "dead_mask",
) -> dict[str, Any]:
    r"""BatchTopK SAE loss, registered as ``batch_topk`` (Bussmann, Leask and
    Nanda 2024, "BatchTopK Sparse Autoencoders"; dictionary_learning
    ``BatchTopKTrainer``).

    The model keeps the :math:`kT` largest of :math:`\mathrm{ReLU}(h)` over
    the whole batch of :math:`T` tokens (see
    :func:`losses_sae.activations.batch_topk_relu`); the training loss is that
    of ``topk_auxk``:

    .. math::

        L = \frac1T\sum_t \ell_t + \alpha\,\mathrm{AuxK}

    with the same parameters and defaults (``alpha=1/32``,
    ``normalize="residual_var"``, ``k_aux=d_in // 2``, no bias in the AuxK
    decode; ``alpha=0`` disables AuxK and its inputs).

    At inference BatchTopK uses a fixed threshold: an exponential moving
    average of the smallest positive activation of each training batch
    (dictionary_learning: decay 0.999; SAELens: ``topk_threshold_lr=0.01``).
    The batch statistic is returned as the metric
    ``min_positive_activation`` (0 if nothing fired); keep the average in
    your training loop or model, e.g. ``thr.lerp_(m, 1 - 0.999)``.

    :returns: metrics ``reconstruction``, ``auxk``, ``dead_fraction`` (when
        ``alpha > 0``), ``min_positive_activation`` and the reconstruction
        metrics.
    """
    return topk_family_loss(
        NAME,
        model_output,
        targets,
        reconstruction=reconstruction,
        auxk=AuxKConfig(alpha, k_aux, normalize, include_bias, dead_scale),
        keys=Keys(
            reconstruction_key,
            latents_key,
            pre_activations_key,
            decoder_weight_key,
            decoder_bias_key,
            activations_key,
            dead_mask_key,
        ),
        batch_threshold=True,
    )
