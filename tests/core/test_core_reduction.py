"""losses_core.reduction: one reduction convention for every loss."""

from __future__ import annotations

import pytest
import torch

from losses_core.reduction import reduce, safe_divide

VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize(("reduction", "expected"), [("mean", VALUES.mean()), ("sum", VALUES.sum())])
def test_without_mask_matches_torch(reduction: str, expected: torch.Tensor) -> None:
    torch.testing.assert_close(reduce(VALUES, reduction), expected)  # type: ignore[arg-type]
    assert reduce(VALUES, "none") is VALUES


def test_bool_and_float_masks_select_and_weigh() -> None:
    mask = torch.tensor([[True, False, True], [False, False, True]])
    assert reduce(VALUES, "sum", mask).item() == 1 + 3 + 6
    assert reduce(VALUES, "mean", mask).item() == pytest.approx((1 + 3 + 6) / 3)
    torch.testing.assert_close(reduce(VALUES, "none", mask), VALUES * mask)
    weights = torch.tensor([0.5, 2.0]).unsqueeze(-1)  # broadcast over the last dimension
    expected = (VALUES * weights).sum() / (weights.expand_as(VALUES)).sum()
    torch.testing.assert_close(reduce(VALUES, "mean", weights), expected)


def test_empty_selection_is_a_graph_connected_zero_never_nan() -> None:
    values = VALUES.clone().requires_grad_(True)
    out = reduce(values, "mean", torch.zeros(2, 3, dtype=torch.bool))
    assert out.item() == 0.0 and out.requires_grad
    out.backward()
    assert values.grad is not None and torch.equal(values.grad, torch.zeros(2, 3))
    empty = torch.zeros(0, requires_grad=True)
    assert reduce(empty, "mean").item() == 0.0  # torch's mean of nothing is NaN


def test_safe_divide_never_nan_in_value_or_gradient() -> None:
    num = torch.tensor([1.0, 2.0], requires_grad=True)
    den = torch.tensor([2.0, 0.0], requires_grad=True)
    out = safe_divide(num, den)
    assert out.tolist() == [0.5, 0.0]
    out.sum().backward()
    assert num.grad is not None and den.grad is not None
    assert torch.isfinite(num.grad).all() and torch.isfinite(den.grad).all()
    assert num.grad.tolist() == [0.5, 0.0]


def test_an_unknown_reduction_is_an_error_with_or_without_a_mask() -> None:
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none', got 'avg'"):
        reduce(VALUES, "avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got 'avg'"):
        reduce(VALUES, "avg", torch.ones(2, 3))  # type: ignore[arg-type]
