"""SAELoss and sae_l1_decoder_norm against loop references written from the papers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_sae import sae_l1_decoder_norm, sae_loss


def _rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def _inputs(tokens=6, d=4, n=9, seed=0, lead=None):
    x = _rand(tokens, d, seed=seed)
    decoder = _rand(n, d, seed=seed + 1)
    f = torch.relu(_rand(tokens, n, seed=seed + 2))
    xh = f @ decoder * 0.3 + 0.1
    if lead is not None:
        x, xh, f = x.reshape(*lead, d), xh.reshape(*lead, d), f.reshape(*lead, n)
    return x, xh.requires_grad_(True), f.requires_grad_(True), decoder.requires_grad_(True)


def ref_recon_terms(x, xh, convention):
    """Per-token reconstruction terms, by loops."""
    x, xh = x.detach(), xh.detach()
    T, d = x.shape
    mean = [sum(float(x[t, j]) for t in range(T)) / T for j in range(d)]
    total_var = sum((float(x[t, j]) - mean[j]) ** 2 for t in range(T) for j in range(d))
    terms = []
    for t in range(T):
        e = sum((float(xh[t, j]) - float(x[t, j])) ** 2 for j in range(d))
        if convention == "sum_mean":
            terms.append(e)
        elif convention == "mean":
            terms.append(e / d)
        elif convention == "normalized":
            terms.append(e / sum(float(x[t, j]) ** 2 for j in range(d)))
        else:
            terms.append(e * T / total_var)
    return terms


def ref_sae_loss(x, xh, f, lam, convention, decoder=None):
    """Seed-000 SAE loss (reconstruction + lam * L1), optionally with the April-2024 norm weighting."""
    f = f.detach()
    decoder = None if decoder is None else decoder.detach()
    T, n = f.shape
    recon = ref_recon_terms(x, xh, convention)
    per_token = []
    for t in range(T):
        penalty = 0.0
        for i in range(n):
            norm = 1.0 if decoder is None else float(decoder[i].norm())
            penalty += abs(float(f[t, i])) * norm
        per_token.append(recon[t] + lam * penalty)
    return per_token


@pytest.mark.parametrize("convention", ["sum_mean", "mean", "normalized", "fvu"])
def test_sae_loss_matches_reference_for_each_convention(convention):
    x, xh, f, _ = _inputs(seed=3)
    out = sae_loss({"reconstruction": xh, "latents": f}, {"activations": x}, reconstruction=convention)
    want = ref_sae_loss(x, xh, f, 0.01, convention)
    assert out["loss"].item() == pytest.approx(sum(want) / len(want), rel=1e-12)
    recon = ref_recon_terms(x, xh, convention)
    assert out["metrics"]["reconstruction"].item() == pytest.approx(sum(recon) / len(recon), rel=1e-12)
    assert out["metrics"]["l1"].item() == pytest.approx(f.detach().abs().sum().item() / f.shape[0], rel=1e-12)


def test_sae_loss_conventions_match_torch_and_openai_definitions():
    x, xh, f, _ = _inputs(seed=4)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    l1 = f.abs().sum(-1).mean()
    mean = sae_loss(mo, tg, reconstruction="mean", sparsity_weight=0.5)["loss"]
    torch.testing.assert_close(mean, F.mse_loss(xh, x) + 0.5 * l1)
    summed = sae_loss(mo, tg, sparsity_weight=0.5)["loss"]  # SAELens default
    torch.testing.assert_close(summed, (xh - x).pow(2).sum(-1).mean() + 0.5 * l1)
    nmse = sae_loss(mo, tg, reconstruction="normalized", sparsity_weight=0.0)["loss"]
    torch.testing.assert_close(nmse, (((xh - x) ** 2).mean(dim=1) / (x**2).mean(dim=1)).mean())
    fvu = sae_loss(mo, tg, reconstruction="fvu", sparsity_weight=0.0)
    torch.testing.assert_close(fvu["loss"], fvu["metrics"]["fvu"])


def test_sae_loss_reductions_and_leading_dims():
    x, xh, f, _ = _inputs(tokens=6, seed=5, lead=(2, 3))
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    per_token = sae_loss(mo, tg, reduction="none", sparsity_weight=0.2)
    want = ref_sae_loss(x.reshape(6, -1), xh.reshape(6, -1), f.reshape(6, -1), 0.2, "sum_mean")
    assert per_token.shape == (2, 3)
    torch.testing.assert_close(per_token.reshape(-1), torch.tensor(want, dtype=torch.float64))
    summed = sae_loss(mo, tg, reduction="sum", sparsity_weight=0.2)["loss"]
    assert summed.item() == pytest.approx(sum(want), rel=1e-12)
    mean = sae_loss(mo, tg, sparsity_weight=0.2)
    assert mean["loss"].item() == pytest.approx(sum(want) / 6, rel=1e-12)
    assert set(mean) == {"loss", "metrics", "auxiliary"}
    for value in mean["metrics"].values():
        assert value.ndim == 0 and not value.requires_grad


def test_sae_loss_gradients_match_closed_form():
    x, xh, f, _ = _inputs(seed=6)
    sae_loss({"reconstruction": xh, "latents": f}, {"activations": x}, sparsity_weight=0.3)["loss"].backward()
    T = x.shape[0]
    torch.testing.assert_close(xh.grad, 2 * (xh - x).detach() / T)
    torch.testing.assert_close(f.grad, 0.3 * torch.sign(f.detach()) / T)


def test_seed_default_sparsity_weight_is_001():
    x, xh, f, _ = _inputs(seed=7)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    torch.testing.assert_close(sae_loss(mo, tg)["loss"], sae_loss(mo, tg, sparsity_weight=0.01)["loss"])


# ---- April-2024 update ----------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["sum_mean", "fvu"])
def test_decoder_norm_l1_matches_reference(convention):
    x, xh, f, decoder = _inputs(seed=8)
    with torch.no_grad():
        decoder.mul_(torch.linspace(0.2, 3.0, decoder.shape[0], dtype=decoder.dtype).unsqueeze(-1))
    mo = {"reconstruction": xh, "latents": f, "decoder_weight": decoder}
    out = sae_l1_decoder_norm(mo, {"activations": x}, reconstruction=convention)
    want = ref_sae_loss(x, xh, f, 5.0, convention, decoder=decoder)
    assert out["loss"].item() == pytest.approx(sum(want) / len(want), rel=1e-12)
    out["loss"].backward()
    assert decoder.grad is not None and decoder.grad.abs().sum() > 0  # the penalty trains the decoder norms


def test_decoder_norm_l1_equals_plain_l1_with_unit_norm_rows():
    x, xh, f, decoder = _inputs(seed=9)
    unit = (decoder / decoder.norm(dim=1, keepdim=True)).detach()
    mo = {"reconstruction": xh, "latents": f, "decoder_weight": unit}
    for reduction in ("mean", "sum", "none"):
        a = sae_l1_decoder_norm(mo, {"activations": x}, sparsity_weight=0.7, reduction=reduction)
        b = sae_loss(mo, {"activations": x}, sparsity_weight=0.7, reduction=reduction)
        if reduction == "none":
            torch.testing.assert_close(a, b)
        else:
            torch.testing.assert_close(a["loss"], b["loss"])
            torch.testing.assert_close(a["metrics"]["l1_decoder_norm"], b["metrics"]["l1"])
