"""causal_lm with vocab_parallel=True, run for real in two processes on the
gloo backend (CPU, localhost): each rank holds the same tokens and its
contiguous half of the vocabulary (logits [..., V/2], or the head rows
[V/2, H] and bias [V/2] with the hidden states), and every rank's loss,
metrics and gradients equal the single-process loss on the whole vocabulary:
the logits' and head's gradients are the rank's slice of the whole gradient,
the hidden states' gradient is the whole gradient on every rank."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from _sft_dist import VOCAB_CASES, WORLD, V, run_workers, upstream, vocab_batch

from losses_llm import causal_lm
from losses_llm._vocab_parallel import VocabShard

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is required"
)

TOL = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture(scope="module")
def results():
    try:
        return run_workers()
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _single_process(path, bias, params):
    batch = vocab_batch(bias)
    if path == "logits":
        inputs = {"logits": batch["logits"].clone().requires_grad_()}
    else:
        keys = ("hidden_states", "lm_head_weight") + (("lm_head_bias",) if bias else ())
        inputs = {k: batch[k].clone().requires_grad_() for k in keys}
    out = causal_lm(inputs, {"labels": batch["labels"]}, **params)
    loss = out["loss"]
    (loss * upstream() if loss.ndim else loss).sum().backward()
    return loss.detach(), out["metrics"], {k: v.grad for k, v in inputs.items()}


@pytest.mark.parametrize(("case", "path", "bias", "params"), VOCAB_CASES, ids=[c[0] for c in VOCAB_CASES])
def test_two_vocabulary_shards_equal_the_whole_vocabulary(results, case, path, bias, params):
    loss, metrics, grads = _single_process(path, bias, params)
    local = V // WORLD
    for rank, per_rank in enumerate(results):
        got = per_rank["vocab"][case]
        torch.testing.assert_close(got["loss"], loss, **TOL)
        assert got["metrics"].keys() == metrics.keys()
        for key, value in metrics.items():
            torch.testing.assert_close(got["metrics"][key], value, **TOL)
        cols = slice(rank * local, (rank + 1) * local)
        for key, whole in grads.items():
            if key == "logits":
                expected = whole[..., cols]
            elif key in ("lm_head_weight", "lm_head_bias"):
                expected = whole[cols]
            else:  # the hidden states: summed over the shards
                expected = whole
            torch.testing.assert_close(got["grads"][key], expected, **TOL)


def test_the_cases_have_targets_on_both_shards():
    labels = vocab_batch(False)["labels"]
    targets = labels[:, 1:][labels[:, 1:] != -100]  # shifted targets
    local = V // WORLD
    assert (targets < local).any() and (targets >= local).any()


def test_unequal_shards_raise_on_every_rank(results):
    for rank, per_rank in enumerate(results):
        message = per_rank["unequal"]
        assert "equal vocabulary shards" in message
        assert f"'logits' is {7 + rank} on rank {rank}" in message
        assert "from 7 to 8" in message


def test_shard_layout_is_contiguous_and_equal():
    shards = [VocabShard(None, rank, 4, 250) for rank in range(4)]
    assert [s.offset for s in shards] == [0, 250, 500, 750]
    assert {s.vocab_size for s in shards} == {1000}
