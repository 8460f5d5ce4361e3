"""``iwae``: the importance-weighted bound of Burda et al. 2016."""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch

from losses_core import Input, LossInputError, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_vae._elbo_terms import RECON_LOGVAR_INPUT
from losses_vae._gaussian import clamp_logvar, log_normal, log_standard_normal
from losses_vae._likelihood import Likelihood, reconstruction_nll

__all__ = ["iwae", "iwae_example"]

NAME = "iwae"


def iwae_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: 3 posterior samples ``[B, 3, 3]``
    of ``[B, 3]`` posterior parameters, and their ``[B, 3, 6]`` decodings of ``[B, 6]`` targets."""
    samples, latent = 3, 3
    mu = torch.randn(batch_size, latent)
    logvar = 0.5 * torch.randn(batch_size, latent)
    z = mu.unsqueeze(1) + torch.randn(batch_size, samples, latent) * torch.exp(0.5 * logvar).unsqueeze(1)
    model_output = {
        "predictions": torch.randn(batch_size, samples, 6).to(dtype).requires_grad_(),
        "mu": mu.to(dtype).requires_grad_(),
        "logvar": logvar.to(dtype).requires_grad_(),
        "z": z.to(dtype).requires_grad_(),
    }
    return model_output, {"target": torch.randn(batch_size, 6).to(dtype)}, {}


@register_loss(
    aliases=("IWAELoss",),
    inputs=[
        Input("predictions", "model_output", shape="B K ...", dtype="float", doc="one decoding per sample"),
        Input("target", "targets", shape="B ...", doc="what is reconstructed"),
        Input("mu", "model_output", shape="B _ ...", dtype="float", doc="posterior means"),
        Input("logvar", "model_output", like="mu", dtype="float", doc="posterior log-variances"),
        Input("z", "model_output", shape="B K _ ...", dtype="float", doc="K posterior samples per input"),
        RECON_LOGVAR_INPUT,
    ],
    example_inputs=iwae_example,
)
def iwae(
    predictions: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    z: torch.Tensor,
    recon_logvar: torch.Tensor | None = None,
    *,
    likelihood: Likelihood = "gaussian",
    sigma: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""Negative importance-weighted bound (Burda et al. 2016) from K samples per input.

    .. math::
        \ell_b = -\Big(\mathrm{LSE}_{k=1}^{K} \log w_{bk} - \log K\Big),\qquad
        \log w_{bk} = \log p(x_b\mid z_{bk}) + \log p(z_{bk}) - \log q(z_{bk}\mid x_b)

    ("Importance weighted autoencoders".) Inputs: ``model_output["z"]``
    ``[B, K, Z...]`` (the samples), ``model_output["predictions"]``
    ``[B, K, ...]`` (the decoder output for each sample),
    ``model_output["mu"]``/``["logvar"]`` ``[B, Z...]`` and
    ``targets["target"]`` ``[B, ...]`` (map other keys with ``keys=``).
    :math:`\log p(x\mid z)` uses ``likelihood`` as in ``elbo`` (summed over data
    dimensions; Gaussian constants included), :math:`p(z) = \mathcal N(0, I)`,
    ``logvar`` clamped to [-30, 20]. The value **is** the bound (computed with
    ``logsumexp``); its gradient equals the usual
    :math:`-\sum_k \tilde w_k \nabla\log w_k` surrogate's (pythae returns that
    surrogate, whose value is not the bound). With :math:`K=1` this is the
    single-sample ELBO estimate.

    ``reduction``: batch ``"mean"`` (default), ``"sum"``, or ``"none"`` (the
    ``[B]`` per-sample losses, for direct calls).

    :returns: ``loss``; metrics ``bound`` (the IWAE bound, batch mean),
        ``recon`` (:math:`-\overline{\log p(x\mid z)}`), ``kl_mc``
        (:math:`\overline{\log q - \log p}`, the Monte-Carlo KL) and ``ess`` (the
        effective sample size :math:`1/\sum_k \tilde w_k^2`, batch mean);
        auxiliary ``log_weights`` ``[B, K]``.
    """
    batch, num_samples = z.shape[:2]
    if z.shape[2:] != mu.shape[1:]:
        raise LossInputError(
            f"{NAME}: input 'z' must be [B, K, ...] with K samples of the latent (input 'mu' has shape "
            f"{tuple(mu.shape)}); got shape {tuple(z.shape)}"
        )
    if predictions.shape[2:] != target.shape[1:]:
        raise LossInputError(
            f"{NAME}: input 'predictions' must be [B, K, ...] with one decoding of each sample, shaped "
            f"like input 'target' without its batch dimension; got {tuple(predictions.shape)} for a "
            f"target of shape {tuple(target.shape)}"
        )
    log_px_z = -reconstruction_nll(  # [B, K]
        NAME,
        predictions,
        target.unsqueeze(1).expand(predictions.shape),
        recon_logvar,
        likelihood=likelihood,
        sigma=sigma,
        per_sample_dims=2,
    )
    zf = z.reshape(batch, num_samples, -1)
    mu_f = mu.reshape(batch, 1, -1)
    logvar_f = clamp_logvar(logvar.reshape(batch, 1, -1))
    log_pz = log_standard_normal(zf).sum(-1)
    log_qz_x = log_normal(zf, mu_f, logvar_f).sum(-1)
    log_w = log_px_z + log_pz - log_qz_x
    bound = torch.logsumexp(log_w, dim=1) - math.log(num_samples)
    out = reduce(-bound, reduction)
    w_tilde = torch.softmax(log_w.detach(), dim=1)
    return loss_result(
        out,
        metrics={
            "bound": bound.mean(),
            "recon": (-log_px_z).mean(),
            "kl_mc": (log_qz_x - log_pz).mean(),
            "ess": (1.0 / w_tilde.square().sum(1)).mean(),
        },
        auxiliary={"log_weights": log_w.detach()},
    )
