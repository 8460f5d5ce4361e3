"""The learning-to-rank losses and metrics of ``losses_ranking`` against allRank
1.4.3 itself (the published package, loaded by ``allrank_reference``), on random
batches (seeded; lists of 5 and 17 items, with and without padding): every
loss in each of its allRank configurations gives allRank's value and allRank's
gradient with respect to the scores, and ``ndcg``/``mrr`` give allRank's metrics.

Tolerances follow allRank's arithmetic: float64 rounding (1e-12) where both
compute the same float64 formula; 1e-6 where allRank rounds to float32: its
discounts ``log2(1 + r)`` (lambdaLoss, approxNDCG, ndcg) and rankNet's value
(``BCEWithLogitsLoss`` with float32 targets). neuralNDCG only runs on float32
inputs and stops Sinkhorn once the marginals are within 1e-6 of 1 (we always
run 50 iterations): values agree to 1e-6, gradients to 1e-4 of their largest entry.

Documented differences, asserted as relationships instead of equalities:

- all-padded lists: ours leaves them out (its mean is over the other lists),
  where allRank's listNet gives NaN and its listMLE and approxNDCG count them as
  0 in their batch mean; ours == allRank on the batch without those lists.
- padding position: ours accept padding anywhere; allRank's neuralNDCG masks
  the NeuralSort rows (ranks) by the items' padding, so it assumes trailing
  padding (its data loader's layout). Ours == allRank with the padding moved to the end.
- listMLE: ours has no ``eps`` inside the log (allRank is given ``eps=1e-30`` here,
  not 0, which would give NaN gradients at padded slots); its random
  tie-breaking is avoided by labels without ties.
- lambdaLoss: ours' ``reduction="sum"`` is allRank's ``"sum"``; ours' default
  ``"mean"`` is that sum divided by the number of lists (allRank's ``"mean"``,
  over pairs, is not offered). allRank takes the scheme by name (a string).
- ndcg: allRank fills 1.0 for a list with ideal DCG 0, ours ``no_relevant_value`` (0 by default;
  test_metrics.py asserts that relationship).
- mrr: allRank ranks the item with the largest label (the first such), ours the
  first relevant item: equal on 0/1 labels with one relevant item per list, and
  allRank's mrr == ours on the indicator of each list's largest label.
"""

from __future__ import annotations

import pytest
import torch

from losses_ranking import approx_ndcg, lambda_loss, listmle, listnet, neural_ndcg, ranknet
from losses_ranking.metrics import mrr, ndcg

from .allrank_reference import load

AR_LOSSES, AR_METRICS = load()
PAD = -1.0  # allRank's PADDED_Y_VALUE
EXACT, F32 = 1e-12, 1e-6
CASES = [(0, 5, False), (1, 5, True), (2, 17, False), (3, 17, True)]  # (seed, list length, padded)


def make_batch(seed, length, padded, *, batch=6, distinct=False):
    """float32-representable float64 scores (allRank's neuralNDCG needs float32) and
    labels 0..4, or without ties (``distinct``); ``padded``: every list but the first
    is cut to a random length >= 2 by trailing ``-1``."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, length, generator=gen).double()
    if distinct:
        labels = torch.stack([torch.randperm(length, generator=gen) for _ in range(batch)]) * 0.5
    else:
        labels = torch.randint(0, 5, (batch, length), generator=gen)
    if padded:
        lengths = torch.randint(2, length + 1, (batch,), generator=gen)
        lengths[0] = length
    else:
        lengths = torch.full((batch,), length)
    real = torch.arange(length) < lengths.unsqueeze(-1)
    return scores, torch.where(real, labels.double(), PAD)


def ours(loss, **params):
    def fn(scores, relevance):
        return loss({"scores": scores}, {"relevance": relevance}, compute_metrics=False, **params)["loss"]

    return fn


def theirs(name, float32=False, **params):
    def fn(scores, relevance):
        if float32:
            scores, relevance = scores.float(), relevance.float()
        with torch.random.fork_rng(devices=[]):  # listMLE's randperm must not move the global RNG
            return getattr(AR_LOSSES, name)(scores, relevance, **params)

    return fn


def lambda_mean_times_lists(scores, relevance):
    value = ours(lambda_loss, weighing_scheme="ndcg_loss2pp", sigma=1.5, mu=5.0)(scores, relevance)
    return value * (relevance != PAD).any(dim=-1).sum()


SCHEMES = {
    "ndcg_loss1": "ndcgLoss1_scheme",
    "ndcg_loss2": "ndcgLoss2_scheme",
    "ndcg_loss2pp": "ndcgLoss2PP_scheme",
    "lambda_rank": "lambdaRank_scheme",
    "rank_net": "rankNet_scheme",
}


def config(our_fn, their_fn, value_tol=F32, grad_tol=F32, distinct=False):
    """(ours, allRank, value tolerance, gradient tolerance, labels without ties)"""
    return our_fn, their_fn, value_tol, grad_tol, distinct


CONFIGS = {
    "ranknet": config(ours(ranknet), theirs("rankNet"), grad_tol=EXACT),
    "ranknet-diff": config(
        ours(ranknet, weight_by="diff"), theirs("rankNet", weight_by_diff=True), grad_tol=EXACT
    ),
    "ranknet-diff_powed": config(
        ours(ranknet, weight_by="diff_powed"), theirs("rankNet", weight_by_diff_powed=True), grad_tol=EXACT
    ),
    "listnet": config(ours(listnet, eps=1e-10), theirs("listNet", eps=1e-10), EXACT, EXACT),
    "listmle": config(ours(listmle), theirs("listMLE", eps=1e-30), EXACT, EXACT, distinct=True),
    **{
        f"lambda-{scheme}-k{k}": config(
            ours(lambda_loss, weighing_scheme=scheme, k=k, sigma=1.5, mu=5.0, reduction="sum"),
            theirs("lambdaLoss", weighing_scheme=SCHEMES[scheme], k=k, sigma=1.5, mu=5.0, reduction="sum"),
            *((EXACT, EXACT) if scheme == "rank_net" else (F32, F32)),  # the one scheme without discounts
        )
        for scheme in SCHEMES
        for k in (None, 3)
    },
    "lambda-lambda_rank-natural": config(
        ours(lambda_loss, weighing_scheme="lambda_rank", log_base="natural", reduction="sum"),
        theirs("lambdaLoss", weighing_scheme="lambdaRank_scheme", reduction_log="natural"),
    ),
    "lambda-mean-times-lists": config(
        lambda_mean_times_lists, theirs("lambdaLoss", weighing_scheme="ndcgLoss2PP_scheme", sigma=1.5, mu=5.0)
    ),
    **{
        f"approx-alpha{alpha}": config(ours(approx_ndcg, alpha=alpha), theirs("approxNDCGLoss", alpha=alpha))
        for alpha in (1.0, 2.5)
    },
    **{
        f"neural-t{tau}-k{k}": config(
            ours(neural_ndcg, temperature=tau, k=k),
            theirs("neuralNDCG", float32=True, temperature=tau, k=k),
            grad_tol=1e-4,
        )
        for tau, k in [(0.5, None), (1.0, 3), (2.0, None)]
    },
}


def value_and_grad(fn, scores, relevance):
    leaf = scores.clone().requires_grad_()
    value = fn(leaf, relevance)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.item(), grad.double()


def assert_agree(our_fn, their_fn, scores, relevance, value_tol, grad_tol):
    """Values to ``value_tol`` (relative), gradients to ``grad_tol`` times the largest entry."""
    our_value, our_grad = value_and_grad(our_fn, scores, relevance)
    their_value, their_grad = value_and_grad(their_fn, scores, relevance)
    assert our_value == pytest.approx(their_value, rel=value_tol, abs=0)
    atol = grad_tol * their_grad.abs().max().item()
    torch.testing.assert_close(our_grad, their_grad, rtol=0, atol=atol)


@pytest.mark.parametrize(("seed", "length", "padded"), CASES)
@pytest.mark.parametrize("config", CONFIGS)
def test_loss_matches_allrank(config, seed, length, padded):
    our_fn, their_fn, value_tol, grad_tol, distinct = CONFIGS[config]
    scores, relevance = make_batch(seed, length, padded, distinct=distinct)
    assert_agree(our_fn, their_fn, scores, relevance, value_tol, grad_tol)


@pytest.mark.parametrize("config", CONFIGS)
def test_all_padded_list_is_left_out(config):
    our_fn, their_fn, value_tol, grad_tol, distinct = CONFIGS[config]
    scores, relevance = make_batch(4, 7, True, batch=5, distinct=distinct)
    relevance[2] = PAD
    keep = torch.tensor([0, 1, 3, 4])

    def without_empty_list(s, y):
        return their_fn(s[keep], y[keep])

    # the gradient allRank gives through the indexing is 0 on the empty list: so must ours be
    assert_agree(our_fn, without_empty_list, scores, relevance, value_tol, grad_tol)


@pytest.mark.parametrize("config", CONFIGS)
def test_padding_anywhere_matches_trailing_padding(config):
    our_fn, their_fn, value_tol, grad_tol, distinct = CONFIGS[config]
    scores, relevance = make_batch(5, 9, True, distinct=distinct)
    gen = torch.Generator().manual_seed(6)
    shuffle = torch.stack([torch.randperm(9, generator=gen) for _ in range(len(scores))])

    def shuffled(s, y):  # padding scattered through each list; gradients flow back to s
        return our_fn(s.gather(1, shuffle), y.gather(1, shuffle))

    assert (relevance.gather(1, shuffle)[:, :-1] == PAD).any()  # some padding is not trailing
    assert_agree(shuffled, their_fn, scores, relevance, value_tol, grad_tol)


@pytest.mark.parametrize(("seed", "length", "padded"), CASES)
@pytest.mark.parametrize("k", [None, 1, 3, 10])
def test_ndcg_matches_allrank(seed, length, padded, k):
    scores, relevance = make_batch(seed, length, padded)
    relevance[1] = torch.where(relevance[1] == PAD, PAD, 0.0)  # a list without a relevant item
    expected = AR_METRICS.ndcg(scores, relevance, ats=None if k is None else [k])[:, 0]
    value = ndcg(scores, relevance, k=k, no_relevant_value=1.0)  # allRank's filler_value
    torch.testing.assert_close(value, expected, rtol=F32, atol=0)


def top_label_indicator(relevance):
    """1 for the items holding their list's largest label, 0 for the others, PAD kept."""
    top = relevance == relevance.amax(dim=-1, keepdim=True)
    return torch.where(relevance == PAD, PAD, top.double())


@pytest.mark.parametrize(("seed", "length", "padded"), CASES)
@pytest.mark.parametrize("k", [None, 1, 3])
def test_mrr_matches_allrank(seed, length, padded, k):
    ats = None if k is None else [k]
    scores, distinct = make_batch(seed, length, padded, distinct=True)
    one_relevant = top_label_indicator(distinct)  # 0/1, one relevant item per list: same definition
    assert ((one_relevant == 1).sum(dim=-1) == 1).all()
    expected = AR_METRICS.mrr(scores, one_relevant, ats=ats)[:, 0]
    torch.testing.assert_close(mrr(scores, one_relevant, k=k), expected, rtol=0, atol=0)

    _, graded = make_batch(seed, length, padded)  # ties, several relevant items
    has_relevant = graded.amax(dim=-1) > 0
    expected = AR_METRICS.mrr(scores, graded, ats=ats)[:, 0]
    value = mrr(scores, top_label_indicator(graded), k=k)
    torch.testing.assert_close(value[has_relevant], expected[has_relevant], rtol=0, atol=0)
