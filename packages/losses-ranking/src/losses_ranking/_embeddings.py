"""Embedding inputs and pairwise geometry shared by the metric-learning losses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError
from losses_core.inputs import require_tensor
from losses_ranking._common import compute_dtype

__all__ = ["euclidean_distances", "label_masks", "read_embeddings", "read_pair"]


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
    """``[N, N]`` Euclidean distances between rows, with a zero (and a zero
    gradient, never NaN) where two rows coincide, including the diagonal."""
    sq = x.square().sum(dim=-1)
    d2 = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2.0 * (x @ x.transpose(-1, -2))).clamp_min(0.0)
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    positive = (d2 > 0) & ~eye
    return torch.where(
        positive, torch.sqrt(torch.where(positive, d2, torch.ones_like(d2))), torch.zeros_like(d2)
    )


def label_masks(
    labels: torch.Tensor, ref_labels: torch.Tensor, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` bool ``[N, M]`` masks between query rows and
    reference rows: positive = same label and not the same sample, negative =
    different label. Query row ``i`` is reference row ``offset + i``."""
    same = labels.unsqueeze(-1) == ref_labels.unsqueeze(-2)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(-1) + offset
    cols = torch.arange(ref_labels.shape[0], device=labels.device).unsqueeze(-2)
    return same & (rows != cols), ~same
