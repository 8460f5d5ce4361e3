"""listnet: allRank's published ListNet cases and a loop reference written
from the formula."""

from __future__ import annotations

import math

import pytest
import torch

from losses_ranking import listnet

from ._data import loss_of, padded_batch, real_items


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
    padded = loss_of(listnet, [0.5, 0.2, 0.5], [1.0, 0.0, -1.0])
    assert padded == pytest.approx(expected([0.5, 0.2], [1, 0], 1e-10))


def ref_listnet(S, Y, eps=1e-10):
    values = []
    for s_row, y_row in zip(S.tolist(), Y.tolist(), strict=True):
        items = real_items(s_row, y_row)
        zs = sum(math.exp(s) for s, _ in items)
        zy = sum(math.exp(y) for _, y in items)
        values.append(-sum(math.exp(y) / zy * math.log(math.exp(s) / zs + eps) for s, y in items))
    return sum(values) / len(values)


@pytest.mark.parametrize("eps", [1e-10, 0.0, 0.1])
def test_listnet_vs_loop_reference(eps):
    S, Y = padded_batch()
    value = listnet({"scores": S}, {"relevance": Y}, eps=eps)["loss"].item()
    assert value == pytest.approx(ref_listnet(S, Y, eps), rel=1e-10)
