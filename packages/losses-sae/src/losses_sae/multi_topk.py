"""``multi_topk``: the Multi-TopK loss L(k) + L(4k)/8 of Gao et al. 2024."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losses_sae._params import check_nonnegative, check_positive_int
from losses_sae._topk_core import AuxKConfig, Keys, MultiTopK, topk_family_loss

__all__ = ["multi_topk"]

NAME = "multi_topk"


def multi_topk(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    k: int = 32,
    multi_k: int | None = None,
    multi_weight: float = 1 / 8,
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
    r"""Multi-TopK loss, registered as ``multi_topk`` (Gao et al. 2024, sec. 5.3;
    sparsify ``multi_topk``):

    .. math::

        L = L(k) + w\,L(k_m) + \alpha\,\mathrm{AuxK}, \qquad k_m = 4k,\ w = 1/8

    :math:`L(k)` is the reconstruction term of the model's own TopK-``k``
    reconstruction (``model_output["reconstruction"]``); :math:`L(k_m)` is the
    same ``reconstruction`` convention applied to :math:`\sum_{i \in
    \mathrm{TopK}_{k_m}(h_t)} \mathrm{ReLU}(h_{ti}) W_{dec,i} + b_{dec}`, which
    the loss decodes sparsely from ``pre_activations``, ``decoder_weight`` and
    the optional ``decoder_bias``. AuxK is that of ``topk_auxk`` (same
    parameters and defaults; ``alpha=0`` disables it and its inputs).

    :param k: the model's TopK ``k`` (OpenAI's released config: 32).
    :param multi_k: the second ``k``; ``None`` means ``4 * k``. Capped at
        ``n_latents``.
    :param multi_weight: :math:`w`, the weight of :math:`L(k_m)` (1/8).
    :returns: metrics ``reconstruction``, ``multi_topk_reconstruction``,
        ``auxk``, ``dead_fraction`` (when ``alpha > 0``) and the reconstruction
        metrics of the model's reconstruction.
    """
    k = check_positive_int(NAME, "k", k)
    k_multi = 4 * k if multi_k is None else check_positive_int(NAME, "multi_k", multi_k)
    weight = check_nonnegative(NAME, "multi_weight", multi_weight)
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
        multi=MultiTopK(k_multi, weight),
    )
