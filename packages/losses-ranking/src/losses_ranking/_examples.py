"""Example-input factories for the conformance checker: small random valid
inputs, ``(batch_size, dtype) -> (model_output, targets, params)``."""

from __future__ import annotations

import math
from typing import Any

import torch

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]

LIST_LENGTH = 5


def margin_ranking_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    x1 = torch.randn(batch_size, dtype=dtype, requires_grad=True)
    x2 = torch.randn(batch_size, dtype=dtype, requires_grad=True)
    target = torch.where(torch.rand(batch_size) > 0.5, 1.0, -1.0).to(dtype)
    return {"input1": x1, "input2": x2}, {"target": target}, {"margin": 0.1}


def _ranking(batch_size: int, dtype: torch.dtype) -> Example:
    scores = torch.randn(batch_size, LIST_LENGTH, dtype=dtype, requires_grad=True)
    relevance = torch.randint(0, 3, (batch_size, LIST_LENGTH)).to(dtype)
    relevance[:, 0] = 2  # every list has a relevant item and a pair
    relevance[:, 1] = 0
    mask = torch.ones(batch_size, LIST_LENGTH, dtype=torch.bool)
    mask[:, -1] = False  # the last item of every list is padding
    return {"scores": scores}, {"relevance": relevance, "mask": mask}, {}


def ranknet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _ranking(batch_size, dtype)


def listnet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _ranking(batch_size, dtype)


def listmle_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _ranking(batch_size, dtype)


def lambda_loss_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, tgt, _ = _ranking(batch_size, dtype)
    return out, tgt, {"weighing_scheme": "ndcg_loss2pp", "k": 3}


def approx_ndcg_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _ranking(batch_size, dtype)


def neural_ndcg_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, tgt, _ = _ranking(batch_size, dtype)
    return out, tgt, {"sinkhorn_iterations": 3}


def _labelled(batch_size: int, dtype: torch.dtype) -> Example:
    # Two samples per class, so even batch_size=1 has a positive pair.
    n = 2 * batch_size
    emb = torch.randn(n, 8, dtype=dtype, requires_grad=True)
    labels = torch.arange(n) // 2
    return {"embeddings": emb}, {"labels": labels}, {}


def contrastive_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, tgt, _ = _labelled(batch_size, dtype)
    return out, tgt, {"margin": 1.0}


def triplet_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, tgt, _ = _labelled(batch_size, dtype)
    return out, tgt, {"margin": 0.2, "mining": "all"}


def multi_similarity_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _labelled(batch_size, dtype)


def supcon_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _labelled(batch_size, dtype)


def _paired(batch_size: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.randn(batch_size, 8, dtype=dtype, requires_grad=True)
    b = torch.randn(batch_size, 8, dtype=dtype, requires_grad=True)
    return a, b


def ntxent_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    a, b = _paired(batch_size, dtype)
    return {"embeddings_a": a, "embeddings_b": b}, {}, {"temperature": 0.1}


def clip_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    img, txt = _paired(batch_size, dtype)
    scale = torch.tensor(math.log(1 / 0.07), dtype=dtype, requires_grad=True)
    return {"image_embeddings": img, "text_embeddings": txt, "logit_scale": scale}, {}, {}


def siglip_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    img, txt = _paired(batch_size, dtype)
    scale = torch.tensor(math.log(10.0), dtype=dtype, requires_grad=True)
    bias = torch.tensor(-10.0, dtype=dtype, requires_grad=True)
    return {"image_embeddings": img, "text_embeddings": txt, "logit_scale": scale, "logit_bias": bias}, {}, {}
