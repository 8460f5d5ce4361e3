"""Inputs and small helpers shared by the losses-ranking tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAD = -1.0  # allRank's PADDED_Y_VALUE


# --- learning to rank -----------------------------------------------------------


def lists(scores, relevance):
    """``({"scores": ...}, {"relevance": ...})`` in float64; a flat list becomes one row."""
    s = torch.tensor(scores, dtype=torch.float64)
    y = torch.tensor(relevance, dtype=torch.float64)
    if s.ndim == 1:
        s, y = s.unsqueeze(0), y.unsqueeze(0)
    return {"scores": s}, {"relevance": y}


def loss_of(fn, scores, relevance, **params):
    """The loss value of a direct call on literal lists."""
    out, tgt = lists(scores, relevance)
    return fn(out, tgt, **params)["loss"].item()


def real_items(s_row, y_row):
    """``(score, label)`` of the real (not ``PAD``) items of one list."""
    return [(float(s), float(y)) for s, y in zip(s_row, y_row, strict=True) if y != PAD]


def padded_batch():
    """4 lists of 7 items with graded labels and ``PAD`` padding, some of it not trailing."""
    gen = torch.Generator().manual_seed(7)
    S = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    Y = torch.randint(0, 4, (4, 7), generator=gen).to(torch.float64)
    Y[0, 5:] = PAD
    Y[2, 3:] = PAD
    Y[1, 0] = PAD  # padding need not be at the end
    Y[:, 1] = torch.where(Y[:, 1] == PAD, Y[:, 1], torch.tensor(3.0, dtype=torch.float64))
    return S, Y


def distinct_batch(seed=0, b=3, length=6):
    """Random scores and, per list, distinct relevance values (no ties)."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, length, generator=gen, dtype=torch.float64)
    relevance = torch.stack([torch.randperm(length, generator=gen) for _ in range(b)]).to(torch.float64) / 2
    return scores, relevance


# --- metric learning and paired views ---------------------------------------------


def labelled(seed=0, n=12, d=5, classes=4):
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=gen)
    return emb, labels


def paired(seed=0, n=8, d=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randn(
        n, d, generator=gen, dtype=torch.float64
    )


def towers(seed=0, n=6, d=5):
    """Two L2-normalised paired towers."""
    a, b = paired(seed, n, d)
    return F.normalize(a, dim=1), F.normalize(b, dim=1)


def grad_of(fn, emb):
    leaf = emb.clone().requires_grad_(True)
    fn(leaf).backward()
    return leaf.grad


def check_value_and_grad(ours, reference, emb, rtol=1e-9, atol=1e-12):
    torch.testing.assert_close(ours(emb), reference(emb), rtol=rtol, atol=atol)
    torch.testing.assert_close(grad_of(ours, emb), grad_of(reference, emb), rtol=1e-7, atol=1e-10)
