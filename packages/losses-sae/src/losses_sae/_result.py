"""Assembling what the SAE losses return, and the token reductions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae.metrics import reconstruction_metrics

__all__ = ["build_result", "reduce_tokens"]


def reduce_tokens(per_token: torch.Tensor, reduction: str, lead_shape: torch.Size) -> torch.Tensor:
    """Mean or sum over tokens, or (``"none"``) the per-token values in the
    activations' leading shape."""
    if reduction == "mean":
        return per_token.mean()
    if reduction == "sum":
        return per_token.sum()
    return per_token.reshape(lead_shape)


def build_result(
    loss: torch.Tensor,
    components: Mapping[str, torch.Tensor],
    *,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    latents: torch.Tensor | None,
    squared_error: torch.Tensor | None = None,
    dead_mask: torch.Tensor | None = None,
    extra_metrics: Mapping[str, torch.Tensor] | None = None,
    auxiliary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"loss", "metrics", "auxiliary"}``: the components (detached) and the
    reconstruction metrics of :mod:`losses_sae.metrics` as metrics."""
    metrics: dict[str, torch.Tensor] = {name: value.detach() for name, value in components.items()}
    metrics.update(reconstruction_metrics(x, x_hat, latents, squared_error=squared_error))
    if dead_mask is not None:
        metrics["dead_fraction"] = dead_mask.detach().to(metrics["fvu"].dtype).mean()
    if extra_metrics:
        metrics.update({name: value.detach() for name, value in extra_metrics.items()})
    return {"loss": loss, "metrics": metrics, "auxiliary": dict(auxiliary or {})}
