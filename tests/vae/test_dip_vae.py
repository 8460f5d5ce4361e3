"""DIP-VAE against disentanglement_lib's formulas (loop reference)."""

from __future__ import annotations

import math

import pytest
import torch

from losses_core import LossParameterError
from losses_vae import dip_vae


def _dip_reference(mu, logvar, dip_type, lambda_od, lambda_d):
    """disentanglement_lib: compute_covariance_z_mean = E[mu mu^T] - E[mu] E[mu]^T, then
    regularize_diag_off_diag_dip, written with explicit loops."""
    b, z = mu.shape
    cov = [[0.0] * z for _ in range(z)]
    for i in range(z):
        for j in range(z):
            e_ij = sum(mu[n, i] * mu[n, j] for n in range(b)) / b
            e_i = sum(mu[n, i] for n in range(b)) / b
            e_j = sum(mu[n, j] for n in range(b)) / b
            cov[i][j] = e_ij - e_i * e_j
            if dip_type == "ii" and i == j:
                cov[i][j] += sum(math.exp(logvar[n, i]) for n in range(b)) / b
    off = sum(cov[i][j] ** 2 for i in range(z) for j in range(z) if i != j)
    diag = sum((cov[i][i] - 1) ** 2 for i in range(z))
    return lambda_od * off + lambda_d * diag


@pytest.mark.parametrize(
    ("dip_type", "lambda_od", "lambda_d", "expected_d"),
    [("i", 10.0, None, 100.0), ("ii", 5.0, None, 5.0), ("i", 2.0, 3.0, 3.0)],
)
def test_dip_against_disentanglement_lib_formula(
    dip_type, lambda_od, lambda_d, expected_d, sampled_posterior_batch, gaussian_recon_kl
):
    out, tg = sampled_posterior_batch()
    res = dip_vae(out, tg, dip_type=dip_type, lambda_od=lambda_od, lambda_d=lambda_d)
    mu, lv = out["mu"].detach().numpy(), out["logvar"].detach().numpy()
    dip = _dip_reference(mu, lv, dip_type, lambda_od, expected_d)
    torch.testing.assert_close(res["metrics"]["dip"].item(), dip, rtol=1e-10, atol=1e-10)
    recon, kl = gaussian_recon_kl(out, tg)
    torch.testing.assert_close(res["loss"], recon.mean() + kl.mean() + dip)
    kwargs = {"dip_type": dip_type, "lambda_od": lambda_od, "lambda_d": lambda_d}
    per_sample = dip_vae(out, tg, reduction="none", **kwargs)["loss"]
    torch.testing.assert_close(per_sample.mean(), res["loss"])
    torch.testing.assert_close(dip_vae(out, tg, reduction="sum", **kwargs)["loss"], per_sample.sum())


def test_dip_covariance_matches_torch_cov(sampled_posterior_batch):
    out, tg = sampled_posterior_batch(batch=9, seed=1)
    cov = dip_vae(out, tg)["auxiliary"]["covariance"]
    torch.testing.assert_close(cov, torch.cov(out["mu"].detach().T, correction=0))


def test_dip_errors(sampled_posterior_batch):
    out, tg = sampled_posterior_batch()
    with pytest.raises(LossParameterError, match=r"dip_vae.*dip_type.*'i', 'ii'"):
        dip_vae(out, tg, dip_type="iii")
    with pytest.raises(LossParameterError, match=r"dip_vae.*lambda_od.*>= 0"):
        dip_vae(out, tg, lambda_od=-1.0)
    with pytest.raises(LossParameterError, match=r"dip_vae.*lambda_d.*>= 0"):
        dip_vae(out, tg, lambda_d=-1.0)
