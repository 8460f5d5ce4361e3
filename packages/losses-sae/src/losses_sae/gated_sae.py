"""``gated_sae``: the Gated SAE loss (Rajamanoharan et al. 2024a)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae._inputs import fetch_codes, fetch_decoder_bias, fetch_decoder_weight, fetch_reconstruction
from losses_sae._params import check_nonnegative
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token
from losses_sae._result import build_result

__all__ = ["gated_sae"]

NAME = "gated_sae"


def gated_sae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sparsity_weight: float = 0.01,
    aux_weight: float = 1.0,
    detach_decoder: bool = True,
    decoder_norm_weighted: bool = False,
    reconstruction: str = "sum_mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    decoder_weight_key: str = "decoder_weight",
    decoder_bias_key: str | None = "decoder_bias",
    activations_key: str = "activations",
) -> dict[str, Any]:
    r"""Gated SAE loss, registered as ``gated_sae`` (Rajamanoharan et al.
    2024a, "Improving Dictionary Learning with Gated Sparse Autoencoders", eq. 8).

    The model computes :math:`\pi_{gate} = W_{gate}(x - b_{dec}) + b_{gate}`,
    :math:`\pi_{mag} = (e^{r_{mag}}\odot W_{gate})(x - b_{dec}) + b_{mag}`,
    :math:`f = \mathbb 1[\pi_{gate} > 0]\odot\mathrm{ReLU}(\pi_{mag})` and
    :math:`\hat x = f W_{dec} + b_{dec}`. The loss is

    .. math::

        L = \frac1T\sum_t\Big(\ell(x_t, \hat x_t)
            + \lambda \lVert \mathrm{ReLU}(\pi_{gate,t})\rVert_1
            + \mu\, \ell\big(x_t, \hat x_{frozen}(\mathrm{ReLU}(\pi_{gate,t}))\big)\Big)

    where :math:`\hat x_{frozen}(g) = g\,\mathrm{sg}(W_{dec}) +
    \mathrm{sg}(b_{dec})` decodes the gate activations through a *frozen*
    (stop-gradient) copy of the decoder, so that the auxiliary term trains
    only the gate path (the paper; dictionary_learning ``GatedSAETrainer``).
    ``detach_decoder=False`` reproduces SAELens, which does not detach;
    ``decoder_norm_weighted=True`` weights the L1 by :math:`\lVert
    W_{dec,i}\rVert_2` as SAELens does (the paper keeps decoder rows at unit
    norm instead). :math:`\ell` is the ``reconstruction`` convention (default
    ``"sum_mean"``, see :func:`losses_sae.sae_loss`) for both reconstruction
    terms; :math:`\mu` = ``aux_weight`` (1 in the paper).

    :param model_output: ``reconstruction`` ``[..., d_in]``, ``latents`` (the
        gated codes :math:`f`) and ``pre_activations`` (:math:`\pi_{gate}`)
        ``[..., n_latents]``, ``decoder_weight`` ``[n_latents, d_in]``,
        optional ``decoder_bias`` ``[d_in]``.
    :param targets: ``activations`` ``[..., d_in]``.
    :returns: metrics ``reconstruction``, ``l1_gate`` (unweighted),
        ``aux_reconstruction`` and the reconstruction metrics. The loss is a
        mean over tokens.
    """
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    aux = check_nonnegative(NAME, "aux_weight", aux_weight)
    check_reconstruction(NAME, reconstruction)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=NAME,
        reconstruction_key=reconstruction_key,
        activations_key=activations_key,
    )
    latents = fetch_codes(model_output, latents_key, loss=NAME, lead_shape=rec.lead_shape)
    n_latents, d_in = latents.shape[-1], rec.x.shape[-1]
    gate_pre = fetch_codes(
        model_output, pre_activations_key, loss=NAME, lead_shape=rec.lead_shape, n_latents=n_latents
    )
    decoder = fetch_decoder_weight(
        model_output, decoder_weight_key, loss=NAME, n_latents=n_latents, d_in=d_in
    )
    bias = fetch_decoder_bias(model_output, decoder_bias_key, loss=NAME, d_in=d_in)
    gate = gate_pre.relu()
    if decoder_norm_weighted:
        l1_gate = (gate @ torch.linalg.vector_norm(decoder, dim=1).to(gate.dtype)).mean()
    else:
        l1_gate = torch.linalg.vector_norm(gate, ord=1, dim=-1).mean()
    frozen_w = decoder.detach() if detach_decoder else decoder
    via_gate = gate.to(frozen_w.dtype) @ frozen_w
    if bias is not None:
        via_gate = via_gate + (bias.detach() if detach_decoder else bias)
    recon = reconstruction_per_token(rec.x, rec.x_hat, reconstruction).mean()
    aux_recon = reconstruction_per_token(rec.x, via_gate.to(rec.x.dtype), reconstruction).mean()
    return build_result(
        recon + weight * l1_gate + aux * aux_recon,
        {"reconstruction": recon, "l1_gate": l1_gate, "aux_reconstruction": aux_recon},
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
    )
