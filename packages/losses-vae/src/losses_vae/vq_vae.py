"""``vq_vae``: the VQ-VAE objective of van den Oord et al. 2017."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._vq_terms import VQ_INPUTS, vq_terms

__all__ = ["vq_vae", "vq_vae_example"]

NAME = "vq_vae"


def vq_vae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 6]`` reconstructions
    and targets, ``[B, 4, 3]`` encoder outputs, the vectors of a 5-code
    codebook they are assigned to and the indices, ``num_embeddings=5``."""
    num_embeddings, dim = 5, 3
    codebook = torch.randn(num_embeddings, dim)
    indices = torch.randint(0, num_embeddings, (batch_size, 4))
    model_output = {
        "predictions": torch.randn(batch_size, 6).to(dtype).requires_grad_(),
        "z_e": torch.randn(batch_size, 4, dim).to(dtype).requires_grad_(),
        "z_q": codebook[indices].to(dtype).requires_grad_(),
        "indices": indices,
    }
    return model_output, {"target": torch.randn(batch_size, 6).to(dtype)}, {"num_embeddings": num_embeddings}


@register_loss(aliases=("VQVAELoss",), inputs=VQ_INPUTS, example_inputs=vq_vae_example)
def vq_vae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    z_e: torch.Tensor,
    z_q: torch.Tensor,
    indices: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(ge=0)] = 0.25,
    reconstruction_weight: float = 1.0,
    num_embeddings: Annotated[int, Range(ge=1)] | None = None,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""VQ-VAE (van den Oord et al. 2017): reconstruction, codebook and commitment.

    .. math::
        \mathcal L = w_{rec}\,\overline{(\hat x - x)^2}
        + \overline{(\mathrm{sg}[z_e] - e)^2} + \beta\,\overline{(z_e - \mathrm{sg}[e])^2}

    ("Neural discrete representation learning".) :math:`z_e` is the encoder
    output ``model_output["z_e"]`` and :math:`e` the selected codebook vectors
    ``model_output["z_q"]`` (same shape; gathered from the codebook **with**
    gradient, i.e. before the straight-through estimator
    ``z_e + (e - z_e).detach()``, which the model applies for its decoder);
    the reconstruction is ``model_output["predictions"]`` against
    ``targets["target"]`` (map other keys with ``keys=``). sg is
    stop-gradient: the codebook term trains the codebook, the commitment term
    (``beta``, default 0.25) the encoder.

    Reduction: every bar is a mean over the non-batch elements of each sample
    (Sonnet's and pythae's quantiser convention); ``reduction="mean"`` (default)
    then averages over the batch (= ``F.mse_loss`` of each term), ``"sum"`` sums
    the per-sample means, ``"none"`` keeps the ``[B]`` per-sample losses (for
    direct calls).

    Codebook metrics: when ``model_output["indices"]`` (integer code indices,
    any shape) is present, ``num_embeddings`` (the codebook size K) must be set
    and the metrics include ``perplexity`` (:math:`\exp` of the entropy of the
    code histogram, 1..K) and ``codebook_usage`` (fraction of codes used);
    leave the indices out to skip them.

    :returns: ``loss``; metrics ``recon``, ``codebook``, ``commitment`` (batch
        means) and the codebook metrics.
    """
    terms = vq_terms(NAME, predictions, target, z_e, z_q, indices, num_embeddings=num_embeddings)
    out = reduce(reconstruction_weight * terms.recon + terms.codebook + beta * terms.commitment, reduction)
    return loss_result(
        out,
        metrics={
            "recon": terms.recon.mean(),
            "codebook": terms.codebook.mean(),
            "commitment": terms.commitment.mean(),
            **terms.metrics,
        },
    )
