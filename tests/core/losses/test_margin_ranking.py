"""margin_ranking against torch.nn.MarginRankingLoss."""

from __future__ import annotations

import pytest
import torch

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError, loss_from_config
from losses_core.losses import margin_ranking


def pairs(seed=1, n=9, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x1, x2 = torch.randn(2, n, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.where(torch.rand(n, generator=gen) > 0.5, 1.0, -1.0).to(dtype)
    return x1, x2, y


@pytest.mark.parametrize("margin", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(margin, reduction):
    x1, x2, y = pairs()
    out = margin_ranking({"input1": x1, "input2": x2}, {"target": y}, margin=margin, reduction=reduction)
    value = out if reduction == "none" else out["loss"]
    expected = torch.nn.MarginRankingLoss(margin=margin, reduction=reduction)(x1, x2, y)
    torch.testing.assert_close(value, expected)


def test_gradients_match_torch():
    x1, x2, y = pairs(2, n=12)
    leaves = [x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)]
    ours = margin_ranking({"input1": leaves[0], "input2": leaves[1]}, {"target": y}, margin=0.2)["loss"]
    ours_grads = torch.autograd.grad(ours, leaves)
    ref_leaves = [x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)]
    expected = torch.nn.MarginRankingLoss(margin=0.2)(*ref_leaves, y)
    for got, want in zip(ours_grads, torch.autograd.grad(expected, ref_leaves), strict=True):
        torch.testing.assert_close(got, want)


def test_metrics():
    x1 = torch.tensor([2.0, 0.0, 1.0, 0.0])
    x2 = torch.tensor([1.0, 1.0, 1.0, 0.5])
    y = torch.tensor([1.0, 1.0, -1.0, -1.0])
    out = margin_ranking({"input1": x1, "input2": x2}, {"target": y}, margin=0.5)
    # y (x1 - x2) = 1, -1, 0, 0.5: two correctly ordered; losses 0, 1.5, 0.5, 0
    assert out["metrics"]["accuracy"].item() == pytest.approx(0.5)
    assert out["metrics"]["active_fraction"].item() == pytest.approx(0.5)
    assert out["loss"].item() == pytest.approx(0.5)


def test_half_precision_is_computed_in_float32():
    x1, x2, y = pairs(3, dtype=torch.bfloat16)
    out = margin_ranking({"input1": x1, "input2": x2}, {"target": y}, margin=0.1)["loss"]
    assert out.dtype == torch.float32
    expected = torch.nn.MarginRankingLoss(margin=0.1)(x1.float(), x2.float(), y.float())
    torch.testing.assert_close(out, expected)


def test_integer_targets_and_empty_input():
    x1, x2, y = pairs(4)
    ours = margin_ranking({"input1": x1, "input2": x2}, {"target": y.long()})["loss"]
    torch.testing.assert_close(ours, torch.nn.MarginRankingLoss()(x1, x2, y))
    empty = torch.zeros(0, requires_grad=True)
    out = margin_ranking({"input1": empty, "input2": torch.zeros(0)}, {"target": torch.zeros(0)})["loss"]
    assert out.item() == 0.0 and out.requires_grad


def test_errors():
    x1, x2, y = pairs(5)
    with pytest.raises(MissingInputError, match=r"margin_ranking.*input2"):
        LOSSES["margin_ranking"]({"input1": x1}, {"target": y})
    with pytest.raises(LossInputError, match=r"input2.*shape"):
        LOSSES["margin_ranking"]({"input1": x1, "input2": x2[:3]}, {"target": y})
    with pytest.raises(LossInputError, match=r"target.*shape"):
        LOSSES["margin_ranking"]({"input1": x1, "input2": x2}, {"target": y[:3]})
    with pytest.raises(LossParameterError, match="reduction"):
        LOSSES["margin_ranking"]({"input1": x1, "input2": x2}, {"target": y}, reduction="avg")
    with pytest.raises(LossParameterError, match="margin"):
        LOSSES["margin_ranking"]({"input1": x1, "input2": x2}, {"target": y}, margin="big")
    with pytest.raises(LossParameterError, match="input1_key"):
        LOSSES["margin_ranking"]({"input1": x1, "input2": x2}, {"target": y}, input1_key="a")


def test_keys_and_config(tmp_path):
    x1, x2, y = pairs(6)
    path = tmp_path / "loss.yaml"
    path.write_text("loss: {type: margin_ranking, kwargs: {margin: 0.3, keys: {input1: pos, input2: neg}}}\n")
    out = loss_from_config(path)({"pos": x1, "neg": x2}, {"target": y})
    torch.testing.assert_close(out["loss"], torch.nn.MarginRankingLoss(margin=0.3)(x1, x2, y))
