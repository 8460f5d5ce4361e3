"""Properties every learning-to-rank loss shares (ranknet, listnet, listmle,
lambda_loss, approx_ndcg, neural_ndcg), from their common list handling:
permutation and padding invariance (explicit mask or allRank's sentinel),
all-padded lists, extreme scores, half precision and ``compute_metrics``."""

from __future__ import annotations

import functools

import pytest
import torch

from losses_ranking import approx_ndcg, lambda_loss, listmle, listnet, neural_ndcg, ranknet

from ._data import distinct_batch

LTR = {
    "ranknet": ranknet,
    "listnet": listnet,
    "listmle": listmle,
    "listmle_graph": functools.partial(listmle, normalizer="logcumsumexp"),
    "lambda_loss": lambda_loss,
    "approx_ndcg": approx_ndcg,
    "neural_ndcg": neural_ndcg,
}


@pytest.mark.parametrize("name", list(LTR))
def test_permutation_invariance_under_joint_shuffle(name):
    fn = LTR[name]
    scores, relevance = distinct_batch(1)
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
    scores, relevance = distinct_batch(2)
    relevance = relevance.round()  # graded labels with ties
    params = {"k": 3} if name in ("lambda_loss", "neural_ndcg") else {}
    plain = fn({"scores": scores}, {"relevance": relevance}, **params)
    # explicit mask: the padded items carry arbitrary (even large or -1) values
    s, y, mask = pad(scores, relevance, 4, 50.0, 7.0)
    masked = fn({"scores": s}, {"relevance": y, "mask": mask}, **params)
    # a 0/1 integer mask means the same as the bool one
    int_mask = fn({"scores": s}, {"relevance": y, "mask": mask.long()}, **params)
    # allRank's sentinel fallback
    s2, y2, _ = pad(scores, relevance, 2, -3.0, -1.0)
    sentinel = fn({"scores": s2}, {"relevance": y2}, **params)
    for other in (masked, int_mask, sentinel):
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
    scores, relevance = distinct_batch(4, b=2)
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


@pytest.mark.parametrize("name", list(LTR))
def test_reduction_sum_and_none_agree(name):
    scores, relevance = distinct_batch(14, b=4)
    relevance[1, 3:] = -1.0
    per_list = LTR[name]({"scores": scores}, {"relevance": relevance}, reduction="none")
    total = LTR[name]({"scores": scores}, {"relevance": relevance}, reduction="sum")["loss"]
    assert per_list.shape == (4,)
    torch.testing.assert_close(per_list.sum(), total)


@pytest.mark.parametrize("name", list(LTR))
@pytest.mark.parametrize("scale", [1e4, 1e30])
def test_extreme_scores_stay_finite(name, scale):
    fn = LTR[name]
    scores, relevance = distinct_batch(8)
    s = (scores * scale).requires_grad_(True)
    out = fn({"scores": s}, {"relevance": relevance})
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(s.grad).all()


@pytest.mark.parametrize("name", list(LTR))
def test_float32_and_bfloat16_inputs(name):
    fn = LTR[name]
    scores, relevance = distinct_batch(9)
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


@pytest.mark.parametrize("name", list(LTR))
def test_compute_metrics_false_skips_only_the_metrics(name):
    scores, relevance = distinct_batch(13)
    full = LTR[name]({"scores": scores}, {"relevance": relevance})
    lean = LTR[name]({"scores": scores}, {"relevance": relevance}, compute_metrics=False)
    torch.testing.assert_close(lean["loss"], full["loss"])
    assert "ndcg" in full["metrics"] and "mrr" in full["metrics"]
    assert "ndcg" not in lean["metrics"] and "mrr" not in lean["metrics"]
