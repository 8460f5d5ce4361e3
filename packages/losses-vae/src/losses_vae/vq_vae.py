"""``vq_vae``: the VQ-VAE objective of van den Oord et al. 2017."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_vae._common import reduce_per_sample
from losses_vae._params import check_number, check_reduction
from losses_vae._vq import vq_terms

__all__ = ["vq_vae"]

NAME = "vq_vae"


def vq_vae(
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
    r"""VQ-VAE (van den Oord et al. 2017, "Neural discrete representation
    learning"), registered as ``vq_vae``:

    .. math::
        \mathcal L = w_{rec}\,\overline{(\hat x - x)^2}
        + \overline{(\mathrm{sg}[z_e] - e)^2} + \beta\,\overline{(z_e - \mathrm{sg}[e])^2}

    where :math:`z_e` is the encoder output ``model_output[z_e_key]`` and
    :math:`e` the selected codebook vectors ``model_output[z_q_key]`` (same
    shape; gathered from the codebook **with** gradient, i.e. before the
    straight-through estimator ``z_e + (e - z_e).detach()``, which the model
    applies for its decoder). sg is stop-gradient: the codebook term trains
    the codebook, the commitment term (``beta``, default 0.25) the encoder.

    Reduction: every bar is a mean over the non-batch elements of each sample
    (Sonnet's and pythae's quantiser convention); ``reduction="mean"`` (default)
    then averages over the batch (= ``F.mse_loss`` of each term), ``"sum"`` sums
    the per-sample means, ``"none"`` returns the bare ``[B]`` tensor.

    Codebook metrics: when ``model_output[indices_key]`` (integer code indices,
    any shape) is present, ``num_embeddings`` (the codebook size K) must be set
    and the metrics include ``perplexity`` (:math:`\exp` of the entropy of the
    code histogram, 1..K) and ``codebook_usage`` (fraction of codes used).

    :returns: ``loss``; metrics ``recon``, ``codebook``, ``commitment`` (batch
        means) and the codebook metrics.
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
    out = reduce_per_sample(
        reconstruction_weight * terms.recon + terms.codebook + beta * terms.commitment, reduction
    )
    if reduction == "none":
        return out
    return {
        "loss": out,
        "metrics": {
            "recon": terms.recon.mean().detach(),
            "codebook": terms.codebook.mean().detach(),
            "commitment": terms.commitment.mean().detach(),
            **terms.metrics,
        },
        "auxiliary": {},
    }
