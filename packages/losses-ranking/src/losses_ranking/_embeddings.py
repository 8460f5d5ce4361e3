"""Embedding inputs shared by the metric-learning and contrastive losses:
their declaration, examples and optional normalisation (the pairwise geometry
is losses_core.tensors)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from losses_core import Input

__all__ = [
    "LABELLED_INPUTS",
    "TOWER_INPUTS",
    "labelled_example",
    "maybe_normalize",
    "paired_views",
]

LABELLED_INPUTS = (
    Input("embeddings", "model_output", shape="N D", dtype="float", doc="one embedding per row"),
    Input("labels", "targets", shape="N", doc="class ids; equal ids make positive pairs"),
)
"""``model_output['embeddings']`` ``[N, D]`` and ``targets['labels']`` ``[N]``."""

TOWER_INPUTS = (
    Input("image_embeddings", "model_output", shape="N D", dtype="float", doc="the image tower"),
    Input(
        "text_embeddings",
        "model_output",
        like="image_embeddings",
        dtype="float",
        doc="the text tower; its row i matches image row i",
    ),
    Input("logit_scale", "model_output", dtype="float", doc="the learnable scale (one element)"),
)
"""The two towers of a contrastive image-text loss (``[N, D]`` each, row ``i``
of one matching row ``i`` of the other) and the learnable logit scale."""


def labelled_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """``2 B`` random embeddings of width 8, two per class, so that even a
    batch of one has a positive pair (and, from two, negatives)."""
    n = 2 * batch_size
    embeddings = torch.randn(n, 8, dtype=dtype, requires_grad=True)
    return {"embeddings": embeddings}, {"labels": torch.arange(n) // 2}, {}


def paired_views(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random ``[B, 8]`` views (leaves that require grad)."""
    a = torch.randn(batch_size, 8, dtype=dtype, requires_grad=True)
    b = torch.randn(batch_size, 8, dtype=dtype, requires_grad=True)
    return a, b


def maybe_normalize(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    """L2-normalise rows (``F.normalize``, eps 1e-12) when ``normalize``."""
    return F.normalize(x, p=2.0, dim=-1) if normalize else x
