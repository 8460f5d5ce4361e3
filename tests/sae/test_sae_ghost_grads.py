"""ghost_grads (Anthropic, January 2024) against a loop reference and SAELens'
formulation, for values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from sae_references import rand

from losses_sae import ghost_grads, sae_loss


def _ghost(seed=0, tokens=5, d=4, n=8, dead=(1, 3, 6)):
    x = rand(tokens, d, seed=seed)
    pre = rand(tokens, n, seed=seed + 1)
    W = rand(n, d, seed=seed + 2)
    f = pre.relu()
    mo = {
        "reconstruction": (0.5 * f @ W).requires_grad_(True),
        "latents": f.requires_grad_(True),
        "pre_activations": pre.requires_grad_(True),
        "decoder_weight": W.requires_grad_(True),
    }
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(dead)] = True
    return mo, {"activations": x, "dead_mask": mask}


def ref_ghost_value(mo, tg):
    """Anthropic's ghost-grads term by loops (per token, sum over d_in)."""
    x, xh = tg["activations"], mo["reconstruction"].detach()
    pre, W = mo["pre_activations"].detach(), mo["decoder_weight"].detach()
    T, d = x.shape
    dead = [i for i in range(pre.shape[1]) if bool(tg["dead_mask"][i])]
    total = 0.0
    for t in range(T):
        r = [float(x[t, j]) - float(xh[t, j]) for j in range(d)]
        g = [sum(math.exp(float(pre[t, i])) * float(W[i, j]) for i in dead) for j in range(d)]
        scale = math.sqrt(sum(v * v for v in r)) / (2 * math.sqrt(sum(v * v for v in g)) + 1e-6)
        q = sum((g[j] * scale - r[j]) ** 2 for j in range(d))
        recon = sum(v * v for v in r)
        total += q * recon / (q + 1e-6)
    return total / T


def ref_ghost_torch(mo, tg):
    """The same term with boolean column selection, as SAELens wrote it (for gradients)."""
    x, xh, pre, W = tg["activations"], mo["reconstruction"], mo["pre_activations"], mo["decoder_weight"]
    dead = tg["dead_mask"]
    residual = x - xh
    ghost = torch.exp(pre[:, dead]) @ W[dead, :]
    scale = residual.norm(dim=-1) / (1e-6 + 2 * ghost.norm(dim=-1))
    ghost = ghost * scale[:, None].detach()
    q = (ghost - residual.detach()).pow(2).sum(-1)
    recon = (xh - x).pow(2).sum(-1)
    return (q * (recon / (q + 1e-6)).detach()).mean()


def test_ghost_grads_matches_reference_value_and_gradients():
    mo, tg = _ghost(seed=7)
    out = ghost_grads(mo, tg, sparsity_weight=0.0)
    assert out["metrics"]["ghost"].item() == pytest.approx(ref_ghost_value(mo, tg), rel=1e-9)
    base = sae_loss(mo, tg, sparsity_weight=0.0)["loss"]
    assert out["loss"].item() == pytest.approx(base.item() + ref_ghost_value(mo, tg), rel=1e-9)
    pre_grad, w_grad = torch.autograd.grad(_ghost_only(mo, tg), [mo["pre_activations"], mo["decoder_weight"]])
    want_pre, want_w = torch.autograd.grad(
        ref_ghost_torch(mo, tg), [mo["pre_activations"], mo["decoder_weight"]]
    )
    torch.testing.assert_close(pre_grad, want_pre, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(w_grad, want_w, rtol=1e-6, atol=1e-9)
    alive = ~tg["dead_mask"]
    assert pre_grad[:, alive].abs().sum() == 0 and w_grad[alive].abs().sum() == 0


def _ghost_only(mo, tg):
    """The ghost term alone, through the public loss (reconstruction and L1 weights zeroed out)."""
    with_ghost = ghost_grads(mo, tg, sparsity_weight=0.0, ghost_weight=1.0)["loss"]
    without = ghost_grads(mo, tg, sparsity_weight=0.0, ghost_weight=0.0)["loss"]
    return with_ghost - without


def test_ghost_grads_zero_without_dead_latents_and_stable_for_large_pre_activations():
    mo, tg = _ghost(seed=8, dead=())
    out = ghost_grads(mo, tg)
    assert out["metrics"]["ghost"].item() == 0.0
    torch.testing.assert_close(out["loss"], sae_loss(mo, tg)["loss"])
    out["loss"].backward()
    assert all(
        torch.isfinite(mo[k].grad).all() for k in ("reconstruction", "pre_activations", "decoder_weight")
    )
    # exp(800) overflows float64; the per-token shift cancels exactly in the scaled ghost output
    mo, tg = _ghost(seed=9)
    shifted = {**mo, "pre_activations": (mo["pre_activations"].detach() + 800.0).requires_grad_(True)}
    big = ghost_grads(shifted, tg)
    assert torch.isfinite(big["loss"])
    assert big["metrics"]["ghost"].item() == pytest.approx(
        ghost_grads(mo, tg)["metrics"]["ghost"].item(), rel=1e-6
    )
    big["loss"].backward()
    assert torch.isfinite(shifted["pre_activations"].grad).all()
