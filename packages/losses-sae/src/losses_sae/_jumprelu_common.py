"""Inputs shared by the JumpReLU losses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from losses_sae._inputs import Reconstruction, fetch_codes, fetch_reconstruction, fetch_threshold
from losses_sae._params import check_positive

__all__ = ["JumpReLUInputs", "fetch_jumprelu_inputs"]


class JumpReLUInputs(NamedTuple):
    rec: Reconstruction
    latents: torch.Tensor
    pre_activations: torch.Tensor
    threshold: torch.Tensor


def fetch_jumprelu_inputs(
    name: str,
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    bandwidth: float,
    reconstruction_key: str,
    latents_key: str,
    pre_activations_key: str,
    threshold_key: str,
    activations_key: str,
) -> JumpReLUInputs:
    check_positive(name, "bandwidth", bandwidth)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=name,
        reconstruction_key=reconstruction_key,
        activations_key=activations_key,
    )
    latents = fetch_codes(model_output, latents_key, loss=name, lead_shape=rec.lead_shape)
    n_latents = latents.shape[-1]
    pre = fetch_codes(
        model_output, pre_activations_key, loss=name, lead_shape=rec.lead_shape, n_latents=n_latents
    )
    threshold = fetch_threshold(model_output, threshold_key, loss=name, n_latents=n_latents)
    return JumpReLUInputs(rec, latents, pre, threshold)
