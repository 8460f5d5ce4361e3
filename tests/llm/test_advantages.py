"""group_advantages: against TRL 1.13's advantage computation (transcribed,
``_pg_trl``) and a loop from the definitions (``_pg_paper``), unscorable
(NaN) rewards, degenerate groups and errors."""

from __future__ import annotations

import math

import pytest
import torch
from _pg_paper import paper_group_advantages
from _pg_trl import trl_group_advantages

from losses_core import LossInputError, LossParameterError
from losses_llm import group_advantages


def _rewards(n: int = 12, stream: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(stream)
    return torch.randn(n, generator=g, dtype=dtype)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("group_size", [1, 3, 4])
def test_equals_trl_and_the_definition(scale, group_size):
    rewards = _rewards()
    got = group_advantages(rewards, group_size, scale=scale)
    # TRL's nanstd computes Bessel's factor count / (count - 1) from integer counts, in float32
    torch.testing.assert_close(got, trl_group_advantages(rewards, group_size, scale), rtol=0, atol=1e-7)
    expected = torch.tensor(paper_group_advantages(rewards.tolist(), group_size, scale), dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_unscorable_rewards_are_left_out_and_get_zero(scale):
    rewards = _rewards(8)
    rewards[1] = math.nan
    rewards[4:8] = math.nan  # a whole group unscorable
    got = group_advantages(rewards, 4, scale=scale)
    torch.testing.assert_close(got, trl_group_advantages(rewards, 4, scale), rtol=0, atol=1e-7)
    assert float(got[1]) == 0.0
    assert bool((got[4:] == 0).all())
    scored = rewards[[0, 2, 3]]
    centred = scored - scored.mean()
    if scale == "group":
        centred = centred / (scored.std() + 1e-4)
    elif scale == "batch":
        centred = centred / (scored.std() + 1e-4)  # the batch's scorable rewards are this group's
    torch.testing.assert_close(got[[0, 2, 3]], centred, rtol=0, atol=1e-12)


def test_equal_rewards_and_groups_of_one_give_zero():
    assert bool((group_advantages(torch.ones(6), 3) == 0).all())
    assert bool((group_advantages(_rewards(5), 1) == 0).all())


def test_batch_scale_centres_per_group_and_divides_by_the_batch_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    got = group_advantages(rewards, 4, scale="batch", eps=1e-6)
    means = torch.tensor([0.25] * 4 + [0.75] * 4, dtype=torch.float64)
    torch.testing.assert_close(got, (rewards - means) / (rewards.std() + 1e-6), rtol=0, atol=1e-12)


def test_integer_and_half_rewards_give_float32():
    assert group_advantages(torch.tensor([1, 0, 0, 1]), 2).dtype == torch.float32
    got = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.5], dtype=torch.bfloat16), 2)
    assert got.dtype == torch.float32


ERRORS = [
    ((torch.zeros(7), 4), {}, LossInputError, "not a multiple of group_size=4"),
    ((torch.zeros(2, 4), 4), {}, LossInputError, "shape [N]"),
    ((torch.zeros(8), 0), {}, LossParameterError, "'group_size'"),
    ((torch.zeros(8), True), {}, LossParameterError, "'group_size'"),
    ((torch.zeros(8), 4), {"scale": "mean"}, LossParameterError, "'scale'"),
    ((torch.zeros(8), 4), {"eps": 0.0}, LossParameterError, "'eps'"),
    ((torch.zeros(8), 4), {"scale": "none", "eps": 1e-6}, LossParameterError, "'eps'"),
    (([0.0, 1.0], 2), {}, LossInputError, "torch.Tensor"),
    ((torch.zeros(4, dtype=torch.bool), 2), {}, LossInputError, "real numbers"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "text"), ERRORS, ids=lambda x: str(x)[:40])
def test_errors(args, kwargs, error, text):
    with pytest.raises(error, match="group_advantages") as info:
        group_advantages(*args, **kwargs)
    assert text in str(info.value)
