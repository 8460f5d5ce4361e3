"""Reconstruction negative log-likelihoods of the decoder :math:`p(x \\mid \\hat x)`."""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import torch
import torch.nn.functional as F

from losses_core import LossInputError, MissingInputError
from losses_vae._gaussian import LOG_2PI, clamp_logvar

__all__ = ["Likelihood", "elementwise_nll", "reconstruction_nll"]

Likelihood: TypeAlias = Literal["gaussian", "gaussian_learned", "bernoulli", "mse"]
"""The ``likelihood`` parameter of the ELBO-family losses."""


def elementwise_nll(
    predictions: torch.Tensor,
    target: torch.Tensor,
    *,
    likelihood: Likelihood,
    sigma: float,
    recon_logvar: torch.Tensor | None,
) -> torch.Tensor:
    r"""Element-wise negative log-likelihood :math:`-\log p(x \mid \hat x)`.

    - ``gaussian``: :math:`\tfrac12[(x-\hat x)^2/\sigma^2 + \log\sigma^2 + \log 2\pi]`, fixed ``sigma``.
    - ``gaussian_learned``: the same with :math:`\log\sigma^2` = ``recon_logvar``
      (broadcast to the predictions, clamped to [-30, 20]).
    - ``bernoulli``: ``binary_cross_entropy_with_logits(predictions, target)``; the
      predictions are logits.
    - ``mse``: :math:`(x-\hat x)^2` (no 1/2, no constant).
    """
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(predictions, target, reduction="none")
    sq = (predictions - target).square()
    if likelihood == "mse":
        return sq
    if likelihood == "gaussian":
        return 0.5 * (sq * (1.0 / (sigma * sigma)) + (2.0 * math.log(sigma) + LOG_2PI))
    if recon_logvar is None:  # pragma: no cover - reconstruction_nll requires it
        raise ValueError("likelihood 'gaussian_learned' needs recon_logvar")
    lv = clamp_logvar(recon_logvar)
    return 0.5 * (sq * torch.exp(-lv) + lv + LOG_2PI)


def _learned_logvar(loss: str, recon_logvar: torch.Tensor | None, predictions: torch.Tensor) -> torch.Tensor:
    """The decoder's log-variance, required for ``likelihood="gaussian_learned"``
    and checked to broadcast to the predictions' shape without enlarging it."""
    if recon_logvar is None:
        raise MissingInputError(
            f"{loss}: input 'recon_logvar' (model_output['recon_logvar'] unless mapped with "
            f"keys={{'recon_logvar': ...}}) is required for likelihood='gaussian_learned' but is missing"
        )
    try:
        shape = torch.broadcast_shapes(recon_logvar.shape, predictions.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        shape = None
    if shape != predictions.shape:
        raise LossInputError(
            f"{loss}: input 'recon_logvar' has shape {tuple(recon_logvar.shape)}, which does not "
            f"broadcast to the shape of input 'predictions', {tuple(predictions.shape)}"
        )
    return recon_logvar


def reconstruction_nll(
    loss: str,
    predictions: torch.Tensor,
    target: torch.Tensor,
    recon_logvar: torch.Tensor | None,
    *,
    likelihood: Likelihood,
    sigma: float,
    per_sample_dims: int = 1,
) -> torch.Tensor:
    """:func:`elementwise_nll` summed over every dimension after the first
    ``per_sample_dims`` (``[B, ...] -> [B]``, or ``[B, K, ...] -> [B, K]`` with 2).

    ``target`` is cast to the predictions' dtype; ``recon_logvar`` is read
    only for ``likelihood="gaussian_learned"`` (and then required).
    """
    lv = _learned_logvar(loss, recon_logvar, predictions) if likelihood == "gaussian_learned" else None
    nll = elementwise_nll(
        predictions, target.to(predictions.dtype), likelihood=likelihood, sigma=sigma, recon_logvar=lv
    )
    return nll.reshape(*nll.shape[:per_sample_dims], -1).sum(-1)
