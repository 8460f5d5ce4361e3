"""ranknet: allRank's published RankNet cases (each against torch's
``BCEWithLogitsLoss``), a loop reference written from the formula, and its
pair metrics."""

from __future__ import annotations

import math

import pytest
import torch

from losses_ranking import ranknet

from ._data import PAD, loss_of, padded_batch, real_items


def bce_with_logits(logits, weights=None):
    x = torch.tensor(logits, dtype=torch.float64)
    w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    return torch.nn.functional.binary_cross_entropy_with_logits(x, torch.ones_like(x), weight=w).item()


@pytest.mark.parametrize(
    ("scores", "relevance", "weight_by", "logits", "weights"),
    [
        # allRank tests/losses/test_ranknet.py, each case vs torch's BCEWithLogitsLoss
        ([0.5, 0.2], [1.0, 0.0], "none", [0.3], None),
        ([0.2, 0.5], [1.0, 0.0], "none", [-0.3], None),
        ([0.5, 0.2, 0.1], [1.0, 0.0, 0.0], "none", [0.3, 0.4], None),
        ([0.2, 0.5], [0.0, 1.0], "none", [0.3], None),
        ([0.2, 0.5], [0.0, 2.0], "none", [0.3], None),
        ([0.5, 0.2, 0.66], [1.0, 0.0, PAD], "none", [0.3], None),
        ([0.5, 0.2, 0.1], [2.0, 1.0, 0.0], "diff", [0.3, 0.4, 0.1], [1.0, 2.0, 1.0]),
        ([0.5, 0.2, 0.1], [2.0, 1.0, 0.0], "diff_powed", [0.3, 0.4, 0.1], [3.0, 4.0, 1.0]),
    ],
)
def test_allrank_ranknet_cases_vs_bce(scores, relevance, weight_by, logits, weights):
    value = loss_of(ranknet, scores, relevance, weight_by=weight_by)
    assert value == pytest.approx(bce_with_logits(logits, weights), rel=1e-9)


def ref_ranknet(S, Y, weight_by="none", sigma=1.0):
    total, count = 0.0, 0
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        items = real_items(s_row, y_row)
        for si, yi in items:
            for sj, yj in items:
                if yi > yj:
                    w = {"none": 1.0, "diff": abs(yi - yj), "diff_powed": abs(yi**2 - yj**2)}[weight_by]
                    total += w * math.log1p(math.exp(-sigma * (si - sj)))
                    count += 1
    return total / count


@pytest.mark.parametrize("weight_by", ["none", "diff", "diff_powed"])
def test_ranknet_vs_loop_reference(weight_by):
    S, Y = padded_batch()
    out = ranknet({"scores": S}, {"relevance": Y}, weight_by=weight_by, sigma=1.0)
    assert out["loss"].item() == pytest.approx(ref_ranknet(S, Y, weight_by), rel=1e-10)


def test_ranknet_sigma():
    S, Y = padded_batch()
    out = ranknet({"scores": S}, {"relevance": Y}, sigma=2.5)
    assert out["loss"].item() == pytest.approx(ref_ranknet(S, Y, sigma=2.5), rel=1e-10)


def test_ranknet_sum_and_per_list_sums():
    S, Y = padded_batch()
    mean = ranknet({"scores": S}, {"relevance": Y})
    total = ranknet({"scores": S}, {"relevance": Y}, reduction="sum")["loss"]
    per_list = ranknet({"scores": S}, {"relevance": Y}, reduction="none")
    assert per_list.shape == (4,)
    torch.testing.assert_close(per_list.sum(), total)
    torch.testing.assert_close(total / mean["metrics"]["num_pairs"], mean["loss"])


def test_pair_metrics():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.0]], dtype=torch.float64)
    relevance = torch.tensor([[2.0, 1.0, 0.0, PAD]], dtype=torch.float64)
    out = ranknet({"scores": scores}, {"relevance": relevance})
    # pairs (0,1), (0,2), (1,2): s_0 > s_1, s_0 > s_2, s_1 < s_2
    assert out["metrics"]["num_pairs"].item() == 3
    assert out["metrics"]["pair_accuracy"].item() == pytest.approx(2 / 3)
    assert out["metrics"]["num_lists"].item() == 1


def test_no_pair_is_a_connected_zero():
    scores = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    out = ranknet({"scores": scores}, {"relevance": torch.ones(2, 3, dtype=torch.float64)})
    assert out["loss"].item() == 0.0 and out["loss"].requires_grad
    assert out["metrics"]["num_pairs"].item() == 0 and out["metrics"]["pair_accuracy"].item() == 0
    out["loss"].backward()
    assert torch.all(scores.grad == 0)
