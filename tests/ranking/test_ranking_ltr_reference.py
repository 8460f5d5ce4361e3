"""Learning-to-rank losses and metrics against allRank's published test values
and against references re-derived by hand from the papers / allRank's formulas
(explicit Python loops over small lists, written independently of the
vectorised implementation)."""

from __future__ import annotations

import math

import pytest
import torch

from losses_ranking import approx_ndcg, lambda_loss, listmle, listnet, neural_ndcg, ranknet
from losses_ranking.metrics import dcg, mrr, ndcg

PAD = -1.0  # allRank's PADDED_Y_VALUE


def lists(scores, relevance):
    s = torch.tensor(scores, dtype=torch.float64)
    y = torch.tensor(relevance, dtype=torch.float64)
    if s.ndim == 1:
        s, y = s.unsqueeze(0), y.unsqueeze(0)
    return {"scores": s}, {"relevance": y}


def loss_of(fn, scores, relevance, **params):
    out, tgt = lists(scores, relevance)
    return fn(out, tgt, **params)["loss"].item()


# ---------------------------------------------------------------------------
# Golden values from allRank's own tests (allegro/allRank, tests/losses/*.py and
# tests/test_*.py), inputs copied verbatim.
# ---------------------------------------------------------------------------


def test_allrank_golden_listmle():
    # allRank tests/losses/test_listmle.py::test_listmle_ignores_padded_value
    value = loss_of(listmle, [0.5, 0.3, 0.5], [1.0, 0.0, PAD])
    assert value == pytest.approx(0.5981389284133911, rel=1e-6)
    graph = loss_of(listmle, [0.5, 0.3, 0.5], [1.0, 0.0, PAD], normalizer="logcumsumexp")
    assert graph == pytest.approx(value)
    assert value == pytest.approx(math.log1p(math.exp(-0.2)), rel=1e-12)  # closed form by hand


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


def test_allrank_golden_approx_ndcg():
    # allRank tests/test_approxndcg.py::test_approxndcg_ignores_padded
    plain = loss_of(approx_ndcg, [0.5, 0.3, 0.5], [0.5, 0.3, 0.5], alpha=1.0)
    padded = loss_of(approx_ndcg, [0.5, 0.3, 0.5, 1.0], [0.5, 0.3, 0.5, PAD], alpha=1.0)
    assert plain == pytest.approx(-0.8499219417, rel=1e-6)
    assert padded == pytest.approx(plain, rel=1e-12)


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


def test_allrank_listnet_cases():
    # allRank tests/test_listnet.py: the loss is -sum(softmax(y) * log(softmax(s) [+ eps]))
    def expected(s, y, eps):
        p_true = torch.softmax(torch.tensor(y, dtype=torch.float64), 0)
        p = torch.softmax(torch.tensor(s, dtype=torch.float64), 0)
        return -(p_true * torch.log(p + eps)).sum().item()

    assert loss_of(listnet, [0.5, 0.2], [1.0, 0.0], eps=0.0) == pytest.approx(expected([0.5, 0.2], [1, 0], 0))
    # stable for a vanishingly small prediction: finite thanks to eps, as in allRank
    tiny = loss_of(listnet, [0.5, -1e30], [1.0, 0.0])
    assert math.isfinite(tiny) and tiny == pytest.approx(expected([0.5, -1e30], [1, 0], 1e-10))
    padded = loss_of(listnet, [0.5, 0.2, 0.5], [1.0, 0.0, PAD])
    assert padded == pytest.approx(expected([0.5, 0.2], [1, 0], 1e-10))


def allrank_ndcg(s, y, ats=None):
    return ndcg(torch.tensor([s]), torch.tensor([y]), k=ats)[0].item()


def test_allrank_ndcg_cases():
    # allRank tests/losses/test_ndcg.py
    assert allrank_ndcg([0.5, 0.2], [1.0, 0.0]) == 1.0
    assert allrank_ndcg([0.5, 0.2], [0.0, 1.0]) == pytest.approx(1 / math.log2(3))
    assert allrank_ndcg([0.5, 0.2], [0.0, 0.0]) == 0.0
    assert allrank_ndcg([0.5, 0.2, 0.1], [1.0, 0.0, 1.0], ats=1) == pytest.approx(1.0)
    assert allrank_ndcg([0.5, 0.2, 0.1], [1.0, 0.0, 1.0], ats=2) == pytest.approx(
        1.0 / (1.0 + 1 / math.log2(3))
    )
    assert allrank_ndcg([0.5, 0.2, 1.0], [1.0, 0.0, PAD]) == 1.0
    assert allrank_ndcg([0.5, 0.2, 1.0], [0.0, 1.0, PAD]) == pytest.approx(1 / math.log2(3))


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


# ---------------------------------------------------------------------------
# References with explicit loops, from the formulas (papers / allRank code).
# ---------------------------------------------------------------------------


def real_items(s_row, y_row):
    return [(float(s), float(y)) for s, y in zip(s_row, y_row, strict=True) if y != PAD]


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


def ref_listnet(S, Y):
    values = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        items = real_items(s_row, y_row)
        zs = sum(math.exp(s) for s, _ in items)
        zy = sum(math.exp(y) for _, y in items)
        values.append(-sum(math.exp(y) / zy * math.log(math.exp(s) / zs + 1e-10) for s, y in items))
    return sum(values) / len(values)


def ref_listmle(S, Y):
    values = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        ranked = sorted(real_items(s_row, y_row), key=lambda item: -item[1])  # stable
        loss = 0.0
        for r in range(len(ranked)):
            loss += math.log(sum(math.exp(s) for s, _ in ranked[r:])) - ranked[r][0]
        values.append(loss)
    return sum(values) / len(values)


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


@pytest.fixture
def padded_batch():
    gen = torch.Generator().manual_seed(7)
    S = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    Y = torch.randint(0, 4, (4, 7), generator=gen).to(torch.float64)
    Y[0, 5:] = PAD
    Y[2, 3:] = PAD
    Y[1, 0] = PAD  # padding need not be at the end
    Y[:, 1] = torch.where(Y[:, 1] == PAD, Y[:, 1], torch.tensor(3.0, dtype=torch.float64))
    return S, Y


@pytest.mark.parametrize("weight_by", ["none", "diff", "diff_powed"])
def test_ranknet_vs_loop_reference(padded_batch, weight_by):
    S, Y = padded_batch
    out = ranknet({"scores": S}, {"relevance": Y}, weight_by=weight_by, sigma=1.0)
    assert out["loss"].item() == pytest.approx(ref_ranknet(S, Y, weight_by), rel=1e-10)


def test_ranknet_sigma(padded_batch):
    S, Y = padded_batch
    out = ranknet({"scores": S}, {"relevance": Y}, sigma=2.5)
    assert out["loss"].item() == pytest.approx(ref_ranknet(S, Y, sigma=2.5), rel=1e-10)


def test_listnet_vs_loop_reference(padded_batch):
    S, Y = padded_batch
    assert listnet({"scores": S}, {"relevance": Y})["loss"].item() == pytest.approx(
        ref_listnet(S, Y), rel=1e-10
    )


def test_listmle_vs_loop_reference(padded_batch):
    S, Y = padded_batch
    assert listmle({"scores": S}, {"relevance": Y})["loss"].item() == pytest.approx(
        ref_listmle(S, Y), rel=1e-10
    )


@pytest.mark.parametrize("scheme", ["ndcg_loss1", "ndcg_loss2", "ndcg_loss2pp", "lambda_rank", "rank_net"])
@pytest.mark.parametrize("k", [None, 3])
def test_lambda_loss_vs_loop_reference(padded_batch, scheme, k):
    S, Y = padded_batch
    out = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme=scheme, k=k, sigma=1.5, mu=5.0)
    expected = ref_lambda(S, Y, scheme, k=k, sigma=1.5, mu=5.0)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-10)
    if k is not None:
        assert f"ndcg@{k}" in out["metrics"]


def test_lambda_loss_natural_log_and_sum(padded_batch):
    S, Y = padded_batch
    natural = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank", log_base="natural")
    binary = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank")
    assert natural["loss"].item() == pytest.approx(binary["loss"].item() * math.log(2), rel=1e-12)
    total = lambda_loss({"scores": S}, {"relevance": Y}, weighing_scheme="lambda_rank", reduction="sum")
    assert total["loss"].item() == pytest.approx(binary["loss"].item() * 4, rel=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_approx_ndcg_vs_loop_reference(padded_batch, alpha):
    S, Y = padded_batch
    out = approx_ndcg({"scores": S}, {"relevance": Y}, alpha=alpha)
    assert out["loss"].item() == pytest.approx(ref_approx(S, Y, alpha), rel=1e-10)


@pytest.mark.parametrize(("tau", "k"), [(1.0, None), (0.3, 3), (2.0, 2)])
def test_neural_ndcg_vs_allrank_reference(tau, k):
    s_row = [0.5, 0.2, 0.1, 0.4, 1.0, -1.0, 0.63]
    y_row = [1.0, 2.0, 2.0, 4.0, 1.0, 4.0, 3.0]  # allRank tests/losses/test_neuralndcg.py inputs
    expected = ref_neural_ndcg(s_row, y_row, tau, k=k)
    padded_s, padded_y = [*s_row, 1.0, 0.5], [*y_row, PAD, PAD]
    value = loss_of(neural_ndcg, padded_s, padded_y, temperature=tau, k=k)
    # allRank stops Sinkhorn at max_iter=50 or a tolerance of 1e-6; we always run
    # sinkhorn_iterations=50, so the two agree to within that tolerance
    assert value == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("k", [None, 3])
def test_neural_ndcg_allrank_golden_low_temperature(k):
    # allRank tests/losses/test_neuralndcg.py: neuralNDCG(tau=1e-4) == -ndcg (pytest.approx)
    s_row = [0.5, 0.2, 0.1, 0.4, 1.0, -1.0, 0.63]
    y_row = [1.0, 2.0, 2.0, 4.0, 1.0, 4.0, 3.0]
    value = loss_of(neural_ndcg, s_row, y_row, temperature=1e-4, k=k)
    assert -value == pytest.approx(allrank_ndcg(s_row, y_row, ats=k), rel=1e-6)
    tiny = loss_of(neural_ndcg, [0.5, -1e30], [1.0, 0.0], temperature=1e-4)
    assert math.isfinite(tiny) and -tiny == pytest.approx(allrank_ndcg([0.5, -1e30], [1.0, 0.0]))
