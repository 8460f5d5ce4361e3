"""mse against torch.nn.functional.mse_loss and its masked-mean closed form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError
from losses_core.losses import mse

torch.manual_seed(0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_equals_torch(reduction):
    pred, target = torch.randn(4, 5), torch.randn(4, 5)
    ours = mse({"predictions": pred}, {"target": target}, reduction=reduction)
    torch.testing.assert_close(ours, F.mse_loss(pred, target, reduction=reduction))


def test_mask_prefix_broadcast_is_masked_mean():
    pred, target = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    ours = mse({"predictions": pred}, {"target": target, "mask": mask})
    expected = F.mse_loss(pred[mask], target[mask])
    torch.testing.assert_close(ours, expected)


def test_weights_formula_and_sum():
    pred, target, w = torch.randn(6), torch.randn(6), torch.rand(6)
    e = (pred - target) ** 2
    ours = mse({"predictions": pred}, {"target": target, "mask": w})
    torch.testing.assert_close(ours, (w * e).sum() / w.sum())
    ours_sum = mse({"predictions": pred}, {"target": target, "mask": w}, reduction="sum")
    torch.testing.assert_close(ours_sum, (w * e).sum())


def test_all_zero_mask_is_graph_connected_zero():
    pred = torch.randn(3, requires_grad=True)
    out = mse({"predictions": pred}, {"target": torch.randn(3), "mask": torch.zeros(3)})
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(pred.grad, torch.zeros(3))


def test_mask_mapped_to_an_absent_key_is_ignored():
    pred, target = torch.randn(3), torch.randn(3)
    out = mse({"predictions": pred}, {"target": target, "mask": torch.zeros(3)}, keys={"mask": "no_mask"})
    torch.testing.assert_close(out, F.mse_loss(pred, target))


def test_keys_map_other_dict_keys():
    pred, target = torch.randn(3), torch.randn(3)
    out = LOSSES["MSE"]({"recon": pred}, {"x": target}, keys={"predictions": "recon", "target": "x"})
    torch.testing.assert_close(out, F.mse_loss(pred, target))


def test_errors_name_loss_and_key():
    with pytest.raises(MissingInputError, match=r"mse: input 'target' is required at targets\['target'\]"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"y": torch.randn(2)})
    with pytest.raises(LossInputError, match="shape"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"target": torch.randn(3)})
    with pytest.raises(LossParameterError, match=r"reduction.*must be one of"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"target": torch.randn(2)}, reduction="avg")
    with pytest.raises(LossInputError, match="mask"):
        mse({"predictions": torch.randn(2, 3)}, {"target": torch.randn(2, 3), "mask": torch.ones(3, 2)})
    with pytest.raises(LossParameterError, match="weight_key"):
        mse({"predictions": torch.randn(2)}, {"target": torch.randn(2)}, weight_key=None)
