"""``VAELoss``: reconstruction MSE (mean over all elements) plus beta * KL (batch mean)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from losses_core import Input, LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_vae._gaussian import clamp_logvar
from losses_vae.elbo import elbo_example
from losses_vae.schedules import check_schedule, scheduled_value

__all__ = ["vae_loss", "vae_loss_example"]

NAME = "VAELoss"


def vae_loss_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: those of ``elbo``, with the
    target under ``targets["predictions"]``."""
    model_output, targets, _ = elbo_example(batch_size, dtype)
    return model_output, {"predictions": targets["target"]}, {}


@register_loss(
    NAME,
    aliases=("vae_loss",),
    inputs=[
        Input("predictions", "model_output", shape="B ...", dtype="float", doc="the reconstruction"),
        Input(
            "target",
            "targets",
            key="predictions",
            like="predictions",
            doc="what is reconstructed, read from targets['predictions']",
        ),
        Input(
            "mu",
            "model_output",
            shape="B ...",
            dtype="float",
            doc="posterior means; every non-batch dim is latent",
        ),
        Input("logvar", "model_output", like="mu", dtype="float", doc="posterior log-variances"),
    ],
    example_inputs=vae_loss_example,
    validators={"beta_schedule": check_schedule},
)
def vae_loss(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float = 1.0,
    reconstruction_weight: float = 1.0,
    beta_schedule: Mapping[str, Any] | None = None,
    step: torch.Tensor | Annotated[float, Range(ge=0)] | None = None,
) -> LossReturn:
    r"""The VAE loss: mean squared reconstruction error plus beta times the Gaussian KL.

    .. math::
        \mathcal L = w_{rec}\,\frac{1}{N}\sum_{n}(\hat x_n - x_n)^2
        - \beta\,\frac{1}{B}\,\frac12\sum_{b,j}\left(1 + v_{bj} - \mu_{bj}^2 - e^{v_{bj}}\right)

    computed exactly as this reference implementation (the contract of the
    name ``VAELoss``)::

        recon_loss = F.mse_loss(model_output['predictions'], targets['predictions'])
        kl_loss = -0.5 * torch.sum(1 + model_output['logvar'] - model_output['mu'].pow(2)
                                   - model_output['logvar'].exp())
        kl_loss = kl_loss / model_output['mu'].size(0)
        return reconstruction_weight * recon_loss + beta * kl_loss

    with the same operations in the same order, so values and gradients are
    identical for ``logvar`` in [-30, 20]. Outside that range ``logvar`` is
    clamped to [-30, 20] before ``exp`` (so extreme but finite encoder outputs
    give no inf or NaN; the clamp has zero gradient outside the range).

    The reconstruction term is a mean over **all** elements (``F.mse_loss``),
    the KL a sum over all latent dimensions averaged over the batch (Kingma &
    Welling 2014): the two use different normalisations, as in the reference;
    for a per-sample ELBO use ``elbo``. There is no ``reduction`` parameter.

    Inputs: ``model_output["predictions"]`` (the reconstruction, ``[B, ...]``),
    ``targets["predictions"]`` (the data it reconstructs, same shape), and
    ``model_output["mu"]``/``["logvar"]`` (``[B, ...]``; every non-batch
    dimension is a latent dimension). Map other keys with ``keys=``, for
    example ``keys={"target": "target"}`` to read ``targets["target"]``.

    :param beta: KL weight, default 1.0; multiplied by ``beta_schedule`` at
        ``step`` when a schedule is given (see :mod:`losses_vae.schedules`).
    :param reconstruction_weight: weight of the MSE term, default 1.0.
    :returns: ``loss`` (0-dim); metrics ``recon`` (the MSE), ``kl`` (batch-mean
        KL) and ``beta`` (the coefficient used); auxiliary ``kl_per_dim``
        (batch mean of each latent dimension's KL, flattened).
    """
    beta = scheduled_value(beta, beta_schedule, step, loss=NAME, name="beta")
    logvar = clamp_logvar(logvar)
    recon_loss = F.mse_loss(predictions, target.to(predictions.dtype))
    kl_terms = 1 + logvar - mu.pow(2) - logvar.exp()
    kl_loss = -0.5 * torch.sum(kl_terms)
    kl_loss = kl_loss / mu.size(0)
    loss = reconstruction_weight * recon_loss + beta * kl_loss
    return loss_result(
        loss,
        metrics={
            "recon": recon_loss,
            "kl": kl_loss,
            "beta": torch.as_tensor(beta, dtype=loss.dtype, device=loss.device),
        },
        auxiliary={"kl_per_dim": (-0.5 * kl_terms.detach()).flatten(1).mean(0)},
    )
