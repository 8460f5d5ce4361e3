"""approx_ndcg: allRank's published ApproxNDCG value and a loop reference
written from the formula."""

from __future__ import annotations

import math

import pytest

from losses_ranking import approx_ndcg

from ._data import PAD, loss_of, padded_batch, real_items


def test_allrank_golden_approx_ndcg():
    # allRank tests/test_approxndcg.py::test_approxndcg_ignores_padded
    plain = loss_of(approx_ndcg, [0.5, 0.3, 0.5], [0.5, 0.3, 0.5], alpha=1.0)
    padded = loss_of(approx_ndcg, [0.5, 0.3, 0.5, 1.0], [0.5, 0.3, 0.5, PAD], alpha=1.0)
    assert plain == pytest.approx(-0.8499219417, rel=1e-6)
    assert padded == pytest.approx(plain, rel=1e-12)


def ref_approx(S, Y, alpha=1.0):
    values = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        items = real_items(s_row, y_row)
        ideal = sorted((y for _, y in items), reverse=True)
        max_dcg = max(sum((2**y - 1) / math.log2(2 + r) for r, y in enumerate(ideal)), 1e-10)
        total = 0.0
        for i, (si, yi) in enumerate(items):
            pos = 1 + sum(1 / (1 + math.exp(alpha * (si - sj))) for j, (sj, _) in enumerate(items) if j != i)
            total += (2**yi - 1) / max_dcg / math.log2(1 + pos)
        values.append(-total)
    return sum(values) / len(values)


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_approx_ndcg_vs_loop_reference(alpha):
    S, Y = padded_batch()
    out = approx_ndcg({"scores": S}, {"relevance": Y}, alpha=alpha)
    assert out["loss"].item() == pytest.approx(ref_approx(S, Y, alpha), rel=1e-10)


def test_a_list_without_relevant_items_gives_zero():
    value = loss_of(approx_ndcg, [0.5, 0.3, -0.2], [0.0, 0.0, 0.0])
    assert value == 0.0
