"""global_num_items: the target-token count of a step over micro-batches and
data-parallel ranks (transformers' Trainer count: labels[..., 1:] != -100,
summed over the micro-batches, all-reduced over the processes), and the
documented recipe (num_items_in_batch = the global count, the loss times the
world size, DDP's gradient average) gives the gradient of the whole step's
mean, checked for real with two gloo processes."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from _sft_dist import WORLD, data_parallel_weight, micro_batches, run_workers

from losses_core import LossInputError
from losses_llm import causal_lm, global_num_items

needs_gloo = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is required"
)


def _trainer_count(batches):
    # transformers.Trainer._get_num_items_in_batch for a causal LM: labels[..., 1:].ne(-100) summed
    return sum(int(labels[..., 1:].ne(-100).sum()) for labels in batches)


def test_counts_shifted_target_tokens_of_the_micro_batches():
    batches = [mb["labels"] for mb in micro_batches(0)]
    count = global_num_items(batches)
    assert count.dtype == torch.int64 and count.ndim == 0
    assert int(count) == _trainer_count(batches)
    assert int(global_num_items(batches[0])) == _trainer_count(batches[:1])
    assert int(global_num_items(batches, shift=False)) == sum(int((b != -100).sum()) for b in batches)
    other = [b.masked_fill(b == -100, -1) for b in batches]
    assert int(global_num_items(other, ignore_index=-1)) == _trainer_count(batches)
    with pytest.raises(LossInputError, match=r"global_num_items.*empty"):
        global_num_items([])


def test_micro_batches_with_the_global_count_give_the_whole_step_gradient():
    batches = micro_batches(0) + micro_batches(1)
    weight = data_parallel_weight().requires_grad_()
    num_items = global_num_items([mb["labels"] for mb in batches])
    for mb in batches:
        out = causal_lm(
            {"hidden_states": mb["hidden_states"], "lm_head_weight": weight},
            {"labels": mb["labels"]},
            num_items_in_batch=num_items,
        )
        out["loss"].backward()
    expected, whole_weight = _whole_step_mean(batches)
    (expected_grad,) = torch.autograd.grad(expected, [whole_weight])
    torch.testing.assert_close(weight.grad, expected_grad, rtol=1e-10, atol=1e-12)


def _whole_step_mean(batches):
    """The mean over every target token of the step, as one loss (the summed
    per-token losses of all micro-batches over their total count), and the
    head weight it is a function of."""
    weight = data_parallel_weight().requires_grad_()
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for mb in batches:
        logits = mb["hidden_states"] @ weight.t()
        targets = torch.nn.functional.pad(mb["labels"][:, 1:], (0, 1), value=-100)
        mask = targets != -100
        total = total + torch.nn.functional.cross_entropy(logits[mask], targets[mask], reduction="sum")
        count += int(mask.sum())
    return total / count, weight


@pytest.fixture(scope="module")
def results():
    try:
        return run_workers()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@needs_gloo
def test_two_ranks_count_every_micro_batch_of_the_step(results):
    batches = [micro_batches(rank) for rank in range(WORLD)]
    total = _trainer_count([mb["labels"] for part in batches for mb in part])
    unshifted = sum(int((part[0]["labels"] != -100).sum()) for part in batches)
    for per_rank in results:
        got = per_rank["data_parallel"]
        assert int(got["num_items"]) == total
        assert int(got["num_items_group"]) == total
        assert int(got["num_items_unshifted"]) == unshifted


@needs_gloo
def test_ddp_recipe_gives_the_gradient_of_the_whole_step_mean(results):
    batches = [mb for rank in range(WORLD) for mb in micro_batches(rank)]
    expected, whole_weight = _whole_step_mean(batches)
    (expected_grad,) = torch.autograd.grad(expected, [whole_weight])
    logged = sum(sum(per_rank["data_parallel"]["losses"]) for per_rank in results)
    torch.testing.assert_close(logged, expected.detach(), rtol=1e-10, atol=1e-12)
    for per_rank in results:
        torch.testing.assert_close(
            per_rank["data_parallel"]["weight_grad"], expected_grad, rtol=1e-10, atol=1e-12
        )
