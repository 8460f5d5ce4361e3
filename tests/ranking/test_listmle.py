"""listmle: allRank's published ListMLE value, a loop reference written from
the formula, and its tie-breaking (deterministic by default, at random with a
``torch.Generator``). Its Plackett-Luce normaliser is tested on its own in
test_plackett_luce.py."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from losses_ranking import listmle

from ._data import PAD, loss_of, padded_batch, real_items


def test_allrank_golden_listmle():
    # allRank tests/losses/test_listmle.py::test_listmle_ignores_padded_value
    value = loss_of(listmle, [0.5, 0.3, 0.5], [1.0, 0.0, PAD])
    assert value == pytest.approx(0.5981389284133911, rel=1e-6)
    graph = loss_of(listmle, [0.5, 0.3, 0.5], [1.0, 0.0, PAD], normalizer="logcumsumexp")
    assert graph == pytest.approx(value)
    assert value == pytest.approx(math.log1p(math.exp(-0.2)), rel=1e-12)  # closed form by hand


def ref_listmle(S, Y):
    values = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        ranked = sorted(real_items(s_row, y_row), key=lambda item: -item[1])  # stable
        loss = 0.0
        for r in range(len(ranked)):
            loss += math.log(sum(math.exp(s) for s, _ in ranked[r:])) - ranked[r][0]
        values.append(loss)
    return sum(values) / len(values)


@pytest.mark.parametrize("normalizer", ["auto", "logcumsumexp"])
def test_listmle_vs_loop_reference(normalizer):
    S, Y = padded_batch()
    value = listmle({"scores": S}, {"relevance": Y}, normalizer=normalizer)["loss"].item()
    assert value == pytest.approx(ref_listmle(S, Y), rel=1e-10)


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
    for state in range(40):
        gen = torch.Generator().manual_seed(state)
        got = listmle({"scores": scores}, {"relevance": relevance}, generator=gen)["loss"].item()
        again = listmle(
            {"scores": scores}, {"relevance": relevance}, generator=torch.Generator().manual_seed(state)
        )["loss"].item()
        assert got == again  # reproducible for a generator in the same state
        assert round(got, 10) in possible
        seen.add(round(got, 10))
    assert len(seen) > 3  # ties really are broken at random
