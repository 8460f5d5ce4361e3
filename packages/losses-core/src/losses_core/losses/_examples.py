"""Example-input factories of the built-in losses (for the conformance checker)."""

from __future__ import annotations

from typing import Any

import torch

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def mse_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    pred = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    return {"predictions": pred}, {"target": torch.randn(batch_size, 3, dtype=dtype)}, {}


def token_ce_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    logits = torch.randn(batch_size, 5, 7, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 7, (batch_size, 5))
    return {"logits": logits}, {"labels": labels}, {}


def focal_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    logits = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    labels = (torch.rand(batch_size, 3) > 0.5).to(dtype)
    return {"logits": logits}, {"labels": labels}, {}
