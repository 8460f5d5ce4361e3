"""The built-in losses against torch's own functions and closed forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError, resolve_loss
from losses_core.losses import focal, mse, token_ce

torch.manual_seed(0)


# -- mse ---------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_equals_torch(reduction):
    pred, target = torch.randn(4, 5), torch.randn(4, 5)
    ours = mse({"predictions": pred}, {"target": target}, reduction=reduction)
    torch.testing.assert_close(ours, F.mse_loss(pred, target, reduction=reduction))


def test_mse_mask_prefix_broadcast_is_masked_mean():
    pred, target = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    ours = mse({"predictions": pred}, {"target": target, "mask": mask})
    expected = F.mse_loss(pred[mask], target[mask])
    torch.testing.assert_close(ours, expected)


def test_mse_weights_formula_and_sum():
    pred, target, w = torch.randn(6), torch.randn(6), torch.rand(6)
    e = (pred - target) ** 2
    ours = mse({"predictions": pred}, {"target": target, "mask": w})
    torch.testing.assert_close(ours, (w * e).sum() / w.sum())
    ours_sum = mse({"predictions": pred}, {"target": target, "mask": w}, reduction="sum")
    torch.testing.assert_close(ours_sum, (w * e).sum())


def test_mse_all_zero_mask_is_graph_connected_zero():
    pred = torch.randn(3, requires_grad=True)
    out = mse({"predictions": pred}, {"target": torch.randn(3), "mask": torch.zeros(3)})
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(pred.grad, torch.zeros(3))


def test_mse_weight_key_none_ignores_mask():
    pred, target = torch.randn(3), torch.randn(3)
    out = mse({"predictions": pred}, {"target": target, "mask": torch.zeros(3)}, weight_key=None)
    torch.testing.assert_close(out, F.mse_loss(pred, target))


def test_mse_errors_name_loss_and_key():
    with pytest.raises(MissingInputError, match=r"mse: targets\['target'\] is required"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"y": torch.randn(2)})
    with pytest.raises(LossInputError, match="shape"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"target": torch.randn(3)})
    with pytest.raises(LossParameterError, match="reduction must be one of"):
        LOSSES["mse"]({"predictions": torch.randn(2)}, {"target": torch.randn(2)}, reduction="avg")
    with pytest.raises(LossInputError, match="mask"):
        mse({"predictions": torch.randn(2, 3)}, {"target": torch.randn(2, 3), "mask": torch.ones(3, 2)})


# -- token_ce ----------------------------------------------------------------
CE_CASES = [
    {},
    {"label_smoothing": 0.1},
    {"class_weights": [0.5, 1.0, 2.0, 1.5, 0.2]},
    {"class_weights": [0.5, 1.0, 2.0, 1.5, 0.2], "label_smoothing": 0.2},
    {"ignore_index": 2},
]


@pytest.mark.parametrize("kwargs", CE_CASES)
@pytest.mark.parametrize("shape", [(7,), (2, 6)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_token_ce_equals_torch(kwargs, shape, reduction):
    logits = torch.randn(*shape, 5)
    labels = torch.randint(0, 5, shape)
    labels.view(-1)[0] = kwargs.get("ignore_index", -100)
    ours = token_ce({"logits": logits}, {"labels": labels}, reduction=reduction, **kwargs)["loss"]
    weight = torch.tensor(kwargs["class_weights"]) if "class_weights" in kwargs else None
    expected = F.cross_entropy(
        logits.reshape(-1, 5),
        labels.reshape(-1),
        weight=weight,
        ignore_index=kwargs.get("ignore_index", -100),
        label_smoothing=kwargs.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    torch.testing.assert_close(ours, expected)


def test_token_ce_none_reduction_has_label_shape():
    logits, labels = torch.randn(2, 3, 4), torch.randint(0, 4, (2, 3))
    per_token = token_ce({"logits": logits}, {"labels": labels}, reduction="none")
    expected = F.cross_entropy(logits.permute(0, 2, 1), labels, reduction="none")
    torch.testing.assert_close(per_token, expected)


def test_token_ce_all_ignored_is_zero_not_nan():
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.full((4,), -100)
    assert torch.isnan(F.cross_entropy(logits, labels))
    out = token_ce({"logits": logits}, {"labels": labels})
    assert out["loss"].item() == 0.0
    out["loss"].backward()
    assert torch.equal(logits.grad, torch.zeros(4, 3))


def test_token_ce_num_items_in_batch_matches_one_big_batch():
    logits = torch.randn(2, 5, 4, requires_grad=True)
    labels = torch.randint(0, 4, (2, 5))
    labels[0, :3] = -100
    total_tokens = int((labels != -100).sum())
    full = F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1))
    (g_full,) = torch.autograd.grad(full, logits)
    micro = sum(
        token_ce(
            {"logits": logits[i : i + 1]}, {"labels": labels[i : i + 1]}, num_items_in_batch=total_tokens
        )["loss"]
        for i in range(2)
    )
    (g_micro,) = torch.autograd.grad(micro, logits)
    torch.testing.assert_close(micro, full)
    torch.testing.assert_close(g_micro, g_full)


def test_token_ce_metrics_and_errors():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    out = resolve_loss("token_ce")({"logits": logits}, {"labels": torch.tensor([0, 0, -100])})
    assert out["metrics"]["num_tokens"].item() == 2
    assert out["metrics"]["accuracy"].item() == pytest.approx(0.5)
    with pytest.raises(LossInputError, match="shape"):
        token_ce({"logits": logits}, {"labels": torch.tensor([0, 1])})
    with pytest.raises(LossInputError, match="integer"):
        token_ce({"logits": logits}, {"labels": torch.zeros(3)})
    with pytest.raises(LossParameterError, match="class_weights"):
        token_ce({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, class_weights=[1.0])
    with pytest.raises(LossParameterError, match="num_items_in_batch"):
        token_ce(
            {"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, reduction="sum", num_items_in_batch=3
        )


# -- focal -------------------------------------------------------------------
def reference_sigmoid_focal(logits, labels, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss's published formula, element by element."""
    out = torch.empty_like(logits)
    for i, (x, y) in enumerate(zip(logits.reshape(-1).tolist(), labels.reshape(-1).tolist(), strict=True)):
        p = 1 / (1 + torch.exp(torch.tensor(-x, dtype=torch.float64)))
        ce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
        p_t = p * y + (1 - p) * (1 - y)
        value = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            value = (alpha * y + (1 - alpha) * (1 - y)) * value
        out.view(-1)[i] = value
    return out


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.5, 1.0), (-1, 2.0), (0.25, 0.5)])
def test_sigmoid_focal_matches_reference(alpha, gamma):
    logits = torch.randn(3, 4)
    labels = (torch.rand(3, 4) > 0.5).float()
    ours = focal(
        {"logits": logits},
        {"labels": labels},
        alpha=None if alpha < 0 else alpha,
        gamma=gamma,
        reduction="none",
    )
    torch.testing.assert_close(ours, reference_sigmoid_focal(logits, labels, alpha, gamma))


def test_focal_gamma_zero_no_alpha_equals_cross_entropy():
    logits, labels = torch.randn(5, 3), (torch.rand(5, 3) > 0.5).float()
    torch.testing.assert_close(
        focal({"logits": logits}, {"labels": labels}, alpha=None, gamma=0.0),
        F.binary_cross_entropy_with_logits(logits, labels),
    )
    logits_mc, labels_mc = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, -100, 1])
    torch.testing.assert_close(
        focal({"logits": logits_mc}, {"labels": labels_mc}, mode="softmax", alpha=None, gamma=0.0),
        F.cross_entropy(logits_mc, labels_mc),
    )


def test_softmax_focal_formula_with_per_class_alpha():
    logits, labels = torch.randn(2, 3, 4), torch.randint(0, 4, (2, 3))
    alpha = [0.1, 0.2, 0.3, 0.4]
    ours = focal({"logits": logits}, {"labels": labels}, mode="softmax", alpha=alpha, gamma=2.0)
    p = logits.softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    expected = (torch.tensor(alpha)[labels] * (1 - p) ** 2 * -p.log()).mean()
    torch.testing.assert_close(ours, expected)


def test_seed_focal_example_semantics():
    """Seed 002's class-based FocalLoss: alpha * (1 - pt)**gamma * ce, mean."""
    logits, labels = torch.randn(8, 3), torch.randint(0, 3, (8,))
    ce = F.cross_entropy(logits, labels, reduction="none")
    expected = (0.25 * (1 - torch.exp(-ce)) ** 2.0 * ce).mean()
    ours = LOSSES["focal_loss"]({"logits": logits}, {"labels": labels}, mode="softmax")
    torch.testing.assert_close(ours, expected)


def test_focal_errors():
    logits = torch.randn(3, 2)
    with pytest.raises(LossParameterError, match="mode"):
        focal({"logits": logits}, {"labels": logits}, mode="relu")
    with pytest.raises(LossParameterError, match="alpha"):
        focal({"logits": logits}, {"labels": logits}, alpha=1.5)
    with pytest.raises(LossParameterError, match="per-class alpha"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, mode="softmax", alpha=[1.0])
    with pytest.raises(LossInputError, match="softmax"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1])}, mode="softmax")


@pytest.mark.parametrize("name", ["mse", "token_ce", "focal"])
def test_builtin_gradients_finite(name):
    from losses_core._runtime import lookup

    entry = lookup(name)
    mo, t, params = entry.example_inputs(batch_size=3)
    out = resolve_loss(name, **params)(mo, t)
    out["loss"].backward()
    for value in mo.values():
        if isinstance(value, torch.Tensor) and value.requires_grad:
            assert value.grad is not None and torch.isfinite(value.grad).all()
