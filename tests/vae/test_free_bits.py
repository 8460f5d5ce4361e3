"""free_bits against Kingma et al.'s formula, its gradient blocking, and elbo(free_bits=...)."""

from __future__ import annotations

import pytest
import torch

from losses_core import LossParameterError
from losses_vae import elbo, free_bits


def _kl_ref(out):
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0))  # [B, Z]


def _free_bits_reference(out, tg, lam):
    # written from Kingma et al. 2016: sum over groups (here: latent dims) of max(lambda, E_batch KL_j)
    kl = _kl_ref(out)
    recon = -torch.distributions.Normal(out["predictions"], 1.0).log_prob(tg["target"]).sum(1).mean()
    total = recon
    for j in range(kl.shape[1]):
        total = total + torch.maximum(torch.tensor(lam, dtype=kl.dtype), kl[:, j].mean())
    return total


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 100.0])
def test_free_bits_against_reference(lam, posterior_batch):
    out, tg = posterior_batch(seed=6)
    ours = free_bits(out, tg, free_bits=lam)["loss"]
    torch.testing.assert_close(ours, _free_bits_reference(out, tg, lam))
    torch.testing.assert_close(elbo(out, tg, free_bits=lam)["loss"], ours)
    per_sample = free_bits(out, tg, free_bits=lam, reduction="none")["loss"]
    torch.testing.assert_close(per_sample.mean(), ours)


def test_free_bits_blocks_gradient_of_dimensions_below_threshold(posterior_batch):
    out, tg = posterior_batch(seed=7)
    kl_mean = _kl_ref(out).mean(0).detach()
    lam = float(kl_mean.min() + kl_mean.max()) / 2
    res = free_bits(out, tg, free_bits=lam)
    (g_mu,) = torch.autograd.grad(res["loss"], [out["mu"]])
    below = kl_mean < lam
    assert below.any() and (~below).any()
    assert torch.all(g_mu[:, below] == 0)
    assert torch.all(g_mu[:, ~below].abs().sum(0) > 0)
    torch.testing.assert_close(res["metrics"]["free_bits_active"], below.double().mean())
    torch.testing.assert_close(res["metrics"]["kl_free_bits"], kl_mean.clamp_min(lam).sum())


def test_default_and_errors(posterior_batch):
    out, tg = posterior_batch()
    torch.testing.assert_close(free_bits(out, tg)["loss"], _free_bits_reference(out, tg, 0.5))
    with pytest.raises(LossParameterError, match=r"free_bits.*free_bits.*>= 0"):
        free_bits(out, tg, free_bits=-1.0)
