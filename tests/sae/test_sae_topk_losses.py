"""TopK + AuxK, Multi-TopK and BatchTopK against loop references written from
Gao et al. 2024 and Bussmann et al. 2024."""

from __future__ import annotations

import pytest
import torch

from losses_sae import batch_topk, multi_topk, topk_auxk
from losses_sae.activations import batch_topk_relu, topk_relu


def _rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _sae(tokens=7, d=4, n=10, k=3, seed=0, dead=(1, 4, 6, 9)):
    x = _rand(tokens, d, seed=seed)
    pre = _rand(tokens, n, seed=seed + 1)
    decoder = _rand(n, d, seed=seed + 2)
    bias = 0.1 * _rand(d, seed=seed + 3)
    latents = topk_relu(pre, k)
    mo = {
        "reconstruction": (latents @ decoder + bias).requires_grad_(True),
        "latents": latents,
        "pre_activations": pre.requires_grad_(True),
        "decoder_weight": decoder.requires_grad_(True),
        "decoder_bias": bias,
    }
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(dead)] = True
    return mo, {"activations": x, "dead_mask": mask}


def _top_indices(row, candidates, k):
    """Indices of the k largest entries of ``row`` among ``candidates`` (by sorting)."""
    return sorted(candidates, key=lambda i: -float(row[i]))[:k]


def ref_sum_mean(x, xh):
    T, d = x.shape
    return sum((float(xh[t, j]) - float(x[t, j])) ** 2 for t in range(T) for j in range(d)) / T


def ref_total_var(v):
    T, d = v.shape
    mean = [sum(float(v[t, j]) for t in range(T)) / T for j in range(d)]
    return sum((float(v[t, j]) - mean[j]) ** 2 for t in range(T) for j in range(d))


def ref_auxk(mo, tg, *, k_aux, normalize, include_bias=False, dead_scale=False):
    """AuxK from the paper: decode the top-k_aux dead pre-activations (ReLU'd) and fit the residual."""
    x = tg["activations"]
    xh, pre = mo["reconstruction"].detach(), mo["pre_activations"].detach()
    W, b = mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, d = x.shape
    n = pre.shape[1]
    dead = [i for i in range(n) if bool(tg["dead_mask"][i])]
    if not dead:
        return 0.0
    k = min(k_aux, n)
    residual = x - xh
    error = 0.0
    for t in range(T):
        chosen = _top_indices(pre[t], dead, k)
        e_hat = [sum(max(float(pre[t, i]), 0.0) * float(W[i, j]) for i in chosen) for j in range(d)]
        if include_bias:
            e_hat = [e_hat[j] + float(b[j]) for j in range(d)]
        error += sum((float(residual[t, j]) - e_hat[j]) ** 2 for j in range(d))
    denom = {"none": T, "residual_var": ref_total_var(residual), "total_var": ref_total_var(x)}[normalize]
    scale = min(len(dead) / k, 1.0) if dead_scale else 1.0
    return scale * error / denom


@pytest.mark.parametrize(
    ("normalize", "include_bias", "dead_scale", "k_aux"),
    [
        ("residual_var", False, False, 2),  # OpenAI / dictionary_learning / paper
        ("total_var", True, True, 3),  # sparsify (before PR #134: bias added)
        ("none", True, True, 8),  # SAELens; more than the 4 dead latents requested
        ("none", False, False, None),  # k_aux default d_in // 2
    ],
)
def test_topk_auxk_matches_reference(normalize, include_bias, dead_scale, k_aux):
    mo, tg = _sae(seed=11)
    out = topk_auxk(
        mo, tg, alpha=0.25, k_aux=k_aux, normalize=normalize, include_bias=include_bias, dead_scale=dead_scale
    )
    aux = ref_auxk(
        mo, tg, k_aux=k_aux or 2, normalize=normalize, include_bias=include_bias, dead_scale=dead_scale
    )
    recon = ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
    assert out["metrics"]["auxk"].item() == pytest.approx(aux, rel=1e-10)
    assert out["loss"].item() == pytest.approx(recon + 0.25 * aux, rel=1e-10)
    assert out["metrics"]["dead_fraction"].item() == pytest.approx(0.4)


def test_topk_auxk_default_alpha_is_one_over_32():
    mo, tg = _sae(seed=12)
    out = topk_auxk(mo, tg)
    recon = ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
    aux = ref_auxk(mo, tg, k_aux=2, normalize="residual_var")
    assert out["loss"].item() == pytest.approx(recon + aux / 32, rel=1e-10)


def test_auxk_is_zero_finite_and_connected_without_dead_latents():
    mo, tg = _sae(seed=13, dead=())
    for normalize in ("none", "residual_var", "total_var"):
        out = topk_auxk(mo, tg, normalize=normalize, include_bias=True, dead_scale=True)
        assert out["metrics"]["auxk"].item() == 0.0
        assert out["loss"].requires_grad
        assert out["loss"].item() == pytest.approx(
            ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
        )
        out["loss"].backward()
        for key in ("reconstruction", "pre_activations", "decoder_weight"):
            assert torch.isfinite(mo[key].grad).all()
        assert mo["pre_activations"].grad.abs().sum() == 0
        for key in ("reconstruction", "pre_activations", "decoder_weight"):
            mo[key].grad = None
    compiled = torch.compile(topk_auxk, fullgraph=True, backend="aot_eager")
    assert compiled(mo, tg)["metrics"]["auxk"].item() == 0.0


def test_auxk_gradient_reaches_only_dead_latents_and_not_the_reconstruction():
    mo, tg = _sae(seed=14, dead=(2, 5))
    out = topk_auxk(mo, tg, alpha=1.0, k_aux=2)
    out["loss"].backward()
    alive = ~tg["dead_mask"]
    assert mo["pre_activations"].grad[:, alive].abs().sum() == 0
    assert mo["decoder_weight"].grad[alive].abs().sum() == 0
    assert mo["decoder_weight"].grad[~alive].abs().sum() > 0
    # the residual target is detached: the reconstruction sees only the main term
    T = tg["activations"].shape[0]
    torch.testing.assert_close(
        mo["reconstruction"].grad, 2 * (mo["reconstruction"] - tg["activations"]).detach() / T
    )


def test_auxk_only_needs_its_inputs_when_enabled():
    mo, tg = _sae(seed=15)
    slim = {"reconstruction": mo["reconstruction"], "latents": mo["latents"]}
    out = topk_auxk(slim, {"activations": tg["activations"]}, alpha=0.0)
    assert "auxk" not in out["metrics"]
    with pytest.raises(KeyError, match="dead_mask"):
        topk_auxk({**mo}, {"activations": tg["activations"]})


# ---- Multi-TopK -----------------------------------------------------------------------------------


def test_multi_topk_matches_reference():
    mo, tg = _sae(seed=16, k=2)
    x, pre = tg["activations"], mo["pre_activations"].detach()
    W, b = mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, d = x.shape
    n = pre.shape[1]
    x_multi = torch.zeros(T, d, dtype=x.dtype)
    for t in range(T):
        for i in _top_indices(pre[t], range(n), 8):  # 4k with k=2
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


# ---- BatchTopK ------------------------------------------------------------------------------------


def test_batch_topk_loss_and_threshold_statistic():
    mo, tg = _sae(seed=17)
    mo["latents"] = batch_topk_relu(mo["pre_activations"].detach(), 3)
    out = batch_topk(mo, tg, k_aux=3)
    want = (
        ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
        + ref_auxk(mo, tg, k_aux=3, normalize="residual_var") / 32
    )
    assert out["loss"].item() == pytest.approx(want, rel=1e-10)
    positives = [float(v) for v in mo["latents"].reshape(-1) if float(v) > 0]
    assert out["metrics"]["min_positive_activation"].item() == pytest.approx(min(positives))


# ---- activation helpers ---------------------------------------------------------------------------


def test_topk_relu_and_batch_topk_relu_match_loops():
    pre = _rand(5, 8, seed=18)
    per_token = topk_relu(pre, 3)
    batch = batch_topk_relu(pre, 3)
    want_token = torch.zeros_like(pre)
    for t in range(5):
        for i in _top_indices(pre[t], range(8), 3):
            want_token[t, i] = max(float(pre[t, i]), 0.0)
    flat = [(float(pre[t, i]), t, i) for t in range(5) for i in range(8)]
    want_batch = torch.zeros_like(pre)
    for value, t, i in sorted(flat, reverse=True)[: 3 * 5]:
        want_batch[t, i] = max(value, 0.0)
    torch.testing.assert_close(per_token, want_token)
    torch.testing.assert_close(batch, want_batch)
    assert (batch != 0).sum() <= 15
