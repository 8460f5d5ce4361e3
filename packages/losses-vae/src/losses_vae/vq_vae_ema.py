"""``vq_vae_ema``: VQ-VAE with an exponential-moving-average codebook."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._vq_terms import VQ_INPUTS, vq_terms
from losses_vae.vq_vae import vq_vae_example

__all__ = ["vq_vae_ema", "vq_vae_ema_example"]

NAME = "vq_vae_ema"


def vq_vae_ema_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``vq_vae``."""
    return vq_vae_example(batch_size, dtype)


@register_loss(aliases=("VQVAEEMALoss",), inputs=VQ_INPUTS, example_inputs=vq_vae_ema_example)
def vq_vae_ema(
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
    r"""VQ-VAE with an EMA codebook (van den Oord et al. 2017): no codebook term.

    .. math::
        \mathcal L = w_{rec}\,\overline{(\hat x - x)^2} + \beta\,\overline{(z_e - \mathrm{sg}[e])^2}

    The codebook is not trained by gradient, so there is no codebook term;
    update it between steps with :func:`losses_vae.codebook.ema_codebook_update`
    (decay 0.99, Laplace smoothing 1e-5; a pure function, the model keeps the
    buffers). Inputs, ``beta=0.25``, reductions (per-sample means, then batch
    ``"mean"``/``"sum"``/``"none"``) and the ``perplexity``/``codebook_usage``
    metrics as in ``vq_vae``; the codebook term is reported as the metric
    ``codebook`` (the quantisation error) without entering the loss.

    Cluster counts: the ``cluster_size`` buffer that
    :func:`~losses_vae.codebook.ema_codebook_update` returns and takes back
    holds the **raw** exponential moving averages of the code counts,
    :math:`N_k \leftarrow \gamma N_k + (1-\gamma) n_k`. The Laplace-smoothed
    counts :math:`\tilde N_k = \frac{N_k + \epsilon}{\sum_l N_l + K\epsilon}\sum_l N_l`
    are used only to divide the summed embeddings (:math:`e_k = m_k/\tilde N_k`)
    and are never stored. This is Sonnet's ``VectorQuantizerEMA`` and the
    paper's recursion; pythae's ``QuantizerEMA`` instead writes the smoothed
    counts back into its buffer, so from its second update on its counts (and
    codebook) drift from the paper's by the smoothing of the previous step.
    The codebook vectors after one update from the same state are the same.

    :returns: ``loss``; metrics ``recon``, ``commitment``, ``codebook`` and the
        codebook metrics.
    """
    terms = vq_terms(NAME, predictions, target, z_e, z_q, indices, num_embeddings=num_embeddings)
    out = reduce(reconstruction_weight * terms.recon + beta * terms.commitment, reduction)
    return loss_result(
        out,
        metrics={
            "recon": terms.recon.mean(),
            "commitment": terms.commitment.mean(),
            "codebook": terms.codebook.mean(),
            **terms.metrics,
        },
    )
