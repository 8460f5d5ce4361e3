"""lambda_loss: allRank's published LambdaLoss values and a loop reference
written from allRank's formulas, for every weighting scheme, with and
without a cutoff ``k``."""

from __future__ import annotations

import math

import pytest

from losses_ranking import lambda_loss

from ._data import PAD, loss_of, padded_batch, real_items


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # allRank tests/test_lambdaloss.py::test_ndcgloss1_ignores_padded
        ({"weighing_scheme": "ndcg_loss1", "log_base": "binary"}, 2.9272110462),
        # allRank tests/test_lambdaloss.py::test_ndcgloss2_ignores_padded (ndcgLoss2PP_scheme)
        ({"weighing_scheme": "ndcg_loss2pp", "log_base": "binary"}, 1.1244146823),
        # allRank tests/test_lambdaloss.py::test_ranknet_ignores_padded (rankNet_scheme, natural log)
        ({"weighing_scheme": "rank_net", "log_base": "natural"}, 1.1962778568),
    ],
)
def test_allrank_golden_lambda_loss(params, expected):
    plain = loss_of(lambda_loss, [0.5, 0.3, 0.5], [0.5, 0.3, 0.5], reduction="sum", **params)
    padded = loss_of(lambda_loss, [0.5, 0.3, 0.5, 1.0], [0.5, 0.3, 0.5, PAD], reduction="sum", **params)
    assert plain == pytest.approx(expected, rel=1e-6)
    assert padded == pytest.approx(plain, rel=1e-12)


def ref_lambda(S, Y, scheme, k=None, sigma=1.0, mu=10.0, log_base="binary"):
    per_list = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        ranked = sorted(real_items(s_row, y_row), key=lambda item: -item[0])
        n = len(ranked)
        cut = n if k is None else min(k, n)
        ideal = sorted((y for _, y in ranked), reverse=True)
        max_dcg = max(sum((2**y - 1) / math.log2(2 + r) for r, y in enumerate(ideal[:cut])), 1e-10)
        G = [(2**y - 1) / max_dcg for _, y in ranked]
        D = [math.log2(2 + r) for r in range(n)]
        loss = 0.0
        for i in range(cut):
            for j in range(cut):
                if scheme != "ndcg_loss1" and not ranked[i][1] > ranked[j][1]:
                    continue
                gap = abs(i - j)
                delta = abs(1 / math.log2(1 + gap) - 1 / math.log2(2 + gap)) if gap else 0.0
                lam = abs(1 / D[i] - 1 / D[j]) * abs(G[i] - G[j])
                w = {
                    "ndcg_loss1": G[i] / D[i],
                    "ndcg_loss2": delta * abs(G[i] - G[j]),
                    "lambda_rank": lam,
                    "ndcg_loss2pp": mu * delta * abs(G[i] - G[j]) + lam,
                    "rank_net": 1.0,
                }[scheme]
                p = 1 / (1 + math.exp(-sigma * (ranked[i][0] - ranked[j][0])))
                loss -= w * (math.log2(p) if log_base == "binary" else math.log(p))
        per_list.append(loss)
    return sum(per_list) / len(per_list)


@pytest.mark.parametrize("scheme", ["ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambda_rank", "rank_net"])
@pytest.mark.parametrize("k", [None, 3])
def test_lambda_loss_vs_loop_reference(scheme, k):
    S, Y = padded_batch()
    out = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme=scheme, k=k, sigma=1.5, mu=5.0)
    expected = ref_lambda(S, Y, scheme, k=k, sigma=1.5, mu=5.0)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-10)
    if k is not None:
        assert f"ndcg@{k}" in out["metrics"]


def test_lambda_loss_natural_log_and_sum():
    S, Y = padded_batch()
    natural = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank", log_base="natural")
    binary = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank")
    assert natural["loss"].item() == pytest.approx(binary["loss"].item() * math.log(2), rel=1e-12)
    total = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank", reduction="sum")
    assert total["loss"].item() == pytest.approx(binary["loss"].item() * 4, rel=1e-12)


def test_default_scheme_is_ndcg_loss2pp_with_mu_10():
    S, Y = padded_batch()
    default = lambda_loss({"scores": S}, {"relevance": Y})["loss"].item()
    assert default == pytest.approx(ref_lambda(S, Y, "ndcg_loss2pp", mu=10.0), rel=1e-10)
