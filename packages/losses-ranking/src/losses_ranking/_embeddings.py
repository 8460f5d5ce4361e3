"""Embedding inputs and pairwise geometry shared by the metric-learning losses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError
from losses_core.inputs import require_tensor
from losses_ranking._common import as_float, compute_dtype

__all__ = ["euclidean_distances", "label_masks", "read_embeddings", "read_pair"]

MIN_SQUARED_DISTANCE = 1e-12


def read_embeddings(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    embeddings_key: str,
    labels_key: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``model_output[embeddings_key]`` ``[N, D]`` (floating, computed in at
    least float32) and ``targets[labels_key]`` ``[N]`` (class ids)."""
    emb = require_tensor(
        model_output, embeddings_key, loss=loss, source="model_output", ndim=2, floating=True
    )
    labels = require_tensor(targets, labels_key, loss=loss, source="targets", ndim=1)
    if labels.shape[0] != emb.shape[0]:
        raise LossInputError(
            f"{loss}: targets[{labels_key!r}] has {labels.shape[0]} labels but "
            f"model_output[{embeddings_key!r}] has {emb.shape[0]} embeddings (shape {tuple(emb.shape)})"
        )
    return compute_dtype(emb), labels


def read_pair(
    model_output: Mapping[str, Any], *, loss: str, keys: tuple[str, str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two paired views ``[N, D]`` (row ``i`` of one matches row ``i`` of the other)."""
    a = require_tensor(model_output, keys[0], loss=loss, source="model_output", ndim=2, floating=True)
    b = require_tensor(model_output, keys[1], loss=loss, source="model_output", ndim=2, floating=True)
    if a.shape != b.shape:
        raise LossInputError(
            f"{loss}: model_output[{keys[0]!r}] has shape {tuple(a.shape)} but "
            f"model_output[{keys[1]!r}] has shape {tuple(b.shape)}; paired views must match"
        )
    return compute_dtype(a), compute_dtype(b)


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
