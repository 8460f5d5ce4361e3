"""multi_topk (L(k) + L(4k)/8 + AuxK, Gao et al. 2024, sec. 5.3) against loop references."""

from __future__ import annotations

import pytest
import torch
from sae_references import ref_auxk, ref_sum_mean, top_indices, topk_sae

from losses_core import MissingInputError
from losses_sae import multi_topk, sae_loss


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
    # the dead mask is read only by AuxK: with alpha=0 it may be left out
    no_mask = multi_topk(mo, {"activations": tg["activations"]}, k=2, alpha=0.0)
    torch.testing.assert_close(no_mask["loss"], out["loss"])
    assert "auxk" not in no_mask["metrics"] and "dead_fraction" not in no_mask["metrics"]
    torch.testing.assert_close(
        no_mask["metrics"]["multi_topk_reconstruction"], out["metrics"]["multi_topk_reconstruction"]
    )
    # and with alpha > 0 (the default 1/32) its absence is named
    with pytest.raises(MissingInputError) as info:
        multi_topk(mo, {"activations": tg["activations"]}, k=2)
    assert info.value.args[0] == (
        "multi_topk: input 'dead_mask' (targets['dead_mask']) is required when alpha > 0 (the AuxK term); "
        "pass it, map it with keys=, or set alpha=0"
    )
    # the Multi-TopK term decodes the pre-activations with the decoder: required whatever alpha
    for key in ("decoder_weight", "pre_activations"):
        missing = rf"multi_topk: input '{key}' is required at model_output"
        with pytest.raises(MissingInputError, match=missing):
            multi_topk({k: v for k, v in mo.items() if k != key}, tg, k=2, alpha=0.0)
    # without a decoder bias the Multi-TopK reconstruction has none either
    no_bias = {k: v for k, v in mo.items() if k != "decoder_bias"}
    x, pre, W = tg["activations"], mo["pre_activations"].detach(), mo["decoder_weight"].detach()
    got = multi_topk(no_bias, tg, k=2, multi_k=50, alpha=0.0)["metrics"]["multi_topk_reconstruction"]
    assert got.item() == pytest.approx(ref_sum_mean(x, pre.relu() @ W))


def test_multi_topk_alpha_zero_and_no_multi_weight_is_the_plain_reconstruction_loss():
    mo, tg = topk_sae(seed=19, k=2)
    out = multi_topk(mo, {"activations": tg["activations"]}, k=2, alpha=0.0, multi_weight=0.0)
    plain = sae_loss(mo, {"activations": tg["activations"]}, sparsity_weight=0.0)
    torch.testing.assert_close(out["loss"], plain["loss"])
