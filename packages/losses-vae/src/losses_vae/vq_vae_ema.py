"""``vq_vae_ema``: VQ-VAE with an exponential-moving-average codebook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._common import reduce_per_sample
from losses_vae._params import check_number, check_reduction
from losses_vae._vq import vq_terms

__all__ = ["vq_vae_ema"]

NAME = "vq_vae_ema"


def vq_vae_ema(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    beta: float = 0.25,
    reconstruction_weight: float = 1.0,
    num_embeddings: int | None = None,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    z_e_key: str = "z_e",
    z_q_key: str = "z_q",
    indices_key: str | None = "indices",
) -> dict[str, Any] | torch.Tensor:
    r"""VQ-VAE with an EMA codebook (van den Oord et al. 2017, App. A.1),
    registered as ``vq_vae_ema``:

    .. math::
        \mathcal L = w_{rec}\,\overline{(\hat x - x)^2} + \beta\,\overline{(z_e - \mathrm{sg}[e])^2}

    The codebook is not trained by gradient, so there is no codebook term: update
    it between steps with :func:`losses_vae.codebook.ema_codebook_update`
    (decay 0.99, Laplace smoothing 1e-5; a pure function, the model keeps the
    buffers). Inputs, ``beta=0.25``, reductions (per-sample means, then batch
    ``"mean"``/``"sum"``/``"none"``) and the ``perplexity``/``codebook_usage``
    metrics as in ``vq_vae``; the codebook term is reported as the metric
    ``codebook`` (the quantisation error) without entering the loss.

    :returns: ``loss``; metrics ``recon``, ``commitment``, ``codebook`` and the
        codebook metrics.
    """
    check_reduction(NAME, reduction)
    beta = check_number(NAME, "beta", beta, minimum=0.0)
    reconstruction_weight = check_number(NAME, "reconstruction_weight", reconstruction_weight)
    terms = vq_terms(
        model_output,
        targets,
        loss=NAME,
        num_embeddings=num_embeddings,
        prediction_key=prediction_key,
        target_key=target_key,
        z_e_key=z_e_key,
        z_q_key=z_q_key,
        indices_key=indices_key,
    )
    out = reduce_per_sample(reconstruction_weight * terms.recon + beta * terms.commitment, reduction)
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "commitment": terms.commitment.mean().detach(),
            "codebook": terms.codebook.mean().detach(),
            **terms.metrics,
        },
        "auxiliary": {},
    }
