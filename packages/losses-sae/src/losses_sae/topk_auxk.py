"""``topk_auxk``: TopK SAE reconstruction plus the AuxK loss (Gao et al. 2024)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losses_sae._topk_core import AuxKConfig, Keys, topk_family_loss

__all__ = ["topk_auxk"]

NAME = "topk_auxk"


def topk_auxk(
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
    r"""TopK SAE loss with the AuxK auxiliary loss, registered as ``topk_auxk``
    (Gao et al. 2024, "Scaling and evaluating sparse autoencoders").

    The model computes :math:`f = \mathrm{ReLU}(\mathrm{TopK}_k(h))` with
    :math:`h = W_{enc}(x - b_{pre}) + b_{enc}` (see
    :func:`losses_sae.activations.topk_relu`) and :math:`\hat x = f W_{dec} +
    b_{dec}`. The loss is

    .. math::

        L = \frac1T\sum_t \ell_t + \alpha\,\mathrm{AuxK},\qquad
        \mathrm{AuxK} = s\,\frac{\sum_t \lVert e_t - \hat e_t\rVert^2}{D}

    with :math:`e_t = x_t - \hat x_t` (detached), :math:`\hat e_t = \sum_{i\in
    A_t}\mathrm{ReLU}(h_{ti}) W_{dec,i}` over the ``k_aux`` largest
    pre-activations of the *dead* latents (no decoder bias unless
    ``include_bias``), and :math:`\ell_t` the ``reconstruction`` convention
    (``"sum_mean"`` default, ``"mean"``, ``"normalized"`` (OpenAI), ``"fvu"``
    (sparsify); see :func:`losses_sae.sae_loss`).

    Normalisation :math:`D` (the references disagree): ``"residual_var"``
    (default; the paper / OpenAI ``normalized_mse`` / dictionary_learning):
    :math:`\sum_t\lVert e_t - \bar e\rVert^2`; ``"total_var"`` (sparsify):
    :math:`\sum_t\lVert x_t - \bar x\rVert^2`; ``"none"`` (SAELens): :math:`T`.
    :math:`s = \min(n_{dead}/k_{aux}, 1)` when ``dead_scale`` (sparsify,
    SAELens), else 1. ``k_aux`` defaults to ``d_in // 2`` (sparsify,
    dictionary_learning, SAELens; OpenAI's released config uses 256 for
    ``d_in=768``); it is capped at ``n_latents``. :math:`\alpha = 1/32` is the
    paper's. With no dead latent AuxK is an exact, graph-connected 0 (never
    NaN), and the selection never synchronises with the host.

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents`` and
        ``pre_activations`` ``[..., n_latents]``, ``decoder_weight``
        ``[n_latents, d_in]``, optional ``decoder_bias`` ``[d_in]`` (used only
        with ``include_bias``).
    :param targets: ``activations`` ``[..., d_in]`` and ``dead_mask`` bool
        ``[n_latents]`` (e.g. from :class:`losses_sae.DeadLatentTracker`).
        ``pre_activations``, ``decoder_weight`` and ``dead_mask`` are needed
        only when ``alpha > 0``.
    :returns: metrics ``reconstruction``, ``auxk`` (unweighted),
        ``dead_fraction`` and the reconstruction metrics. No ``reduction``:
        AuxK's normalisation is batch-level; the loss is a mean over tokens.
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
    )
