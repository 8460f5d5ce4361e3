"""Embedding inputs (their declaration and examples) and the pairwise
geometry shared by the metric-learning and contrastive losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from losses_core import Input
from losses_ranking._dtypes import as_float

__all__ = [
    "LABELLED_INPUTS",
    "euclidean_distances",
    "label_masks",
    "labelled_example",
    "maybe_normalize",
    "paired_views",
]

MIN_SQUARED_DISTANCE = 1e-12

LABELLED_INPUTS = (
    Input("embeddings", "model_output", shape="N D", dtype="float", doc="one embedding per row"),
    Input("labels", "targets", shape="N", doc="class ids; equal ids make positive pairs"),
)
"""``model_output['embeddings']`` ``[N, D]`` and ``targets['labels']`` ``[N]``."""


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


def euclidean_distances(x: torch.Tensor) -> torch.Tensor:
    """``[N, N]`` Euclidean distances between rows, from the Gram matrix.

    Squared distances are floored at ``1e-12`` before the square root, so the
    distance of coinciding rows (including the diagonal) is ``1e-6`` with a
    zero gradient: never NaN or inf, and below the rounding noise of the Gram
    form in float32 (about ``3e-4`` near 0).
    """
    sq = x.square().sum(dim=-1)
    d2 = torch.addmm(sq.unsqueeze(-1) + sq.unsqueeze(-2), x, x.transpose(-1, -2), alpha=-2.0)
    return d2.clamp_min(MIN_SQUARED_DISTANCE).sqrt()


def label_masks(
    labels: torch.Tensor, ref_labels: torch.Tensor, offset: int = 0, *, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` 0/1 float masks ``[N, M]`` between query rows
    and reference rows: positive = same label and not the same sample,
    negative = different label. Query row ``i`` is reference row ``offset + i``."""
    same = as_float(labels.unsqueeze(-1) == ref_labels.unsqueeze(-2), dtype)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(-1) + offset
    cols = torch.arange(ref_labels.shape[0], device=labels.device).unsqueeze(-2)
    return same - as_float(rows == cols, dtype), 1.0 - same
