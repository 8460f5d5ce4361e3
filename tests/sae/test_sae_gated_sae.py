"""gated_sae (Rajamanoharan et al. 2024a) against a loop reference, and its frozen decoder."""

from __future__ import annotations

import pytest
from sae_references import rand, sq

from losses_sae import gated_sae


def _gated(seed=0, tokens=5, d=4, n=8):
    x = rand(tokens, d, seed=seed)
    gate_pre = rand(tokens, n, seed=seed + 1)
    mag = rand(tokens, n, seed=seed + 2)
    W = rand(n, d, seed=seed + 3)
    b = 0.2 * rand(d, seed=seed + 4)
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
        total += sq(x[t], xh[t]) + lam * l1 + aux_weight * sq(x[t], via_gate)
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
