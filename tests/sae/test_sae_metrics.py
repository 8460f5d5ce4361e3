"""losses_sae.metrics against loop references, and their edge cases."""

from __future__ import annotations

import math

import pytest
import torch
from sae_references import rand

from losses_sae import metrics

# ---- loop references (written from the definitions) ---------------------------------------------


def ref_fvu(x, xh):
    T, d = x.shape
    mean = [sum(float(x[t, j]) for t in range(T)) / T for j in range(d)]
    num = sum((float(xh[t, j]) - float(x[t, j])) ** 2 for t in range(T) for j in range(d))
    den = sum((float(x[t, j]) - mean[j]) ** 2 for t in range(T) for j in range(d))
    return num / den


def ref_cos_l2(x, xh):
    T, d = x.shape
    cos = ratio = 0.0
    for t in range(T):
        dot = sum(float(x[t, j]) * float(xh[t, j]) for j in range(d))
        nx = math.sqrt(sum(float(x[t, j]) ** 2 for j in range(d)))
        nh = math.sqrt(sum(float(xh[t, j]) ** 2 for j in range(d)))
        cos += dot / (nx * nh)
        ratio += nh / nx
    return cos / T, ratio / T


def ref_rel_bias(x, xh):
    T, d = x.shape
    num = sum(float(xh[t, j]) ** 2 for t in range(T) for j in range(d))
    den = sum(float(x[t, j]) * float(xh[t, j]) for t in range(T) for j in range(d))
    return num / den


def ref_l0(f):
    T, n = f.shape
    return sum(1 for t in range(T) for i in range(n) if float(f[t, i]) != 0.0) / T


# ---- metrics ------------------------------------------------------------------------------------


def test_metrics_match_loop_references():
    x = rand(7, 5, seed=1)
    xh = x + 0.3 * rand(7, 5, seed=2)
    f = torch.relu(rand(7, 11, seed=3))
    assert metrics.fvu(x, xh).item() == pytest.approx(ref_fvu(x, xh), rel=1e-12)
    assert metrics.explained_variance(x, xh).item() == pytest.approx(1 - ref_fvu(x, xh), rel=1e-12)
    cos, ratio = ref_cos_l2(x, xh)
    assert metrics.cosine_similarity(x, xh).item() == pytest.approx(cos, rel=1e-12)
    assert metrics.l2_ratio(x, xh).item() == pytest.approx(ratio, rel=1e-12)
    assert metrics.relative_reconstruction_bias(x, xh).item() == pytest.approx(ref_rel_bias(x, xh), rel=1e-12)
    assert metrics.l0(f).item() == pytest.approx(ref_l0(f), rel=1e-12)
    together = metrics.reconstruction_metrics(x, xh, f)
    assert together["fvu"].item() == pytest.approx(ref_fvu(x, xh), rel=1e-12)
    assert together["l0"].item() == pytest.approx(ref_l0(f), rel=1e-12)
    assert together["cosine_similarity"].item() == pytest.approx(cos, rel=1e-12)
    assert together["l2_ratio"].item() == pytest.approx(ratio, rel=1e-12)
    assert together["relative_reconstruction_bias"].item() == pytest.approx(ref_rel_bias(x, xh), rel=1e-12)
    assert together["explained_variance"].item() == pytest.approx(1 - ref_fvu(x, xh), rel=1e-12)
    reused = metrics.reconstruction_metrics(x, xh, f, squared_error=(xh - x).square().sum(-1))
    for key, value in together.items():
        torch.testing.assert_close(reused[key], value)


def test_fvu_of_mean_predictor_is_one_and_of_perfect_reconstruction_is_zero():
    x = rand(32, 6, seed=4) * 3 + 5
    mean_predictor = x.mean(dim=0, keepdim=True).expand_as(x)
    assert metrics.fvu(x, mean_predictor).item() == pytest.approx(1.0, abs=1e-12)
    assert metrics.explained_variance(x, mean_predictor).item() == pytest.approx(0.0, abs=1e-12)
    assert metrics.fvu(x, x).item() == 0.0
    assert metrics.explained_variance(x, x).item() == 1.0


def test_fvu_is_ratio_of_sums_not_mean_of_ratios_nor_variance_about_zero():
    # tokens with very different scales: the three definitions SAELens has used disagree
    x = torch.tensor([[10.0, 0.0], [0.0, 1.0], [3.0, 3.0]], dtype=torch.float64)
    xh = torch.tensor([[9.0, 0.5], [0.2, 0.7], [3.0, 2.0]], dtype=torch.float64)
    per_token_mean = ((xh - x).square().sum(-1) / (x - x.mean(0)).square().sum(-1)).mean().item()
    about_zero = ((xh - x).square().sum() / x.square().sum()).item()
    value = metrics.fvu(x, xh).item()
    assert value == pytest.approx(ref_fvu(x, xh), rel=1e-12)
    assert value != pytest.approx(per_token_mean, rel=1e-3)
    assert value != pytest.approx(about_zero, rel=1e-3)


def test_relative_reconstruction_bias_measures_shrinkage():
    x = rand(20, 4, seed=5)
    assert metrics.relative_reconstruction_bias(x, 0.7 * x).item() == pytest.approx(0.7, rel=1e-12)
    assert metrics.l2_ratio(x, 0.7 * x).item() == pytest.approx(0.7, rel=1e-12)
    assert metrics.cosine_similarity(x, 0.7 * x).item() == pytest.approx(1.0, rel=1e-12)


def test_metrics_flatten_leading_dims_and_are_detached():
    x = rand(2, 3, 5, seed=6).requires_grad_(True)
    xh = x.detach() + 0.1
    f = torch.relu(rand(2, 3, 8, seed=7))
    flat = metrics.reconstruction_metrics(x.detach().reshape(6, 5), xh.reshape(6, 5), f.reshape(6, 8))
    nested = metrics.reconstruction_metrics(x, xh, f)
    for key, value in nested.items():
        assert value.ndim == 0 and not value.requires_grad
        torch.testing.assert_close(value, flat[key])


def test_metrics_zero_denominators_give_zero_not_nan():
    x = torch.ones(4, 3)  # no variance across tokens
    zero = torch.zeros(4, 3)
    assert metrics.fvu(x, x + 1).item() == 0.0
    assert metrics.cosine_similarity(zero, x).item() == 0.0
    assert metrics.l2_ratio(zero, x).item() == 0.0
    assert metrics.relative_reconstruction_bias(x, zero).item() == 0.0
    assert metrics.min_positive_activation(-torch.ones(3, 4)).item() == 0.0
    for value in metrics.reconstruction_metrics(zero, zero, zero).values():
        assert torch.isfinite(value)


def test_half_precision_metrics_are_float32():
    x = rand(6, 4, seed=8, dtype=torch.float32)
    out = metrics.reconstruction_metrics(x.bfloat16(), (x + 0.1).bfloat16(), torch.relu(x).bfloat16())
    assert {v.dtype for v in out.values()} == {torch.float32}
    assert metrics.fvu(x.bfloat16(), x.bfloat16()).dtype == torch.float32


def test_min_positive_activation():
    f = torch.tensor([[0.0, 0.5, 2.0], [0.0, 0.0, 0.25], [-1.0, 0.0, 0.0]])
    assert metrics.min_positive_activation(f).item() == 0.25


def test_metrics_compile_fullgraph():
    x = rand(5, 3, seed=9, dtype=torch.float32)
    xh = x + 0.2
    f = torch.relu(rand(5, 7, seed=10, dtype=torch.float32))
    compiled = torch.compile(metrics.reconstruction_metrics, fullgraph=True, backend="aot_eager")
    got, want = compiled(x, xh, f), metrics.reconstruction_metrics(x, xh, f)
    for key in want:
        torch.testing.assert_close(got[key], want[key])


def test_fvu_of_a_batch_without_variance_is_zero_and_explained_variance_one():
    # every token the same vector: the fraction is undefined (e / 0); 0 is returned, never NaN
    x = torch.tensor([[1.0, -2.0, 0.5]] * 5, dtype=torch.float64)
    wrong = x + 1.0
    assert metrics.fvu(x, wrong).item() == 0.0
    assert metrics.explained_variance(x, wrong).item() == 1.0
    together = metrics.reconstruction_metrics(x, wrong)
    assert together["fvu"].item() == 0.0 and together["explained_variance"].item() == 1.0
    assert metrics.fvu(x[:1], wrong[:1]).item() == 0.0  # a single token
