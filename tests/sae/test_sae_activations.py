"""losses_sae.activations: the JumpReLU and step pseudo-gradients against
finite differences of the kernel-smoothed step (Rajamanoharan et al. 2024b),
and topk_relu / batch_topk_relu against loops."""

from __future__ import annotations

import pytest
import torch
from sae_references import rand, top_indices

from losses_sae.activations import batch_topk_relu, heaviside_step, jumprelu, topk_relu

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


def test_topk_relu_and_batch_topk_relu_match_loops():
    pre = rand(5, 8, seed=18)
    per_token = topk_relu(pre, 3)
    batch = batch_topk_relu(pre, 3)
    want_token = torch.zeros_like(pre)
    for t in range(5):
        for i in top_indices(pre[t], range(8), 3):
            want_token[t, i] = max(float(pre[t, i]), 0.0)
    flat = [(float(pre[t, i]), t, i) for t in range(5) for i in range(8)]
    want_batch = torch.zeros_like(pre)
    for value, t, i in sorted(flat, reverse=True)[: 3 * 5]:
        want_batch[t, i] = max(value, 0.0)
    torch.testing.assert_close(per_token, want_token)
    torch.testing.assert_close(batch, want_batch)
    assert (batch != 0).sum() <= 15
