"""The curves of the site's figures (docs/_scripts/figure_data.py) are the
formulas the pages state, computed by the packages' functions: each is checked
here against that formula written out independently."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parents[2] / "docs" / "_scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
figure_data = importlib.import_module("figure_data")


def test_schedule_curves_are_the_schedules_of_the_page():
    curves = figure_data.schedule_curves(total_steps=10_000)
    value = {key: dict(zip(steps, values, strict=True)) for key, (steps, values) in curves.items()}
    # linear warm-up over T/4 = 2500 steps: t / 2500, then 1
    assert value["linear_warmup"][0] == 0 and value["linear_warmup"][1250] == 0.5
    assert value["linear_warmup"][2500] == value["linear_warmup"][10_000] == 1
    # 4 cycles of 2500 steps, each ramping over its first half (1250 steps)
    for start in (0, 2500, 5000, 7500):
        assert value["cyclical_annealing"][start] == 0
        assert value["cyclical_annealing"][start + 620] == pytest.approx(620 / 1250)
        assert value["cyclical_annealing"][start + 1250] == value["cyclical_annealing"][start + 2490] == 1
    # capacity C(t) = min(25, 25 t / 5000)
    assert value["linear_capacity"][2500] == 12.5 and value["linear_capacity"][7000] == 25


def test_focal_curves_are_lin_et_al_s_loss_and_gamma_zero_is_cross_entropy():
    p_t, curves = figure_data.focal_curves(gammas=(0.0, 1.0, 2.0, 5.0), points=50)
    p = torch.tensor(p_t, dtype=torch.float64)
    for gamma, loss in curves.items():
        expected = -((1 - p) ** gamma) * torch.log(p)  # FL(p_t) = -(1 - p_t)^gamma log p_t, no alpha
        torch.testing.assert_close(torch.tensor(loss, dtype=torch.float64), expected)
    assert curves[0.0][0] == pytest.approx(-math.log(0.01))
    # a larger gamma lowers the loss of every example with p_t > 0
    for smaller, larger in ((0.0, 1.0), (1.0, 2.0), (2.0, 5.0)):
        assert all(a >= b for a, b in zip(curves[smaller], curves[larger], strict=True))


def test_jumprelu_curves_are_the_rectangle_kernel_pseudo_derivatives():
    curves = figure_data.jumprelu_curves(threshold=0.5, bandwidth=0.2, points=301)
    theta, eps = 0.5, 0.2
    inside = 0
    for z, out, d_out, d_step in zip(
        curves.z, curves.output, curves.d_output_d_threshold, curves.d_step_d_threshold, strict=True
    ):
        assert out == (z if z > theta else 0.0)
        in_window = abs((z - theta) / eps) < 0.5  # K(u) = 1{|u| < 1/2}
        inside += in_window
        assert d_out == pytest.approx(-theta / eps if in_window else 0.0)
        assert d_step == pytest.approx(-1 / eps if in_window else 0.0)
    assert inside > 10  # the window holds points: the check above saw both cases


def test_ndcg_discounts_are_one_over_log2_of_one_plus_the_rank_cut_at_k():
    curves = figure_data.ndcg_discounts(length=12, cutoffs=(5,))
    ranks, dcg = curves["DCG"]
    assert ranks == list(range(1, 13))
    assert dcg == pytest.approx([1 / math.log2(1 + r) for r in ranks])
    # one relevant item: the ideal DCG is 1 (the item at rank 1), so NDCG@5 is its discount up to rank 5
    assert curves["NDCG@5"][1] == pytest.approx([1 / math.log2(1 + r) if r <= 5 else 0.0 for r in ranks])


@pytest.mark.parametrize("advantage", [1.0, -1.0])
@pytest.mark.parametrize(
    ("loss", "params", "low", "high"),
    [("grpo", {"epsilon": 0.2, "epsilon_high": 0.28}, 0.2, 0.28), ("ppo", {"clip_range": 0.2}, 0.2, 0.2)],
)
def test_clipped_objective_is_ppo_s_surrogate(loss, params, low, high, advantage):
    curve = figure_data.clipped_objective(loss, advantage, params, ratios=(0.5, 1.5, 41))
    for ratio, objective, gradient in zip(curve.ratio, curve.objective, curve.gradient, strict=True):
        clipped = min(max(ratio, 1 - low), 1 + high)
        assert objective == pytest.approx(min(ratio * advantage, clipped * advantage))
        # the clipped branch is active (no gradient) above 1 + eps_high for A > 0, below 1 - eps for A < 0
        flat = ratio > 1 + high if advantage > 0 else ratio < 1 - low
        # unclipped: d(rho A)/d log pi = rho A
        assert gradient == pytest.approx(0.0 if flat else ratio * advantage)
