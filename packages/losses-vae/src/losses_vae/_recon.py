"""Reconstruction negative log-likelihoods."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core import LossInputError
from losses_core.inputs import require_tensor
from losses_vae._gaussian import LOG_2PI, clamp_logvar
from losses_vae._inputs import reconstruction_pair
from losses_vae._params import check_choice, check_number

__all__ = [
    "LIKELIHOODS",
    "check_likelihood",
    "elementwise_nll",
    "learned_logvar",
    "reconstruction_nll",
    "sum_per_sample",
]

LIKELIHOODS = ("gaussian", "gaussian_learned", "bernoulli", "mse")


def check_likelihood(loss: str, likelihood: str, sigma: float) -> None:
    """Validate the ``likelihood`` and ``sigma`` parameters."""
    check_choice(loss, "likelihood", likelihood, LIKELIHOODS)
    check_number(loss, "sigma", sigma, strictly_positive=True)


def sum_per_sample(t: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: ``[B, ...] -> [B]``."""
    return t.reshape(t.shape[0], -1).sum(1)


def elementwise_nll(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    likelihood: str,
    sigma: float,
    recon_logvar: torch.Tensor | None,
) -> torch.Tensor:
    r"""Element-wise negative log-likelihood :math:`-\log p(x \mid \hat x)`.

    - ``gaussian``: :math:`\tfrac12[(x-\hat x)^2/\sigma^2 + \log\sigma^2 + \log 2\pi]`, fixed ``sigma``.
    - ``gaussian_learned``: the same with :math:`\log\sigma^2` = ``recon_logvar``
      (broadcast to the predictions, clamped to [-30, 20]).
    - ``bernoulli``: ``binary_cross_entropy_with_logits(pred, target)``; ``pred`` are logits.
    - ``mse``: :math:`(x-\hat x)^2` (no 1/2, no constant).
    """
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(pred, target, reduction="none")
    sq = (pred - target).square()
    if likelihood == "mse":
        return sq
    if likelihood == "gaussian":
        return 0.5 * (sq * (1.0 / (sigma * sigma)) + (2.0 * math.log(sigma) + LOG_2PI))
    if recon_logvar is None:  # pragma: no cover - guarded by learned_logvar
        raise ValueError("gaussian_learned needs recon_logvar")
    lv = clamp_logvar(recon_logvar)
    return 0.5 * (sq * torch.exp(-lv) + lv + LOG_2PI)


def learned_logvar(
    model_output: Mapping[str, Any],
    key: str,
    pred: torch.Tensor,
    *,
    loss: str,
    prediction_key: str,
) -> torch.Tensor:
    """``model_output[key]`` (the decoder's log-variance), checked to broadcast to
    the predictions' shape without enlarging it."""
    lv = require_tensor(model_output, key, loss=loss, source="model_output", floating=True)
    try:
        shape = torch.broadcast_shapes(lv.shape, pred.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        shape = None
    if shape != pred.shape:
        raise LossInputError(
            f"{loss}: model_output[{key!r}] has shape {tuple(lv.shape)}, which does not broadcast to "
            f"model_output[{prediction_key!r}]'s shape {tuple(pred.shape)}"
        )
    return lv


def reconstruction_nll(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    likelihood: str,
    sigma: float,
    prediction_key: str,
    target_key: str,
    recon_logvar_key: str,
) -> torch.Tensor:
    """Per-sample reconstruction NLL ``[B]``: :func:`elementwise_nll` summed over
    every non-batch dimension."""
    pred, target = reconstruction_pair(
        model_output, targets, loss=loss, prediction_key=prediction_key, target_key=target_key
    )
    lv = None
    if likelihood == "gaussian_learned":
        lv = learned_logvar(model_output, recon_logvar_key, pred, loss=loss, prediction_key=prediction_key)
    nll = elementwise_nll(pred, target, likelihood=likelihood, sigma=sigma, recon_logvar=lv)
    return sum_per_sample(nll)
