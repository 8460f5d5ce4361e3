"""The shared body of the TopK-family losses (``topk_auxk``, ``multi_topk``,
``batch_topk``): reconstruction + alpha * AuxK [+ the Multi-TopK term]."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from losses_sae._auxk import auxk_term, check_auxk_params, fetch_auxk_inputs
from losses_sae._decode import sparse_decode
from losses_sae._inputs import fetch_codes, fetch_decoder_bias, fetch_decoder_weight, fetch_reconstruction
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token, squared_error
from losses_sae._result import build_result
from losses_sae.metrics import min_positive_activation

__all__ = ["AuxKConfig", "Keys", "MultiTopK", "topk_family_loss"]


@dataclass(frozen=True)
class Keys:
    reconstruction: str
    latents: str
    pre_activations: str
    decoder_weight: str
    decoder_bias: str | None
    activations: str
    dead_mask: str


@dataclass(frozen=True)
class AuxKConfig:
    alpha: float
    k_aux: int | None
    normalize: str
    include_bias: bool
    dead_scale: bool


@dataclass(frozen=True)
class MultiTopK:
    k: int
    weight: float


def topk_family_loss(
    name: str,
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    reconstruction: str,
    auxk: AuxKConfig,
    keys: Keys,
    multi: MultiTopK | None = None,
    batch_threshold: bool = False,
) -> dict[str, Any]:
    alpha = check_auxk_params(name, alpha=auxk.alpha, k_aux=auxk.k_aux, normalize=auxk.normalize)
    check_reconstruction(name, reconstruction)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=name,
        reconstruction_key=keys.reconstruction,
        activations_key=keys.activations,
    )
    latents = fetch_codes(model_output, keys.latents, loss=name, lead_shape=rec.lead_shape)
    n_latents, d_in = latents.shape[-1], rec.x.shape[-1]
    error = squared_error(rec.x, rec.x_hat)
    recon = reconstruction_per_token(rec.x, rec.x_hat, reconstruction, error=error).mean()
    total = recon
    components = {"reconstruction": recon}
    dead_mask = None
    if alpha > 0:
        inputs = fetch_auxk_inputs(
            model_output,
            targets,
            loss=name,
            lead_shape=rec.lead_shape,
            n_latents=n_latents,
            d_in=d_in,
            pre_activations_key=keys.pre_activations,
            decoder_weight_key=keys.decoder_weight,
            decoder_bias_key=keys.decoder_bias,
            dead_mask_key=keys.dead_mask,
        )
        dead_mask = inputs.dead_mask
        aux = auxk_term(
            rec.x,
            rec.x_hat,
            inputs,
            k_aux=auxk.k_aux,
            normalize=auxk.normalize,
            include_bias=auxk.include_bias,
            dead_scale=auxk.dead_scale,
        )
        total = total + alpha * aux
        components["auxk"] = aux
    if multi is not None:
        multi_recon = _multi_topk_reconstruction(
            name, model_output, keys, rec.lead_shape, n_latents, d_in, multi.k
        )
        multi_term = reconstruction_per_token(rec.x, multi_recon.to(rec.x.dtype), reconstruction).mean()
        total = total + multi.weight * multi_term
        components["multi_topk_reconstruction"] = multi_term
    extra = {"min_positive_activation": min_positive_activation(latents)} if batch_threshold else None
    return build_result(
        total,
        components,
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
        squared_error=error,
        dead_mask=dead_mask,
        extra_metrics=extra,
    )


def _multi_topk_reconstruction(
    name: str,
    model_output: Mapping[str, Any],
    keys: Keys,
    lead_shape: torch.Size,
    n_latents: int,
    d_in: int,
    k: int,
) -> torch.Tensor:
    """:math:`\\sum_{i \\in \\mathrm{TopK}_{k}(h_t)} \\mathrm{ReLU}(h_{ti}) W_{dec,i} + b_{dec}`."""
    pre = fetch_codes(
        model_output, keys.pre_activations, loss=name, lead_shape=lead_shape, n_latents=n_latents
    )
    decoder = fetch_decoder_weight(
        model_output, keys.decoder_weight, loss=name, n_latents=n_latents, d_in=d_in
    )
    bias = fetch_decoder_bias(model_output, keys.decoder_bias, loss=name, d_in=d_in)
    values, indices = pre.topk(min(k, n_latents), dim=-1, sorted=False)
    out = sparse_decode(indices, values.relu(), decoder)
    return out if bias is None else out + bias
