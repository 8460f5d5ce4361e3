"""neural_ndcg: allRank's deterministic NeuralNDCG re-derived step by step,
allRank's low-temperature check (-NDCG), the temperature limit and the lists
it leaves out."""

from __future__ import annotations

import math

import pytest
import torch

from losses_ranking import neural_ndcg
from losses_ranking.metrics import ndcg

from ._data import PAD, distinct_batch, loss_of


def ref_neural_ndcg(s_row, y_row, tau, k=None, tol=1e-6, max_iter=50):
    """allRank's deterministic neuralNDCG on one unpadded list: NeuralSort
    (Grover et al. 2019, eq. 5), Sinkhorn with allRank's tolerance stop."""
    s = torch.tensor(s_row, dtype=torch.float64)
    y = torch.tensor(y_row, dtype=torch.float64)
    n = len(s_row)
    P = torch.zeros(n, n, dtype=torch.float64)
    for r in range(n):  # row r: the item at rank r+1
        logits = torch.tensor(
            [
                ((n + 1 - 2 * (r + 1)) * s[i] - sum(abs(s[i] - s[q]) for q in range(n))).item()
                for i in range(n)
            ],
            dtype=torch.float64,
        )
        P[r] = torch.softmax(logits / tau, 0)
    for _ in range(max_iter):
        P = P / P.sum(0, keepdim=True).clamp(min=1e-10)
        P = P / P.sum(1, keepdim=True).clamp(min=1e-10)
        if (P.sum(1) - 1).abs().max() < tol and (P.sum(0) - 1).abs().max() < tol:
            break
    g = 2**y - 1
    cut = n if k is None else k
    soft = sum((P[r] @ g).item() / math.log2(r + 2) for r in range(min(cut, n)))
    ideal = sorted(g.tolist(), reverse=True)
    idcg = sum(v / math.log2(r + 2) for r, v in enumerate(ideal[:cut]))
    return -soft / idcg


S_ROW = [0.5, 0.2, 0.1, 0.4, 1.0, -1.0, 0.63]
Y_ROW = [1.0, 2.0, 2.0, 4.0, 1.0, 4.0, 3.0]  # allRank tests/losses/test_neuralndcg.py inputs


@pytest.mark.parametrize(("tau", "k"), [(1.0, None), (0.3, 3), (2.0, 2)])
def test_neural_ndcg_vs_allrank_reference(tau, k):
    expected = ref_neural_ndcg(S_ROW, Y_ROW, tau, k=k)
    padded_s, padded_y = [*S_ROW, 1.0, 0.5], [*Y_ROW, PAD, PAD]
    value = loss_of(neural_ndcg, padded_s, padded_y, temperature=tau, k=k)
    # allRank stops Sinkhorn at max_iter=50 or a tolerance of 1e-6; we always run
    # sinkhorn_iterations=50, so the two agree to within that tolerance
    assert value == pytest.approx(expected, abs=1e-6)


def per_list_ndcg(s, y, k=None):
    return ndcg(torch.tensor([s]), torch.tensor([y]), k=k)[0].item()


@pytest.mark.parametrize("k", [None, 3])
def test_neural_ndcg_allrank_golden_low_temperature(k):
    # allRank tests/losses/test_neuralndcg.py: neuralNDCG(tau=1e-4) == -ndcg (pytest.approx)
    value = loss_of(neural_ndcg, S_ROW, Y_ROW, temperature=1e-4, k=k)
    assert -value == pytest.approx(per_list_ndcg(S_ROW, Y_ROW, k=k), rel=1e-6)
    tiny = loss_of(neural_ndcg, [0.5, -1e30], [1.0, 0.0], temperature=1e-4)
    assert math.isfinite(tiny) and -tiny == pytest.approx(per_list_ndcg([0.5, -1e30], [1.0, 0.0]))


def test_neural_ndcg_tends_to_minus_ndcg_as_temperature_vanishes():
    scores, relevance = distinct_batch(5, b=4, length=8)
    target = ndcg(scores, relevance).mean()
    gaps = []
    for tau in (3.0, 1.0, 0.1, 1e-3, 1e-4):
        value = neural_ndcg({"scores": scores}, {"relevance": relevance}, temperature=tau)["loss"]
        gaps.append((value + target).abs().item())
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-9
    at_k = neural_ndcg({"scores": scores}, {"relevance": relevance}, temperature=1e-4, k=3)["loss"]
    torch.testing.assert_close(-at_k, ndcg(scores, relevance, k=3).mean(), rtol=1e-6, atol=1e-6)


def test_neural_ndcg_skips_lists_without_relevant_items():
    scores, relevance = distinct_batch(6, b=3)
    relevance[1] = 0.0
    value = neural_ndcg({"scores": scores}, {"relevance": relevance})
    kept = neural_ndcg({"scores": scores[[0, 2]]}, {"relevance": relevance[[0, 2]]})
    torch.testing.assert_close(value["loss"], kept["loss"])
    assert value["metrics"]["num_lists"].item() == 2
    per_list = neural_ndcg({"scores": scores}, {"relevance": relevance}, reduction="none")
    assert per_list[1] == 0


def test_linear_gain_at_low_temperature_is_minus_linear_ndcg():
    value = loss_of(neural_ndcg, S_ROW, Y_ROW, temperature=1e-4, gain="linear")
    expected = ndcg(torch.tensor([S_ROW]), torch.tensor([Y_ROW]), gain="linear")[0].item()
    assert -value == pytest.approx(expected, rel=1e-6)
