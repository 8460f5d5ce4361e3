"""focal against torchvision's published sigmoid formula, cross-entropy and
the class-based softmax focal loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES, LossInputError, LossParameterError, resolve_loss
from losses_core.losses import focal


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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
def test_sigmoid_matches_reference(alpha, gamma):
    logits = torch.randn(3, 4, generator=gen(0))
    labels = (torch.rand(3, 4, generator=gen(1)) > 0.5).float()
    ours = focal(
        {"logits": logits},
        {"labels": labels},
        alpha=None if alpha < 0 else alpha,
        gamma=gamma,
        reduction="none",
    )
    expected = reference_sigmoid_focal(logits, labels, alpha, gamma)
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(
        focal({"logits": logits}, {"labels": labels}, alpha=None if alpha < 0 else alpha, gamma=gamma),
        expected.mean(),
    )


def test_sigmoid_bool_labels_and_sum():
    logits = torch.randn(5, 3, generator=gen(2))
    labels = torch.rand(5, 3, generator=gen(3)) > 0.5
    ours = focal({"logits": logits}, {"labels": labels}, reduction="sum")
    torch.testing.assert_close(ours, reference_sigmoid_focal(logits, labels.float(), 0.25, 2.0).sum())


def test_gamma_zero_no_alpha_equals_cross_entropy():
    logits, labels = torch.randn(5, 3, generator=gen(4)), (torch.rand(5, 3, generator=gen(5)) > 0.5).float()
    torch.testing.assert_close(
        focal({"logits": logits}, {"labels": labels}, alpha=None, gamma=0.0),
        F.binary_cross_entropy_with_logits(logits, labels),
    )
    logits_mc, labels_mc = torch.randn(6, 4, generator=gen(6)), torch.tensor([0, 1, 2, 3, -100, 1])
    torch.testing.assert_close(
        focal({"logits": logits_mc}, {"labels": labels_mc}, mode="softmax", alpha=None, gamma=0.0),
        F.cross_entropy(logits_mc, labels_mc),
    )


def test_softmax_formula_with_per_class_alpha():
    logits, labels = torch.randn(2, 3, 4, generator=gen(7)), torch.randint(0, 4, (2, 3), generator=gen(8))
    alpha = [0.1, 0.2, 0.3, 0.4]
    ours = focal({"logits": logits}, {"labels": labels}, mode="softmax", alpha=alpha, gamma=2.0)
    p = logits.softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    expected = (torch.tensor(alpha)[labels] * (1 - p) ** 2 * -p.log()).mean()
    torch.testing.assert_close(ours, expected)
    registry = LOSSES["focal"]({"logits": logits}, {"labels": labels}, mode="softmax", alpha=alpha)
    torch.testing.assert_close(registry, expected)
    overridden = resolve_loss("focal", mode="softmax")({"logits": logits}, {"labels": labels}, alpha=alpha)
    torch.testing.assert_close(overridden["loss"], expected)


def test_resolve_loss_binds_a_per_class_alpha():
    logits, labels = torch.randn(6, 4, generator=gen(9)), torch.randint(0, 4, (6,), generator=gen(10))
    alpha = [0.1, 0.2, 0.3, 0.4]
    bound = resolve_loss("focal", mode="softmax", alpha=alpha)
    expected = focal({"logits": logits}, {"labels": labels}, mode="softmax", alpha=alpha)
    torch.testing.assert_close(bound({"logits": logits}, {"labels": labels})["loss"], expected)


def test_class_based_focal_semantics():
    """The usual class-based FocalLoss: alpha * (1 - pt)**gamma * ce, mean."""
    logits, labels = torch.randn(8, 3, generator=gen(11)), torch.randint(0, 3, (8,), generator=gen(12))
    ce = F.cross_entropy(logits, labels, reduction="none")
    expected = (0.25 * (1 - torch.exp(-ce)) ** 2.0 * ce).mean()
    ours = LOSSES["focal"]({"logits": logits}, {"labels": labels}, mode="softmax")
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("mode", ["sigmoid", "softmax"])
def test_ignore_index_contributes_nothing(mode):
    logits = torch.randn(6, 3, generator=gen(13), requires_grad=True)
    if mode == "sigmoid":
        labels = (torch.rand(6, 3, generator=gen(14)) > 0.5).float()
        labels[0, 1] = labels[4, 2] = -100
        keep = labels != -100
    else:
        labels = torch.tensor([0, 1, -100, 2, -100, 1])
        keep = labels != -100
    per = focal({"logits": logits}, {"labels": labels}, mode=mode, reduction="none")
    assert torch.all(per[~keep] == 0)
    mean = focal({"logits": logits}, {"labels": labels}, mode=mode)
    torch.testing.assert_close(mean, per[keep].mean())
    mean.backward()
    assert torch.all(logits.grad[~keep] == 0)  # elements (sigmoid) or rows (softmax)
    if mode == "sigmoid":
        expected = reference_sigmoid_focal(logits.detach()[keep], labels[keep], 0.25, 2.0).mean()
        torch.testing.assert_close(mean.detach(), expected)


@pytest.mark.parametrize("mode", ["sigmoid", "softmax"])
def test_all_ignored_is_graph_connected_zero(mode):
    logits = torch.randn(3, 2, requires_grad=True)
    labels = torch.full((3, 2) if mode == "sigmoid" else (3,), -100)
    out = focal({"logits": logits}, {"labels": labels}, mode=mode)
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(logits.grad, torch.zeros(3, 2))


@pytest.mark.parametrize("mode", ["sigmoid", "softmax"])
def test_saturated_predictions_give_finite_gradients_for_gamma_below_one(mode):
    logits = torch.tensor([[40.0, -40.0], [-40.0, 40.0]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]]) if mode == "sigmoid" else torch.tensor([0, 1])
    alpha = 0.25 if mode == "sigmoid" else None
    out = focal({"logits": logits}, {"labels": labels}, mode=mode, gamma=0.5, alpha=alpha)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(logits.grad).all()


def test_alpha_checks():
    logits = torch.randn(3, 2)
    labels = (torch.rand(3, 2) > 0.5).float()
    with pytest.raises(
        LossParameterError, match=r"'alpha' must be a number in \[0, 1\] or None in sigmoid mode"
    ):
        focal({"logits": logits}, {"labels": labels}, alpha=1.5)
    with pytest.raises(LossParameterError, match="sigmoid mode"):
        focal({"logits": logits}, {"labels": labels}, alpha=[0.2, 0.8])
    with pytest.raises(LossParameterError, match=r"alpha.*>= 0"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, mode="softmax", alpha=-0.5)
    with pytest.raises(LossParameterError, match=r"alpha.*>= 0"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, mode="softmax", alpha=[0.5, -0.5])
    with pytest.raises(LossParameterError, match=r"alpha.*empty"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, mode="softmax", alpha=[])
    with pytest.raises(LossParameterError, match=r"alpha.*one value per class \(2\)"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1, 0])}, mode="softmax", alpha=[1.0])
    with pytest.raises(LossParameterError, match="alpha"):
        focal({"logits": logits}, {"labels": labels}, alpha="0.25")
    # a scalar factor outside [0, 1] is fine in softmax mode
    softmax_labels = torch.tensor([0, 1, 0])
    doubled = focal({"logits": logits}, {"labels": softmax_labels}, mode="softmax", alpha=2.0)
    single = focal({"logits": logits}, {"labels": softmax_labels}, mode="softmax", alpha=1.0)
    torch.testing.assert_close(doubled, 2 * single)


def test_other_errors():
    logits = torch.randn(3, 2)
    with pytest.raises(LossParameterError, match="mode"):
        focal({"logits": logits}, {"labels": logits}, mode="relu")
    with pytest.raises(LossParameterError, match="gamma"):
        focal({"logits": logits}, {"labels": logits}, gamma=-1.0)
    with pytest.raises(LossInputError, match="sigmoid mode they must match"):
        focal({"logits": logits}, {"labels": torch.zeros(3)})
    with pytest.raises(LossInputError, match="softmax"):
        focal({"logits": logits}, {"labels": torch.tensor([0, 1])}, mode="softmax")
    with pytest.raises(LossInputError, match="integer dtype"):
        focal({"logits": logits}, {"labels": torch.zeros(3)}, mode="softmax")
    with pytest.raises(LossInputError, match="floating"):
        focal({"logits": torch.zeros(3, 2, dtype=torch.long)}, {"labels": logits})
