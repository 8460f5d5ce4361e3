"""Inputs and terms shared by ``vq_vae`` and ``vq_vae_ema``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from losses_core import Input, LossParameterError
from losses_vae.codebook import code_counts, perplexity

__all__ = ["VQ_INPUTS", "VQTerms", "vq_terms"]

VQ_INPUTS = (
    Input("predictions", "model_output", shape="B ...", dtype="float", doc="the reconstruction"),
    Input("target", "targets", like="predictions", doc="what is reconstructed"),
    Input("z_e", "model_output", shape="B _ ...", dtype="float", doc="the encoder output"),
    Input(
        "z_q",
        "model_output",
        like="z_e",
        dtype="float",
        doc="the selected codebook vectors, gathered with gradient (before the straight-through estimator)",
    ),
    Input("indices", "model_output", dtype="int", optional=True, doc="the code indices, any shape"),
)
"""The inputs of ``vq_vae`` and ``vq_vae_ema``."""


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
    loss: str,
    predictions: torch.Tensor,
    target: torch.Tensor,
    z_e: torch.Tensor,
    z_q: torch.Tensor,
    indices: torch.Tensor | None,
    *,
    num_embeddings: int | None,
) -> VQTerms:
    """Reconstruction, codebook and commitment errors (per-sample means), and
    the ``perplexity``/``codebook_usage`` metrics when ``indices`` are given.

    :raises LossParameterError: ``indices`` are given but ``num_embeddings`` is not.
    """
    recon = _mean_per_sample((predictions - target.to(predictions.dtype)).square())
    codebook = _mean_per_sample((z_q - z_e.detach()).square())
    commitment = _mean_per_sample((z_e - z_q.detach()).square())
    metrics: dict[str, torch.Tensor] = {}
    if indices is not None:
        if num_embeddings is None:
            raise LossParameterError(
                f"loss {loss!r}: parameter 'num_embeddings' is needed because input 'indices' is present "
                f"(for the perplexity and codebook-usage metrics); pass num_embeddings=<codebook size>"
            )
        counts = code_counts(indices, num_embeddings, dtype=z_e.dtype)
        metrics["perplexity"] = perplexity(counts)
        metrics["codebook_usage"] = (counts > 0).to(z_e.dtype).mean()
    return VQTerms(recon=recon, codebook=codebook, commitment=commitment, metrics=metrics)
