"""multi_topk (L(k) + L(4k)/8 + AuxK, Gao et al. 2024, sec. 5.3) against loop references."""

from __future__ import annotations

import pytest
import torch
from sae_references import ref_auxk, ref_sum_mean, top_indices, topk_sae

from losses_core import MissingInputError
from losses_sae import multi_topk


def test_multi_topk_matches_reference():
    mo, tg = topk_sae(seed=16, k=2)
    x, pre = tg["activations"], mo["pre_activations"].detach()
    W, b = mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, d = x.shape
    n = pre.shape[1]
    x_multi = torch.zeros(T, d, dtype=x.dtype)
    for t in range(T):
        for i in top_indices(pre[t], range(n), 8):  # 4k with k=2
            x_multi[t] += max(float(pre[t, i]), 0.0) * W[i]
        x_multi[t] += b
    want = (
        ref_sum_mean(x, mo["reconstruction"].detach())
        + ref_sum_mean(x, x_multi) / 8
        + ref_auxk(mo, tg, k_aux=2, normalize="residual_var") / 32
    )
    out = multi_topk(mo, tg, k=2)
    assert out["loss"].item() == pytest.approx(want, rel=1e-10)
    assert out["metrics"]["multi_topk_reconstruction"].item() == pytest.approx(ref_sum_mean(x, x_multi))
    # multi_k larger than n_latents decodes every positive pre-activation
    every = multi_topk(mo, tg, k=2, multi_k=50, multi_weight=1.0, alpha=0.0)
    dense = pre.relu() @ W + b
    assert every["metrics"]["multi_topk_reconstruction"].item() == pytest.approx(ref_sum_mean(x, dense))


def test_multi_topk_inputs_and_alpha_zero():
    mo, tg = topk_sae(seed=18, k=2)
    out = multi_topk(mo, tg, k=2, alpha=0.0)
    assert set(out["metrics"]) >= {"reconstruction", "multi_topk_reconstruction", "dead_fraction"}
    assert "auxk" not in out["metrics"]
    with pytest.raises(MissingInputError, match=r"multi_topk: input 'dead_mask'"):
        multi_topk(mo, {"activations": tg["activations"]}, k=2)
    with pytest.raises(MissingInputError, match=r"multi_topk: input 'decoder_weight'"):
        multi_topk({k: v for k, v in mo.items() if k != "decoder_weight"}, tg, k=2, alpha=0.0)
    # without a decoder bias the Multi-TopK reconstruction has none either
    no_bias = {k: v for k, v in mo.items() if k != "decoder_bias"}
    x, pre, W = tg["activations"], mo["pre_activations"].detach(), mo["decoder_weight"].detach()
    got = multi_topk(no_bias, tg, k=2, multi_k=50, alpha=0.0)["metrics"]["multi_topk_reconstruction"]
    assert got.item() == pytest.approx(ref_sum_mean(x, pre.relu() @ W))
