"""jumprelu_target_l0 (dictionary_learning's target-L0 penalty) against a loop reference."""

from __future__ import annotations

import pytest
from sae_references import jumprelu_sae, ref_sum_mean

from losses_sae import jumprelu_target_l0


@pytest.mark.parametrize("target", [1.0, 50.0])
def test_jumprelu_target_l0_matches_reference(target):
    mo, tg = jumprelu_sae(seed=5)
    x, pre, theta = tg["activations"], mo["pre_activations"].detach(), mo["threshold"].detach()
    T, n = pre.shape
    l0 = sum(1 for t in range(T) for i in range(n) if float(pre[t, i]) > float(theta[i])) / T
    out = jumprelu_target_l0(mo, tg, target_l0=target, sparsity_weight=2.0, bandwidth=0.2)
    penalty = (l0 / target - 1) ** 2
    assert out["loss"].item() == pytest.approx(ref_sum_mean(x, mo["reconstruction"].detach()) + 2.0 * penalty)
    assert out["metrics"]["l0_estimate"].item() == pytest.approx(l0)
    out["loss"].backward()
    for i in range(n):
        in_window = sum(1 for t in range(T) if abs(float(pre[t, i]) - float(theta[i])) / 0.2 < 0.5)
        dl0 = -in_window / (0.2 * T)
        want = 2.0 * 2 * (l0 / target - 1) / target * dl0
        assert mo["threshold"].grad[i].item() == pytest.approx(want, abs=1e-12)
    # above the target the penalty raises thresholds (descent direction), below it lowers them
    grads = mo["threshold"].grad
    assert (grads <= 0).all() if l0 > target else (grads >= 0).all()
