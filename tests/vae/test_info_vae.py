"""InfoVAE against pythae's INFOVAE_MMD and the unbiased MMD against a loop reference."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import INFOVAE_MMD, INFOVAE_MMD_Config

from losses_core import LossInputError, LossParameterError
from losses_vae import info_vae
from losses_vae.mmd import mmd_unbiased

D, Z = 5, 3  # the data and latent sizes of the sampled_posterior_batch fixture (conftest.py)
CONST = 0.5 * D * math.log(2 * math.pi)


def _mmd_loop(x, y, k):
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_mmd_against_loop_reference(kernel):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = 1.5 * torch.randn(4, 3, generator=g, dtype=torch.float64) + 0.3
    bw, scales = 0.8, (0.5, 1.0, 3.0)
    c = 2 * 3 * bw**2

    def k(a, b):
        d2 = float(((a - b) ** 2).sum())
        if kernel == "rbf":
            return sum(math.exp(-d2 / (s * c)) for s in scales)
        return sum(s * c / (s * c + d2) for s in scales)

    got = mmd_unbiased(x, y, kernel=kernel, bandwidth=bw, scales=scales)
    torch.testing.assert_close(got.item(), _mmd_loop(x, y, k), rtol=1e-10, atol=1e-12)


def test_mmd_is_zero_in_expectation_and_positive_for_shifted_samples():
    g = torch.Generator().manual_seed(4)
    same = torch.stack(
        [mmd_unbiased(torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)) for _ in range(20)]
    )
    shifted = mmd_unbiased(torch.randn(64, 2, generator=g) + 2.0, torch.randn(64, 2, generator=g))
    assert abs(same.mean().item()) < 5 * same.std().item() / math.sqrt(20)
    assert shifted.item() > same.max().item()


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize(("alpha", "lbd"), [(0.0, 1e-3), (1.0, 1.0), (0.3, 50.0)])
def test_info_vae_against_pythae(kernel, alpha, lbd, sampled_posterior_batch):
    out, tg = sampled_posterior_batch(seed=2)
    cfg = INFOVAE_MMD_Config(
        input_dim=(D,), latent_dim=Z, kernel_choice=kernel, alpha=alpha, lbd=lbd, kernel_bandwidth=1.3
    )
    model = INFOVAE_MMD(cfg)
    p_loss, _, _, p_mmd = model.loss_function(
        out["predictions"], tg["target"], out["z"], out["z_prior"], out["mu"], out["logvar"]
    )
    ours = info_vae(out, tg, kernel=kernel, alpha=alpha, lambda_=lbd, bandwidth=1.3)
    torch.testing.assert_close(ours["loss"] - CONST, p_loss)
    torch.testing.assert_close(ours["metrics"]["mmd"], p_mmd.detach())
    params = [out["mu"], out["logvar"], out["z"], out["predictions"]]
    grads = torch.autograd.grad(ours["loss"], params)
    ref = torch.autograd.grad(p_loss, params)
    for a, b in zip(grads, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_info_vae_defaults_are_mmd_vae_and_alpha0_lambda1_is_the_elbo(
    sampled_posterior_batch, gaussian_recon_kl
):
    out, tg = sampled_posterior_batch(seed=5)
    recon, kl = gaussian_recon_kl(out, tg)
    mmd = mmd_unbiased(out["z"], out["z_prior"])
    torch.testing.assert_close(info_vae(out, tg)["loss"], recon.mean() + mmd)
    torch.testing.assert_close(info_vae(out, tg, alpha=0.0, lambda_=1.0)["loss"], (recon + kl).mean())


def test_info_vae_prior_samples_default_and_batch_one(sampled_posterior_batch):
    out, tg = sampled_posterior_batch(seed=6)
    del out["z_prior"]
    torch.manual_seed(11)
    a = info_vae(out, tg)["loss"]
    torch.manual_seed(11)
    prior = torch.randn_like(out["z"])
    torch.testing.assert_close(a, info_vae({**out, "z_prior": prior}, tg)["loss"])
    one, tg1 = sampled_posterior_batch(batch=1, seed=7)
    res = info_vae(one, tg1)
    assert torch.isfinite(res["loss"])


def test_info_vae_errors(sampled_posterior_batch):
    out, tg = sampled_posterior_batch()
    with pytest.raises(LossParameterError, match=r"info_vae.*kernel.*'imq', 'rbf'"):
        info_vae(out, tg, kernel="laplace")
    with pytest.raises(LossParameterError, match=r"info_vae.*scales.*non-empty"):
        info_vae(out, tg, scales=[])
    with pytest.raises(LossParameterError, match=r"info_vae.*scales.*Sequence\[float \(> 0\)\]"):
        info_vae(out, tg, scales=[1.0, -2.0])
    with pytest.raises(LossParameterError, match=r"info_vae.*bandwidth.*> 0"):
        info_vae(out, tg, bandwidth=0.0)
    with pytest.raises(LossInputError, match=r"info_vae: input 'z_prior'.*3 latent dimensions"):
        info_vae({**out, "z_prior": torch.zeros(4, Z + 1, dtype=torch.float64)}, tg)
    with pytest.raises(LossInputError, match=r"info_vae: input 'z'.*shape"):
        info_vae({**out, "z": out["z"][:, :2]}, tg)


def test_info_vae_reductions(sampled_posterior_batch):
    out, tg = sampled_posterior_batch(seed=8)
    per_sample = info_vae(out, tg, reduction="none")["loss"]
    assert per_sample.shape == (7,)
    torch.testing.assert_close(info_vae(out, tg)["loss"], per_sample.mean())
    torch.testing.assert_close(info_vae(out, tg, reduction="sum")["loss"], per_sample.sum())
