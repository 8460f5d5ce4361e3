"""losses_core.tensors: precision, masks and pairwise geometry."""

from __future__ import annotations

import torch

from losses_core.tensors import as_float, at_least_float32, euclidean_distances, label_masks


def test_at_least_float32_upcasts_half_precision_only() -> None:
    half = torch.ones(2, dtype=torch.bfloat16, requires_grad=True)
    up = at_least_float32(half)
    assert up.dtype == torch.float32
    up.sum().backward()
    assert half.grad is not None and half.grad.dtype == torch.bfloat16
    double = torch.ones(2, dtype=torch.float64)
    assert at_least_float32(double) is double


def test_as_float() -> None:
    mask = torch.tensor([True, False, True])
    assert as_float(mask, torch.float64).tolist() == [1.0, 0.0, 1.0]
    assert as_float(mask, torch.float64).dtype == torch.float64


def test_euclidean_distances_match_cdist_and_never_nan() -> None:
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(euclidean_distances(x, y), torch.cdist(x, y))
    d = euclidean_distances(x)
    off = ~torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(d[off], torch.cdist(x, x)[off])
    assert torch.allclose(d.diagonal(), torch.full((5,), 1e-6, dtype=torch.float64))
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_label_masks_with_and_without_an_offset() -> None:
    labels = torch.tensor([0, 1, 0])
    positive, negative = label_masks(labels)
    assert positive.tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 0]]
    assert negative.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    # the rank's rows 1..2 of a gathered batch of four
    gathered = torch.tensor([1, 0, 1, 0])
    positive, negative = label_masks(gathered[1:3], gathered, offset=1)
    assert positive.tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]
    assert negative.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]


def test_as_float_casts_masks_that_are_not_bool() -> None:
    assert as_float(torch.tensor([1.0, 0.0]), torch.float64).tolist() == [1.0, 0.0]
    assert as_float(torch.tensor([1, 0]), torch.float32).tolist() == [1.0, 0.0]
