"""losses_llm._tokens: label shifting as Hugging Face models expect it, and
per-token label log-probabilities equal to log_softmax + gather."""

from __future__ import annotations

import torch

from losses_llm._tokens import label_log_probs, shift_labels


def test_shift_labels_moves_left_and_ignores_the_last_position():
    labels = torch.tensor([[1, 2, 3, 4], [5, 6, -100, -100]])
    assert shift_labels(labels).tolist() == [[2, 3, 4, -100], [6, -100, -100, -100]]
    assert shift_labels(labels, ignore_index=-1).tolist() == [[2, 3, 4, -1], [6, -100, -100, -1]]


def test_shifted_labels_align_with_transformers_slicing():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 7, (2, 5), generator=g)
    shifted = shift_labels(labels)
    # transformers slices instead: logits[:, :-1] against labels[:, 1:]
    mask = shifted != -100
    ours = label_log_probs(logits, shifted, mask)[:, :-1]
    theirs = torch.log_softmax(logits[:, :-1], -1).gather(-1, labels[:, 1:].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


def test_label_log_probs_is_zero_off_the_mask_and_never_indexes_ignored_labels():
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, -100, 3])
    mask = labels != -100
    values = label_log_probs(logits, labels, mask)
    assert values[1] == 0
    expected = torch.log_softmax(logits, -1)[[0, 2], [1, 3]]
    torch.testing.assert_close(values[[0, 2]], expected)
    values.sum().backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad[1]) == 0


def test_label_log_probs_is_float32_for_bfloat16_logits():
    logits = torch.randn(2, 3, 5).bfloat16()
    labels = torch.tensor([[0, 1, 2], [3, 4, 0]])
    values = label_log_probs(logits, labels, torch.ones_like(labels, dtype=torch.bool))
    assert values.dtype == torch.float32
    torch.testing.assert_close(
        values, torch.log_softmax(logits.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    )
