"""Terms shared by ``vq_vae`` and ``vq_vae_ema``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from losses_core import LossInputError, LossParameterError
from losses_core.inputs import optional_tensor, require_tensor
from losses_vae._inputs import check_batch, reconstruction_pair, same_shape_as
from losses_vae._params import check_int
from losses_vae.codebook import code_counts, perplexity

__all__ = ["VQTerms", "vq_terms"]


def _mean_per_sample(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).mean(1)


@dataclass(frozen=True)
class VQTerms:
    """Per-sample ``[B]`` means of the squared errors, and codebook metrics."""

    recon: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor
    metrics: dict[str, torch.Tensor]


def vq_terms(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    num_embeddings: int | None,
    prediction_key: str,
    target_key: str,
    z_e_key: str,
    z_q_key: str,
    indices_key: str | None,
) -> VQTerms:
    """Reconstruction, codebook and commitment errors, and perplexity/usage
    when ``model_output[indices_key]`` is present."""
    pred, target = reconstruction_pair(
        model_output, targets, loss=loss, prediction_key=prediction_key, target_key=target_key
    )
    z_e = require_tensor(model_output, z_e_key, loss=loss, source="model_output", floating=True)
    if z_e.ndim < 2:
        raise LossInputError(
            f"{loss}: model_output[{z_e_key!r}] must be [batch, ...] with at least 2 dimensions, "
            f"got shape {tuple(z_e.shape)}"
        )
    z_q = same_shape_as(model_output, z_q_key, z_e, f"model_output[{z_e_key!r}]", loss=loss)
    check_batch(loss, pred, f"model_output[{prediction_key!r}]", z_e, f"model_output[{z_e_key!r}]")
    recon = _mean_per_sample((pred - target).square())
    codebook = _mean_per_sample((z_q - z_e.detach()).square())
    commitment = _mean_per_sample((z_e - z_q.detach()).square())
    metrics: dict[str, torch.Tensor] = {}
    indices = optional_tensor(model_output, indices_key, loss=loss, source="model_output", floating=False)
    if indices is not None:
        if num_embeddings is None:
            raise LossParameterError(
                f"loss {loss!r}: model_output[{indices_key!r}] is present but num_embeddings is not "
                f"set; pass num_embeddings=<codebook size> for the perplexity metric (or indices_key=None)"
            )
        check_int(loss, "num_embeddings", num_embeddings, minimum=1)
        counts = code_counts(indices, num_embeddings, dtype=z_e.dtype)
        metrics["perplexity"] = perplexity(counts).detach()
        metrics["codebook_usage"] = (counts > 0).to(z_e.dtype).mean().detach()
    return VQTerms(recon=recon, codebook=codebook, commitment=commitment, metrics=metrics)
