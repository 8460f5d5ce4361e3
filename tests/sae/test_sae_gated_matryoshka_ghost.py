"""Gated SAE, Matryoshka and ghost-grads losses against loop references written
from the papers / the Anthropic update."""

from __future__ import annotations

import math

import pytest
import torch

from losses_core import LossParameterError
from losses_sae import gated_sae, ghost_grads, matryoshka, sae_loss, topk_auxk
from losses_sae.matryoshka import default_group_sizes


def _rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _sq(a, b):
    return sum((float(a[j]) - float(b[j])) ** 2 for j in range(a.shape[0]))


# ---- Gated SAE ------------------------------------------------------------------------------------


def _gated(seed=0, tokens=5, d=4, n=8):
    x = _rand(tokens, d, seed=seed)
    gate_pre = _rand(tokens, n, seed=seed + 1)
    mag = _rand(tokens, n, seed=seed + 2)
    W = _rand(n, d, seed=seed + 3)
    b = 0.2 * _rand(d, seed=seed + 4)
    f = (gate_pre > 0).to(x.dtype) * mag.relu()
    mo = {
        "reconstruction": (f @ W + b).requires_grad_(True),
        "latents": f,
        "pre_activations": gate_pre.requires_grad_(True),
        "decoder_weight": W.requires_grad_(True),
        "decoder_bias": b.requires_grad_(True),
    }
    return mo, {"activations": x}


def ref_gated(mo, tg, lam, aux_weight, norm_weighted):
    x, xh = tg["activations"], mo["reconstruction"].detach()
    gate_pre, W, b = (mo[k].detach() for k in ("pre_activations", "decoder_weight", "decoder_bias"))
    T, n = gate_pre.shape
    total = 0.0
    for t in range(T):
        gate = [max(float(gate_pre[t, i]), 0.0) for i in range(n)]
        l1 = sum(gate[i] * (float(W[i].norm()) if norm_weighted else 1.0) for i in range(n))
        via_gate = b.clone()
        for i in range(n):
            via_gate += gate[i] * W[i]
        total += _sq(x[t], xh[t]) + lam * l1 + aux_weight * _sq(x[t], via_gate)
    return total / T


@pytest.mark.parametrize("norm_weighted", [False, True])
def test_gated_sae_matches_reference(norm_weighted):
    mo, tg = _gated(seed=1)
    out = gated_sae(mo, tg, sparsity_weight=0.3, aux_weight=0.7, decoder_norm_weighted=norm_weighted)
    assert out["loss"].item() == pytest.approx(ref_gated(mo, tg, 0.3, 0.7, norm_weighted), rel=1e-12)
    assert set(out["metrics"]) >= {"reconstruction", "l1_gate", "aux_reconstruction", "l0", "fvu"}


def test_gated_sae_auxiliary_term_uses_a_frozen_decoder():
    mo, tg = _gated(seed=2)
    gated_sae(mo, tg)["loss"].backward()
    assert mo["decoder_weight"].grad is None and mo["decoder_bias"].grad is None
    assert mo["pre_activations"].grad.abs().sum() > 0  # the gate path is trained by L1 + aux
    mo, tg = _gated(seed=2)
    gated_sae(mo, tg, detach_decoder=False)["loss"].backward()  # SAELens behaviour
    assert mo["decoder_weight"].grad.abs().sum() > 0


# ---- Matryoshka -----------------------------------------------------------------------------------


def _matryoshka(seed=0, tokens=5, d=3, n=8):
    x = _rand(tokens, d, seed=seed)
    f = _rand(tokens, n, seed=seed + 1).relu()
    W = _rand(n, d, seed=seed + 2)
    b = 0.1 * _rand(d, seed=seed + 3)
    mo = {"latents": f.requires_grad_(True), "decoder_weight": W.requires_grad_(True), "decoder_bias": b}
    return mo, {"activations": x}


def ref_matryoshka(mo, tg, group_sizes, weights, lam=0.0):
    x = tg["activations"]
    f, W, b = mo["latents"].detach(), mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, n = f.shape
    ends, end = [], 0
    for size in group_sizes:
        end += size
        ends.append(end)
    total = 0.0
    for weight, end in zip(weights, ends, strict=True):
        err = 0.0
        for t in range(T):
            x_hat = b.clone()
            for i in range(end):
                x_hat += float(f[t, i]) * W[i]
            err += _sq(x[t], x_hat)
        total += weight * err / T
    l1 = sum(abs(float(f[t, i])) for t in range(T) for i in range(n)) / T
    return total + lam * l1


def test_matryoshka_matches_reference():
    mo, tg = _matryoshka(seed=3)
    out = matryoshka(mo, tg, group_sizes=[1, 3, 4])
    assert out["loss"].item() == pytest.approx(ref_matryoshka(mo, tg, [1, 3, 4], [1 / 3] * 3), rel=1e-12)
    weighted = matryoshka(mo, tg, group_sizes=[2, 6], group_weights=[0.25, 2.0], sparsity_weight=0.1)
    assert weighted["loss"].item() == pytest.approx(
        ref_matryoshka(mo, tg, [2, 6], [0.25, 2.0], 0.1), rel=1e-12
    )
    prefixes = weighted["auxiliary"]["prefix_reconstruction"]
    assert prefixes.shape == (2,)
    assert prefixes[1].item() == pytest.approx(weighted["metrics"]["reconstruction_full"].item())
    full = mo["latents"].detach() @ mo["decoder_weight"].detach() + mo["decoder_bias"]
    torch.testing.assert_close(weighted["auxiliary"]["reconstruction"].detach(), full)


def test_matryoshka_default_groups_and_single_group_equals_plain_sae():
    assert default_group_sizes(16) == [2, 2, 4, 8]
    assert default_group_sizes(3) == [1, 2]
    assert default_group_sizes(1) == [1]
    mo, tg = _matryoshka(seed=4)
    out = matryoshka(mo, tg)
    assert out["loss"].item() == pytest.approx(ref_matryoshka(mo, tg, [1, 1, 2, 4], [0.25] * 4), rel=1e-12)
    single = matryoshka(mo, tg, group_sizes=[8], sparsity_weight=0.05)
    full = mo["latents"] @ mo["decoder_weight"] + mo["decoder_bias"]
    plain = sae_loss({"reconstruction": full, "latents": mo["latents"]}, tg, sparsity_weight=0.05)
    torch.testing.assert_close(single["loss"], plain["loss"])


def test_matryoshka_auxk_matches_topk_auxk_on_the_full_reconstruction():
    mo, tg = _matryoshka(seed=5)
    pre = _rand(5, 8, seed=9).requires_grad_(True)
    dead = torch.tensor([False, True, False, False, True, True, False, False])
    out = matryoshka({**mo, "pre_activations": pre}, {**tg, "dead_mask": dead}, alpha=0.5, k_aux=2)
    full = (mo["latents"] @ mo["decoder_weight"] + mo["decoder_bias"]).detach()
    ref = topk_auxk(
        {**mo, "reconstruction": full, "pre_activations": pre}, {**tg, "dead_mask": dead}, alpha=0.5, k_aux=2
    )
    torch.testing.assert_close(out["metrics"]["auxk"], ref["metrics"]["auxk"])
    assert out["metrics"]["auxk"].item() > 0


def test_matryoshka_rejects_bad_groups():
    mo, tg = _matryoshka(seed=6)
    with pytest.raises(LossParameterError, match="sum to n_latents = 8"):
        matryoshka(mo, tg, group_sizes=[2, 2])
    with pytest.raises(LossParameterError, match="one weight per group"):
        matryoshka(mo, tg, group_sizes=[4, 4], group_weights=[1.0])
    with pytest.raises(LossParameterError, match="ints >= 1"):
        matryoshka(mo, tg, group_sizes=[0, 8])


# ---- ghost grads ----------------------------------------------------------------------------------


def _ghost(seed=0, tokens=5, d=4, n=8, dead=(1, 3, 6)):
    x = _rand(tokens, d, seed=seed)
    pre = _rand(tokens, n, seed=seed + 1)
    W = _rand(n, d, seed=seed + 2)
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
