"""Fetch and check the tensors the VAE losses read from ``model_output`` and
``targets``. Every check looks at static metadata only (shape, ndim, dtype)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossInputError
from losses_core.inputs import check_same_shape, require_tensor
from losses_vae._gaussian import clamp_logvar

__all__ = ["check_batch", "posterior", "reconstruction_pair", "same_shape_as"]


def _check_min_ndim(loss: str, source: str, key: str, value: torch.Tensor, minimum: int, what: str) -> None:
    if value.ndim < minimum:
        raise LossInputError(
            f"{loss}: {source}[{key!r}] must be {what} (at least {minimum} dimensions), "
            f"got shape {tuple(value.shape)}"
        )


def posterior(
    model_output: Mapping[str, Any], *, loss: str, mu_key: str, logvar_key: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu, logvar)`` of the diagonal-Gaussian posterior, flattened to ``[B, Z]``
    (every non-batch dimension is a latent dimension); ``logvar`` is clamped to
    ``[-30, 20]``.

    :raises MissingInputError: ``mu`` or ``logvar`` is missing.
    :raises LossInputError: not floating, fewer than 2 dimensions, or shapes differ.
    """
    mu = require_tensor(model_output, mu_key, loss=loss, source="model_output", floating=True)
    logvar = require_tensor(model_output, logvar_key, loss=loss, source="model_output", floating=True)
    _check_min_ndim(loss, "model_output", mu_key, mu, 2, "[batch, latent, ...]")
    check_same_shape(
        mu, logvar, loss=loss, names=(f"model_output[{mu_key!r}]", f"model_output[{logvar_key!r}]")
    )
    return mu.flatten(1), clamp_logvar(logvar.flatten(1))


def same_shape_as(
    model_output: Mapping[str, Any],
    key: str,
    reference: torch.Tensor,
    reference_name: str,
    *,
    loss: str,
) -> torch.Tensor:
    """``model_output[key]``, required to be floating and of ``reference``'s shape."""
    value = require_tensor(model_output, key, loss=loss, source="model_output", floating=True)
    check_same_shape(value, reference, loss=loss, names=(f"model_output[{key!r}]", reference_name))
    return value


def reconstruction_pair(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    prediction_key: str,
    target_key: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predictions, target)``: floating predictions with a batch dimension and
    a target of the same shape, cast to the predictions' dtype."""
    pred = require_tensor(model_output, prediction_key, loss=loss, source="model_output", floating=True)
    target = require_tensor(targets, target_key, loss=loss, source="targets")
    _check_min_ndim(loss, "model_output", prediction_key, pred, 1, "[batch, ...]")
    check_same_shape(
        pred, target, loss=loss, names=(f"model_output[{prediction_key!r}]", f"targets[{target_key!r}]")
    )
    return pred, target.to(pred.dtype)


def check_batch(loss: str, a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise :class:`LossInputError` unless ``a`` and ``b`` have the same batch size."""
    if a.shape[0] != b.shape[0]:
        raise LossInputError(
            f"{loss}: {a_name} has batch size {a.shape[0]} but {b_name} has batch size "
            f"{b.shape[0]}; they must match"
        )
