"""Properties of the learning-to-rank losses: permutation and padding
invariance, all-padded lists, temperature limit of NeuralNDCG, ListMLE tie
handling and numerical safety."""

from __future__ import annotations

import functools
import itertools
import math

import pytest
import torch

from losses_ranking import approx_ndcg, lambda_loss, listmle, listnet, neural_ndcg, ranknet
from losses_ranking.metrics import ndcg

LTR = {
    "ranknet": ranknet,
    "listnet": listnet,
    "listmle": listmle,
    "listmle_graph": functools.partial(listmle, normalizer="logcumsumexp"),
    "lambda_loss": lambda_loss,
    "approx_ndcg": approx_ndcg,
    "neural_ndcg": neural_ndcg,
}
LISTWISE = ["listnet", "listmle", "listmle_graph", "lambda_loss", "approx_ndcg", "neural_ndcg", "ranknet"]


def batch(seed=0, b=3, length=6):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, length, generator=gen, dtype=torch.float64)
    # distinct relevance values per list: the true order has no ties
    relevance = torch.stack([torch.randperm(length, generator=gen) for _ in range(b)]).to(torch.float64) / 2
    return scores, relevance


@pytest.mark.parametrize("name", LISTWISE)
def test_permutation_invariance_under_joint_shuffle(name):
    fn = LTR[name]
    scores, relevance = batch(1)
    mask = torch.ones_like(scores, dtype=torch.bool)
    mask[0, 2] = False
    base = fn({"scores": scores}, {"relevance": relevance, "mask": mask})["loss"]
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        perm = torch.stack([torch.randperm(scores.shape[1], generator=gen) for _ in range(scores.shape[0])])
        shuffled = fn(
            {"scores": scores.gather(1, perm)},
            {"relevance": relevance.gather(1, perm), "mask": mask.gather(1, perm)},
        )["loss"]
        torch.testing.assert_close(shuffled, base, rtol=1e-12, atol=1e-12)


def pad(scores, relevance, extra, junk_scores, junk_relevance):
    b = scores.shape[0]
    s = torch.cat([scores, torch.full((b, extra), junk_scores, dtype=scores.dtype)], dim=1)
    y = torch.cat([relevance, torch.full((b, extra), junk_relevance, dtype=relevance.dtype)], dim=1)
    mask = torch.cat([torch.ones_like(scores, dtype=torch.bool), torch.zeros(b, extra, dtype=torch.bool)], 1)
    return s, y, mask


@pytest.mark.parametrize("name", list(LTR))
def test_padding_invariance_with_mask_and_sentinel(name):
    fn = LTR[name]
    scores, relevance = batch(2)
    relevance = relevance.round()  # graded labels with ties
    params = {"k": 3} if name in ("lambda_loss", "neural_ndcg") else {}
    plain = fn({"scores": scores}, {"relevance": relevance}, **params)
    # explicit mask: the padded items carry arbitrary (even large or -1) values
    s, y, mask = pad(scores, relevance, 4, 50.0, 7.0)
    masked = fn({"scores": s}, {"relevance": y, "mask": mask}, **params)
    # allRank's sentinel fallback
    s2, y2, _ = pad(scores, relevance, 2, -3.0, -1.0)
    sentinel = fn({"scores": s2}, {"relevance": y2}, **params)
    for other in (masked, sentinel):
        torch.testing.assert_close(other["loss"], plain["loss"], rtol=1e-13, atol=1e-13)
        for key, value in plain["metrics"].items():
            torch.testing.assert_close(other["metrics"][key], value, rtol=1e-13, atol=1e-13)
    # the gradient reaches only real items and is the same there
    s.requires_grad_(True)
    leaf = scores.clone().requires_grad_(True)
    fn({"scores": s}, {"relevance": y, "mask": mask}, **params)["loss"].backward()
    fn({"scores": leaf}, {"relevance": relevance}, **params)["loss"].backward()
    torch.testing.assert_close(s.grad[:, : scores.shape[1]], leaf.grad, rtol=1e-12, atol=1e-12)
    assert torch.all(s.grad[:, scores.shape[1] :] == 0)


@pytest.mark.parametrize("name", list(LTR))
def test_all_padded_list_contributes_zero(name):
    fn = LTR[name]
    scores, relevance = batch(4, b=2)
    s = torch.cat([scores, torch.randn(1, scores.shape[1], dtype=scores.dtype)]).requires_grad_(True)
    y = torch.cat([relevance, torch.full((1, scores.shape[1]), -1.0, dtype=relevance.dtype)])
    with_empty = fn({"scores": s}, {"relevance": y})
    without = fn({"scores": scores}, {"relevance": relevance})
    torch.testing.assert_close(with_empty["loss"], without["loss"], rtol=1e-13, atol=1e-13)
    with_empty["loss"].backward()
    assert torch.isfinite(s.grad).all() and torch.all(s.grad[-1] == 0)
    per_list = fn({"scores": s.detach()}, {"relevance": y}, reduction="none")
    assert per_list.shape == (3,) and per_list[-1] == 0
    # a batch made only of padding: a zero connected to the graph, never NaN
    empty = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    out = fn({"scores": empty}, {"relevance": torch.full((2, 4), -1.0)})
    assert out["loss"].item() == 0.0 and out["loss"].requires_grad
    out["loss"].backward()
    assert torch.all(empty.grad == 0)
    assert all(torch.isfinite(v) for v in out["metrics"].values())


def test_neural_ndcg_tends_to_minus_ndcg_as_temperature_vanishes():
    scores, relevance = batch(5, b=4, length=8)
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
    scores, relevance = batch(6, b=3)
    relevance[1] = 0.0
    value = neural_ndcg({"scores": scores}, {"relevance": relevance})
    kept = neural_ndcg({"scores": scores[[0, 2]]}, {"relevance": relevance[[0, 2]]})
    torch.testing.assert_close(value["loss"], kept["loss"])
    assert value["metrics"]["num_lists"].item() == 2


def listmle_for_order(scores, order):
    s = [scores[i] for i in order]
    return sum(math.log(sum(math.exp(v) for v in s[r:])) - s[r] for r in range(len(s)))


def test_listmle_ties_are_deterministic_by_default_and_random_with_a_generator():
    scores = torch.tensor([[0.3, -1.2, 0.8, 0.1, 2.0]], dtype=torch.float64)
    relevance = torch.tensor([[1.0, 2.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    value = listmle({"scores": scores}, {"relevance": relevance})["loss"].item()
    # stable order: item 1 (rel 2), then items 0, 2, 3 (rel 1) in list order, then item 4
    assert value == pytest.approx(listmle_for_order(scores[0].tolist(), [1, 0, 2, 3, 4]), rel=1e-12)
    assert listmle({"scores": scores}, {"relevance": relevance})["loss"].item() == value
    possible = {
        round(listmle_for_order(scores[0].tolist(), [1, *tie, 4]), 10)
        for tie in itertools.permutations([0, 2, 3])
    }
    seen = set()
    for seed in range(40):
        gen = torch.Generator().manual_seed(seed)
        got = listmle({"scores": scores}, {"relevance": relevance}, generator=gen)["loss"].item()
        again = listmle(
            {"scores": scores}, {"relevance": relevance}, generator=torch.Generator().manual_seed(seed)
        )["loss"].item()
        assert got == again  # reproducible for a seeded generator
        assert round(got, 10) in possible
        seen.add(round(got, 10))
    assert len(seen) > 3  # ties really are broken at random


@pytest.mark.parametrize("name", list(LTR))
@pytest.mark.parametrize("scale", [1e4, 1e30])
def test_extreme_scores_stay_finite(name, scale):
    fn = LTR[name]
    scores, relevance = batch(8)
    s = (scores * scale).requires_grad_(True)
    out = fn({"scores": s}, {"relevance": relevance})
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(s.grad).all()


@pytest.mark.parametrize("name", list(LTR))
def test_float32_and_bfloat16_inputs(name):
    fn = LTR[name]
    scores, relevance = batch(9)
    ref = fn({"scores": scores}, {"relevance": relevance})["loss"]
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 5e-2)):
        s = scores.to(dtype).requires_grad_(True)
        out = fn({"scores": s}, {"relevance": relevance.to(dtype)})
        out["loss"].backward()
        assert s.grad.dtype == dtype and torch.isfinite(s.grad.float()).all()
        torch.testing.assert_close(out["loss"].double(), ref, rtol=tol, atol=tol)


def test_mask_overrides_the_sentinel():
    scores = torch.tensor([[0.2, 0.9, -0.4]], dtype=torch.float64)
    relevance = torch.tensor([[1.0, -1.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True]])
    with_mask = ranknet({"scores": scores}, {"relevance": relevance, "mask": mask})
    assert with_mask["metrics"]["num_pairs"].item() == 3  # -1 is a real (lowest) label here
    sentinel = ranknet({"scores": scores}, {"relevance": relevance})
    assert sentinel["metrics"]["num_pairs"].item() == 1
    none = ranknet({"scores": scores}, {"relevance": relevance}, padded_value=None)
    assert none["metrics"]["num_pairs"].item() == 3


def test_ndcg_and_mrr_metrics_are_reported_and_bounded():
    scores, relevance = batch(10)
    out = lambda_loss({"scores": scores}, {"relevance": relevance}, k=2)
    for key in ("ndcg", "ndcg@2", "mrr", "num_lists"):
        assert key in out["metrics"] and not out["metrics"][key].requires_grad
    assert 0 <= out["metrics"]["ndcg"].item() <= 1 and 0 < out["metrics"]["mrr"].item() <= 1
    torch.testing.assert_close(out["metrics"]["ndcg"], ndcg(scores, relevance).mean())


@pytest.mark.parametrize("name", list(LTR))
def test_compute_metrics_false_skips_only_the_metrics(name):
    scores, relevance = batch(13)
    full = LTR[name]({"scores": scores}, {"relevance": relevance})
    lean = LTR[name]({"scores": scores}, {"relevance": relevance}, compute_metrics=False)
    torch.testing.assert_close(lean["loss"], full["loss"])
    assert "ndcg" in full["metrics"] and "mrr" in full["metrics"]
    assert "ndcg" not in lean["metrics"] and "mrr" not in lean["metrics"]
