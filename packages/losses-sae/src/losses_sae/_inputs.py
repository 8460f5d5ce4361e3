"""Fetching and checking the inputs of the SAE losses.

The key conventions of the package (each key is itself a parameter of every
loss that reads it, with these defaults):

- ``model_output["reconstruction"]``: :math:`\\hat x`, shape ``[..., d_in]``.
- ``model_output["latents"]``: :math:`f`, the post-activation codes,
  ``[..., n_latents]``.
- ``model_output["pre_activations"]``: :math:`h`, the pre-ReLU / pre-threshold
  encoder outputs, ``[..., n_latents]``.
- ``model_output["decoder_weight"]``: :math:`W_{dec}`, shape
  ``[n_latents, d_in]`` (one row per latent, ``x_hat = f @ W_dec + b_dec``).
- ``model_output["decoder_bias"]``: :math:`b_{dec}`, shape ``[d_in]``.
- ``model_output["threshold"]``: the JumpReLU threshold :math:`\\theta`,
  ``[n_latents]``.
- ``targets["activations"]``: :math:`x`, the input activations, ``[..., d_in]``.
- ``targets["dead_mask"]``: bool ``[n_latents]``, ``True`` for dead latents.

Leading dimensions (``[batch, seq, ...]``) are flattened to tokens. Only
static metadata (shape, ndim, dtype) is checked, never tensor values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from losses_core import LossInputError
from losses_core.inputs import check_same_shape, require_tensor

__all__ = [
    "Reconstruction",
    "fetch_codes",
    "fetch_dead_mask",
    "fetch_decoder_bias",
    "fetch_decoder_weight",
    "fetch_reconstruction",
    "fetch_threshold",
]


class Reconstruction(NamedTuple):
    """The input activations and their reconstruction, flattened to tokens."""

    x: torch.Tensor
    """``[tokens, d_in]``"""
    x_hat: torch.Tensor
    """``[tokens, d_in]``"""
    lead_shape: torch.Size
    """The leading (batch) dimensions that were flattened."""


def _token_tensor(mapping: Mapping[str, Any], key: str, *, loss: str, source: str) -> torch.Tensor:
    value = require_tensor(mapping, key, loss=loss, source=source, floating=True)
    if value.ndim < 2:
        raise LossInputError(
            f"{loss}: {source}[{key!r}] must have shape [tokens, features] or [..., features] "
            f"(at least 2 dimensions), got shape {tuple(value.shape)}"
        )
    return value


def fetch_reconstruction(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    reconstruction_key: str,
    activations_key: str,
) -> Reconstruction:
    """``targets[activations_key]`` and ``model_output[reconstruction_key]``,
    checked to have the same shape ``[..., d_in]`` and flattened to tokens."""
    x = _token_tensor(targets, activations_key, loss=loss, source="targets")
    x_hat = _token_tensor(model_output, reconstruction_key, loss=loss, source="model_output")
    check_same_shape(
        x_hat,
        x,
        loss=loss,
        names=(f"model_output[{reconstruction_key!r}]", f"targets[{activations_key!r}]"),
    )
    d_in = x.shape[-1]
    return Reconstruction(x.reshape(-1, d_in), x_hat.reshape(-1, d_in), x.shape[:-1])


def fetch_activations(
    targets: Mapping[str, Any], *, loss: str, activations_key: str
) -> tuple[torch.Tensor, torch.Size]:
    """``targets[activations_key]`` flattened to ``[tokens, d_in]``, and its leading shape."""
    x = _token_tensor(targets, activations_key, loss=loss, source="targets")
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


def fetch_codes(
    model_output: Mapping[str, Any],
    key: str,
    *,
    loss: str,
    lead_shape: torch.Size,
    n_latents: int | None = None,
) -> torch.Tensor:
    """A ``[..., n_latents]`` tensor (latents or pre-activations) with the same
    leading dimensions as the activations, flattened to ``[tokens, n_latents]``."""
    codes = _token_tensor(model_output, key, loss=loss, source="model_output")
    if codes.shape[:-1] != lead_shape:
        raise LossInputError(
            f"{loss}: model_output[{key!r}] has shape {tuple(codes.shape)}; its leading dimensions "
            f"must match the activations' {tuple(lead_shape)} (shape [..., n_latents])"
        )
    if n_latents is not None and codes.shape[-1] != n_latents:
        raise LossInputError(
            f"{loss}: model_output[{key!r}] has {codes.shape[-1]} latents (shape {tuple(codes.shape)}) "
            f"but the latents have {n_latents}"
        )
    return codes.reshape(-1, codes.shape[-1])


def fetch_decoder_weight(
    model_output: Mapping[str, Any], key: str, *, loss: str, n_latents: int, d_in: int
) -> torch.Tensor:
    """``W_dec`` of shape ``[n_latents, d_in]`` (one row per latent)."""
    weight = require_tensor(model_output, key, loss=loss, source="model_output", ndim=2, floating=True)
    if weight.shape != (n_latents, d_in):
        hint = ""
        if weight.shape == (d_in, n_latents):
            hint = (
                "; it looks transposed: pass one row per latent, e.g. decoder.weight.T for an "
                "nn.Linear(n_latents, d_in) decoder"
            )
        raise LossInputError(
            f"{loss}: model_output[{key!r}] must have shape [n_latents, d_in] = "
            f"({n_latents}, {d_in}) (one row per latent), got {tuple(weight.shape)}{hint}"
        )
    return weight


def fetch_decoder_bias(
    model_output: Mapping[str, Any], key: str | None, *, loss: str, d_in: int
) -> torch.Tensor | None:
    """``b_dec`` of shape ``[d_in]``, or ``None`` when absent (or ``key`` is ``None``)."""
    if key is None or model_output.get(key) is None:
        return None
    bias = require_tensor(model_output, key, loss=loss, source="model_output", ndim=1, floating=True)
    if bias.shape != (d_in,):
        raise LossInputError(
            f"{loss}: model_output[{key!r}] must have shape [d_in] = ({d_in},), got {tuple(bias.shape)}"
        )
    return bias


def fetch_dead_mask(targets: Mapping[str, Any], key: str, *, loss: str, n_latents: int) -> torch.Tensor:
    """The bool ``[n_latents]`` dead-latent mask (e.g. ``DeadLatentTracker.dead_mask``)."""
    mask = require_tensor(targets, key, loss=loss, source="targets", ndim=1)
    if mask.dtype != torch.bool:
        raise LossInputError(
            f"{loss}: targets[{key!r}] must be a bool tensor (True = dead latent), got {mask.dtype}"
        )
    if mask.shape != (n_latents,):
        raise LossInputError(
            f"{loss}: targets[{key!r}] must have shape [n_latents] = ({n_latents},), got {tuple(mask.shape)}"
        )
    return mask


def fetch_threshold(model_output: Mapping[str, Any], key: str, *, loss: str, n_latents: int) -> torch.Tensor:
    """The JumpReLU threshold: shape ``[n_latents]`` or a 0-dim shared threshold."""
    threshold = require_tensor(
        model_output, key, loss=loss, source="model_output", ndim=(0, 1), floating=True
    )
    if threshold.ndim == 1 and threshold.shape[0] != n_latents:
        raise LossInputError(
            f"{loss}: model_output[{key!r}] must have shape [n_latents] = ({n_latents},) or be 0-dim, "
            f"got {tuple(threshold.shape)}"
        )
    return threshold
