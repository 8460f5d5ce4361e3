"""JumpReLU: the straight-through pseudo-gradients against finite differences of
the kernel-smoothed step (Rajamanoharan et al. 2024b), and the JumpReLU losses
against loop references."""

from __future__ import annotations

import math

import pytest
import torch

from losses_sae import jumprelu_loss, jumprelu_target_l0
from losses_sae.activations import heaviside_step, jumprelu

EPS = 0.001
# offsets (h - theta) / eps: inside and outside the kernel window, away from its edges at +-1/2
OFFSETS = [-1.3, -0.8, -0.3, -0.1, 0.05, 0.2, 0.33, 0.9, 3.0]


def _window_inputs(n_latents=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = 0.2 + torch.rand(n_latents, generator=g, dtype=torch.float64)
    columns = []
    for i in range(n_latents):
        offsets = torch.tensor(OFFSETS, dtype=torch.float64)[torch.randperm(len(OFFSETS), generator=g)]
        columns.append(theta[i] + EPS * offsets)
    return torch.stack(columns, dim=1), theta  # [tokens, n_latents], [n_latents]


def smoothed_step(h_col, theta, eps, grid=4000):
    """sum_t of the step H(h - theta - eps*u) averaged over u ~ rectangle kernel on (-1/2, 1/2),
    by midpoint quadrature (the kernel-smoothed step of the paper)."""
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid - 0.5
    return (h_col.unsqueeze(-1) - theta - eps * u > 0).to(torch.float64).mean(dim=-1).sum().item()


def finite_difference(fn, theta, delta):
    return (fn(theta + delta) - fn(theta - delta)) / (2 * delta)


def _threshold_grads(fn, h, theta):
    theta = theta.clone().requires_grad_(True)
    h = h.clone().requires_grad_(True)
    fn(h, theta).sum().backward()
    return h.grad, theta.grad


@pytest.mark.parametrize("compiled", [False, True])
def test_step_pseudo_gradient_matches_finite_difference_of_kernel_smoothed_step(compiled):
    h, theta = _window_inputs(seed=1)

    def step(h, th):
        return heaviside_step(h, th, bandwidth=EPS)

    fn = torch.compile(step, fullgraph=True, backend="aot_eager") if compiled else step
    assert torch.equal(fn(h, theta), (h > theta).to(h.dtype))
    h_grad, theta_grad = _threshold_grads(fn, h, theta)
    assert h_grad is None or h_grad.abs().sum() == 0  # the step passes no gradient to the pre-activations
    for i in range(theta.shape[0]):
        fd = finite_difference(lambda th, i=i: smoothed_step(h[:, i], th, EPS), float(theta[i]), EPS / 8)
        assert fd != 0
        assert theta_grad[i].item() == pytest.approx(fd, rel=1e-2)


@pytest.mark.parametrize("compiled", [False, True])
def test_jumprelu_pseudo_gradient_matches_finite_difference(compiled):
    h, theta = _window_inputs(seed=2)

    def fn(h, th):
        return jumprelu(h, th, bandwidth=EPS)

    fn = torch.compile(fn, fullgraph=True, backend="aot_eager") if compiled else fn
    assert torch.equal(fn(h, theta), torch.where(h > theta, h, torch.zeros_like(h)))
    h_grad, theta_grad = _threshold_grads(fn, h, theta)
    torch.testing.assert_close(h_grad, (h > theta).to(h.dtype))
    for i in range(theta.shape[0]):
        theta0 = float(theta[i])
        # the jump of size theta, smoothed by the kernel (the paper's pseudo-derivative -theta/eps K)
        fd = finite_difference(
            lambda th, i=i, t0=theta0: t0 * smoothed_step(h[:, i], th, EPS), theta0, EPS / 8
        )
        assert theta_grad[i].item() == pytest.approx(fd, rel=1e-2)
        # and close to smoothing z * H(z - theta) itself, whose jump is z = theta + O(eps)
        u = (torch.arange(4000, dtype=torch.float64) + 0.5) / 4000 - 0.5

        def smoothed_jumprelu(th, col=h[:, i], u=u):
            return (col.unsqueeze(-1) * (col.unsqueeze(-1) - th - EPS * u > 0)).mean(dim=-1).sum().item()

        fd_z = finite_difference(smoothed_jumprelu, theta0, EPS / 8)
        assert theta_grad[i].item() == pytest.approx(fd_z, rel=EPS / theta0 + 1e-2)


def test_shared_scalar_threshold_gets_summed_gradient():
    h = torch.tensor([[0.5, 0.5004], [0.49999, 0.7]], dtype=torch.float64)
    theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    heaviside_step(h, theta, bandwidth=EPS).sum().backward()
    assert theta.grad.item() == pytest.approx(-3 / EPS)
    with pytest.raises(ValueError, match="bandwidth"):
        heaviside_step(h, theta, bandwidth=0.0)


# ---- losses ---------------------------------------------------------------------------------------


def _jumprelu_sae(seed=3, tokens=6, d=4, n=7, bandwidth=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, d, generator=g, dtype=torch.float64)
    pre = torch.randn(tokens, n, generator=g, dtype=torch.float64)
    theta = torch.full((n,), 0.3, dtype=torch.float64)
    decoder = torch.randn(n, d, generator=g, dtype=torch.float64)
    latents = jumprelu(pre, theta, bandwidth=bandwidth)
    mo = {
        "reconstruction": (latents @ decoder).requires_grad_(True),
        "latents": latents.requires_grad_(True),
        "pre_activations": pre.requires_grad_(True),
        "threshold": theta.requires_grad_(True),
        "decoder_weight": decoder.requires_grad_(True),
    }
    dead = torch.tensor([i % 2 == 0 for i in range(n)])
    return mo, {"activations": x, "dead_mask": dead}


def ref_recon(x, xh):
    T, d = x.shape
    return sum((float(xh[t, j]) - float(x[t, j])) ** 2 for t in range(T) for j in range(d)) / T


def test_jumprelu_step_mode_matches_reference_value_and_threshold_gradient():
    mo, tg = _jumprelu_sae()
    x, pre, theta = tg["activations"], mo["pre_activations"].detach(), mo["threshold"].detach()
    T, n = pre.shape
    out = jumprelu_loss(mo, tg, sparsity_weight=0.05, bandwidth=0.2)
    l0 = sum(1 for t in range(T) for i in range(n) if float(pre[t, i]) > float(theta[i])) / T
    assert out["loss"].item() == pytest.approx(
        ref_recon(x, mo["reconstruction"].detach()) + 0.05 * l0, rel=1e-12
    )
    assert out["metrics"]["sparsity"].item() == pytest.approx(l0)
    out["loss"].backward()
    for i in range(n):
        in_window = sum(1 for t in range(T) if abs(float(pre[t, i]) - float(theta[i])) / 0.2 < 0.5)
        assert mo["threshold"].grad[i].item() == pytest.approx(-0.05 * in_window / (0.2 * T))
    assert mo["pre_activations"].grad is None or mo["pre_activations"].grad.abs().sum() == 0


def test_jumprelu_tanh_mode_and_pre_activation_loss_match_reference():
    mo, tg = _jumprelu_sae(seed=4)
    x, f, pre = tg["activations"], mo["latents"].detach(), mo["pre_activations"].detach()
    theta, W = mo["threshold"].detach(), mo["decoder_weight"].detach()
    T, n = f.shape
    norms = [float(W[i].norm()) for i in range(n)]
    tanh_pen = sum(math.tanh(4.0 * abs(float(f[t, i])) * norms[i]) for t in range(T) for i in range(n)) / T

    def pre_act(dead_only):
        return (
            sum(
                max(float(theta[i]) - float(pre[t, i]), 0.0) * norms[i]
                for t in range(T)
                for i in range(n)
                if not dead_only or bool(tg["dead_mask"][i])
            )
            / T
        )

    recon = ref_recon(x, mo["reconstruction"].detach())
    for latents_sel, dead_only in (("all", False), ("dead", True)):
        out = jumprelu_loss(
            mo, tg, mode="tanh", sparsity_weight=0.1, pre_act_weight=0.5, pre_act_latents=latents_sel
        )
        assert out["metrics"]["sparsity"].item() == pytest.approx(tanh_pen, rel=1e-12)
        assert out["metrics"]["pre_act"].item() == pytest.approx(pre_act(dead_only), rel=1e-12)
        want = recon + 0.1 * tanh_pen + 0.5 * pre_act(dead_only)
        assert out["loss"].item() == pytest.approx(want, rel=1e-12)
    out["loss"].backward()
    assert torch.isfinite(mo["decoder_weight"].grad).all() and mo["latents"].grad.abs().sum() > 0


@pytest.mark.parametrize("target", [1.0, 50.0])
def test_jumprelu_target_l0_matches_reference(target):
    mo, tg = _jumprelu_sae(seed=5)
    x, pre, theta = tg["activations"], mo["pre_activations"].detach(), mo["threshold"].detach()
    T, n = pre.shape
    l0 = sum(1 for t in range(T) for i in range(n) if float(pre[t, i]) > float(theta[i])) / T
    out = jumprelu_target_l0(mo, tg, target_l0=target, sparsity_weight=2.0, bandwidth=0.2)
    penalty = (l0 / target - 1) ** 2
    assert out["loss"].item() == pytest.approx(ref_recon(x, mo["reconstruction"].detach()) + 2.0 * penalty)
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
