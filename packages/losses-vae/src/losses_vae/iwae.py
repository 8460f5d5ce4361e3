"""``iwae``: the importance-weighted bound of Burda et al. 2016."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossInputError
from losses_core.inputs import require_tensor
from losses_vae._common import reduce_per_sample
from losses_vae._gaussian import log_normal, log_standard_normal
from losses_vae._inputs import posterior
from losses_vae._params import check_reduction
from losses_vae._recon import check_likelihood, elementwise_nll, learned_logvar

__all__ = ["iwae"]

NAME = "iwae"


def _sum_from(t: torch.Tensor, dim: int) -> torch.Tensor:
    return t.reshape(*t.shape[:dim], -1).sum(-1)


def iwae(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    likelihood: str = "gaussian",
    sigma: float = 1.0,
    reduction: str = "mean",
    prediction_key: str = "predictions",
    target_key: str = "target",
    mu_key: str = "mu",
    logvar_key: str = "logvar",
    z_key: str = "z",
    recon_logvar_key: str = "recon_logvar",
) -> dict[str, Any] | torch.Tensor:
    r"""Negative importance-weighted bound (Burda et al. 2016, "Importance
    weighted autoencoders"), registered as ``iwae``:

    .. math::
        \ell_b = -\Big(\mathrm{LSE}_{k=1}^{K} \log w_{bk} - \log K\Big),\qquad
        \log w_{bk} = \log p(x_b\mid z_{bk}) + \log p(z_{bk}) - \log q(z_{bk}\mid x_b)

    with :math:`K` posterior samples per input. Inputs:
    ``model_output[z_key]`` ``[B, K, Z...]`` (the samples),
    ``model_output[prediction_key]`` ``[B, K, ...]`` (the decoder output for each
    sample), ``model_output[mu_key]``/``[logvar_key]`` ``[B, Z...]`` and
    ``targets[target_key]`` ``[B, ...]``. :math:`\log p(x\mid z)` uses
    ``likelihood`` as in ``elbo`` (summed over data dimensions; Gaussian
    constants included), :math:`p(z) = \mathcal N(0, I)`, ``logvar`` clamped to
    [-30, 20]. The value **is** the bound (computed with ``logsumexp``); its
    gradient equals the usual :math:`-\sum_k \tilde w_k \nabla\log w_k`
    surrogate's (pythae returns that surrogate, whose value is not the
    bound). With :math:`K=1` this is the single-sample ELBO estimate.

    ``reduction``: batch ``"mean"`` (default), ``"sum"``, or ``"none"`` (the
    bare ``[B]`` tensor).

    :returns: ``loss``; metrics ``bound`` (the IWAE bound, batch mean),
        ``recon`` (:math:`-\overline{\log p(x\mid z)}`), ``kl_mc``
        (:math:`\overline{\log q - \log p}`, the Monte-Carlo KL) and ``ess`` (the
        effective sample size :math:`1/\sum_k \tilde w_k^2`, batch mean);
        auxiliary ``log_weights`` ``[B, K]``.
    """
    check_reduction(NAME, reduction)
    check_likelihood(NAME, likelihood, sigma)
    mu, logvar = posterior(model_output, loss=NAME, mu_key=mu_key, logvar_key=logvar_key)
    batch = mu.shape[0]
    z = require_tensor(model_output, z_key, loss=NAME, source="model_output", floating=True)
    mu_shape = tuple(model_output[mu_key].shape)
    if z.ndim != len(mu_shape) + 1 or z.shape[0] != batch or tuple(z.shape[2:]) != mu_shape[1:]:
        raise LossInputError(
            f"{NAME}: model_output[{z_key!r}] must be [B, K, ...] with K samples of the latent "
            f"(model_output[{mu_key!r}] has shape {mu_shape}); got shape {tuple(z.shape)}"
        )
    num_samples = z.shape[1]
    pred = require_tensor(model_output, prediction_key, loss=NAME, source="model_output", floating=True)
    target = require_tensor(targets, target_key, loss=NAME, source="targets")
    if (
        pred.ndim < 2
        or pred.shape[:2] != z.shape[:2]
        or pred.shape[2:] != target.shape[1:]
        or (target.shape[0] != batch)
    ):
        raise LossInputError(
            f"{NAME}: model_output[{prediction_key!r}] must be [B, K, ...] (one decoding per sample, "
            f"B={batch}, K={num_samples}) and targets[{target_key!r}] [B, ...]; got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    lv = None
    if likelihood == "gaussian_learned":
        lv = learned_logvar(model_output, recon_logvar_key, pred, loss=NAME, prediction_key=prediction_key)
    nll = elementwise_nll(
        pred,
        target.to(pred.dtype).unsqueeze(1).expand_as(pred),
        likelihood=likelihood,
        sigma=sigma,
        recon_logvar=lv,
    )
    log_px_z = -_sum_from(nll, 2)  # [B, K]
    zf = z.reshape(batch, num_samples, -1)
    log_pz = log_standard_normal(zf).sum(-1)
    log_qz_x = log_normal(zf, mu.unsqueeze(1), logvar.unsqueeze(1)).sum(-1)
    log_w = log_px_z + log_pz - log_qz_x
    bound = torch.logsumexp(log_w, dim=1) - math.log(num_samples)
    out = reduce_per_sample(-bound, reduction)
    if reduction == "none":
        return out
    w_tilde = torch.softmax(log_w.detach(), dim=1)
    return {
        "loss": out,
        "metrics": {
            "bound": bound.mean().detach(),
            "recon": (-log_px_z).mean().detach(),
            "kl_mc": (log_qz_x - log_pz).mean().detach(),
            "ess": (1.0 / w_tilde.square().sum(1)).mean().detach(),
        },
        "auxiliary": {"log_weights": log_w.detach()},
    }
