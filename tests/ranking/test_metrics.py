"""losses_ranking.metrics: allRank's published NDCG and MRR cases, DCG by
hand, the value of NDCG for a list without a relevant item (0, documented;
allRank fills 1.0, scikit-learn gives 0), the metrics every learning-to-rank
loss reports, and argument errors."""

from __future__ import annotations

import math

import pytest
import torch

from losses_core import LossInputError, LossParameterError
from losses_ranking import lambda_loss
from losses_ranking.metrics import dcg, mrr, ndcg

from ._data import PAD, distinct_batch
from .allrank_reference import load


def per_list_ndcg(s, y, ats=None):
    return ndcg(torch.tensor([s]), torch.tensor([y]), k=ats)[0].item()


def test_allrank_ndcg_cases():
    # allRank tests/losses/test_ndcg.py
    assert per_list_ndcg([0.5, 0.2], [1.0, 0.0]) == 1.0
    assert per_list_ndcg([0.5, 0.2], [0.0, 1.0]) == pytest.approx(1 / math.log2(3))
    assert per_list_ndcg([0.5, 0.2, 0.1], [1.0, 0.0, 1.0], ats=1) == pytest.approx(1.0)
    assert per_list_ndcg([0.5, 0.2, 0.1], [1.0, 0.0, 1.0], ats=2) == pytest.approx(
        1.0 / (1.0 + 1 / math.log2(3))
    )
    assert per_list_ndcg([0.5, 0.2, 1.0], [1.0, 0.0, PAD]) == 1.0
    assert per_list_ndcg([0.5, 0.2, 1.0], [0.0, 1.0, PAD]) == pytest.approx(1 / math.log2(3))


def test_allrank_mrr_cases():
    # allRank tests/losses/test_mrr.py
    def rr(s, y, k=None):
        return mrr(torch.tensor(s), torch.tensor(y), k=k).tolist()

    assert rr([[0.5, 0.2]], [[1.0, 0.0]]) == [1.0]
    assert rr([[0.5, 0.2]], [[0.0, 1.0]]) == [0.5]
    assert rr([[0.2, 0.5], [0.5, 0.2]], [[0.0, 1.0], [0.0, 1.0]]) == [1.0, 0.5]
    assert rr([[0.5, 0.2]], [[0.0, 1.0]], k=1) == [0.0]
    assert rr([[0.5, 0.2]], [[0.0, 1.0]], k=2) == [0.5]
    assert rr([[0.5, 0.2]], [[0.0, 0.0]]) == [0.0]
    assert rr([[0.5, 0.2, 1.0]], [[1.0, 0.0, PAD]]) == [1.0]
    assert rr([[0.5, 0.2, 1.0]], [[0.0, 1.0, PAD]]) == [0.5]


def test_dcg_by_hand():
    # ranking by scores: items 1, 2, 0 -> gains 2^2-1, 2^0-1, 2^1-1
    value = dcg(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([[1.0, 2.0, 0.0]]))[0].item()
    assert value == pytest.approx(3.0 / math.log2(2) + 0.0 / math.log2(3) + 1.0 / math.log2(4))
    linear = dcg(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([[1.0, 2.0, 0.0]]), gain="linear", k=2)
    assert linear[0].item() == pytest.approx(2.0)


# --- a list without a relevant item -------------------------------------------


def test_ndcg_of_a_list_without_relevant_items_is_zero_unlike_allrank():
    _, allrank_metrics = load()
    scores = torch.tensor([[0.5, 0.2, 0.9], [0.1, 0.7, 0.3], [0.4, 0.6, 1.0]], dtype=torch.float64)
    relevance = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [0.0, 0.0, PAD]], dtype=torch.float64)
    theirs = allrank_metrics.ndcg(scores, relevance)[:, 0].double()
    ours = ndcg(scores, relevance)
    assert ours.tolist()[0] == 0.0 and ours.tolist()[2] == 0.0  # no relevant item: 0 (the default)
    assert theirs[0].item() == 1.0 and theirs[2].item() == 1.0  # allRank's filler_value
    torch.testing.assert_close(ours[1], theirs[1], rtol=1e-6, atol=0)  # a relevant item: the same
    torch.testing.assert_close(ndcg(scores, relevance, no_relevant_value=1.0), theirs, rtol=1e-6, atol=0)


def test_ndcg_matches_scikit_learn_including_lists_without_relevant_items():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    scores, relevance = distinct_batch(3, b=5, length=6)  # distinct scores: no tie handling involved
    relevance = relevance.round()
    relevance[2] = 0.0
    ours = ndcg(scores, relevance, gain="linear", padded_value=None)
    for row in range(scores.shape[0]):
        expected = sklearn_metrics.ndcg_score(relevance[row : row + 1].numpy(), scores[row : row + 1].numpy())
        assert ours[row].item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert ours[2].item() == 0.0


# --- the metrics the losses report ----------------------------------------------


def test_ndcg_and_mrr_metrics_are_reported_and_bounded():
    scores, relevance = distinct_batch(10)
    out = lambda_loss({"scores": scores}, {"relevance": relevance}, k=2)
    for key in ("ndcg", "ndcg@2", "mrr", "num_lists"):
        assert key in out["metrics"] and not out["metrics"][key].requires_grad
    assert 0 <= out["metrics"]["ndcg"].item() <= 1 and 0 < out["metrics"]["mrr"].item() <= 1
    torch.testing.assert_close(out["metrics"]["ndcg"], ndcg(scores, relevance).mean())
    torch.testing.assert_close(out["metrics"]["ndcg@2"], ndcg(scores, relevance, k=2).mean())
    torch.testing.assert_close(out["metrics"]["mrr"], mrr(scores, relevance).mean())


def test_reported_ndcg_leaves_out_lists_without_relevant_items():
    scores, relevance = distinct_batch(11, b=3)
    relevance[0] = 0.0
    out = lambda_loss({"scores": scores}, {"relevance": relevance})
    torch.testing.assert_close(out["metrics"]["ndcg"], ndcg(scores[1:], relevance[1:]).mean())


# --- argument errors ----------------------------------------------------------------


def test_bad_arguments_are_named():
    scores, relevance = distinct_batch(12)
    with pytest.raises(LossParameterError, match="ndcg: parameter 'k'"):
        ndcg(scores, relevance, k=0)
    with pytest.raises(LossParameterError, match="dcg: parameter 'gain'"):
        dcg(scores, relevance, gain="log")
    with pytest.raises(LossInputError, match="mrr: input 'scores'"):
        mrr(scores[0], relevance[0])
    with pytest.raises(LossInputError, match="ndcg: input 'relevance'"):
        ndcg(scores, relevance[:, :-1])
    with pytest.raises(LossInputError, match="ndcg: input 'mask'"):
        ndcg(scores, relevance, mask=torch.ones(2, 2, dtype=torch.bool))
