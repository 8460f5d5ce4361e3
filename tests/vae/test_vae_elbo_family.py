"""elbo, beta_vae and free_bits against torch.distributions, pythae and paper references."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import VAE, BetaVAE, BetaVAEConfig, VAEConfig

from losses_core import LossInputError, LossParameterError, MissingInputError
from losses_vae import beta_vae, elbo, free_bits

D, Z = 6, 4


def _inputs(batch=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    out = {
        "predictions": torch.randn(batch, D, generator=g, dtype=dtype, requires_grad=True),
        "mu": torch.randn(batch, Z, generator=g, dtype=dtype, requires_grad=True),
        "logvar": (0.5 * torch.randn(batch, Z, generator=g, dtype=dtype)).requires_grad_(),
    }
    target = torch.randn(batch, D, generator=g, dtype=dtype)
    return out, {"target": target}


def _kl_ref(out):
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    p = torch.distributions.Normal(torch.zeros_like(out["mu"]), torch.ones_like(out["mu"]))
    return torch.distributions.kl_divergence(q, p)  # [B, Z]


def test_gaussian_elbo_is_minus_log_likelihood_plus_kl():
    out, tg = _inputs()
    res = elbo(out, tg, likelihood="gaussian", sigma=0.7)
    nll = -torch.distributions.Normal(out["predictions"], 0.7).log_prob(tg["target"]).sum(1)
    expected = (nll + _kl_ref(out).sum(1)).mean()
    torch.testing.assert_close(res["loss"], expected)
    torch.testing.assert_close(res["metrics"]["elbo"], -expected.detach())
    torch.testing.assert_close(res["auxiliary"]["kl_per_dim"], _kl_ref(out).mean(0).detach())


def test_learned_variance_and_bernoulli_and_mse():
    out, tg = _inputs(seed=1)
    lv = torch.randn(1, D, dtype=torch.float64)
    out["recon_logvar"] = lv
    res = elbo(out, tg, likelihood="gaussian_learned")
    nll = -torch.distributions.Normal(out["predictions"], torch.exp(0.5 * lv)).log_prob(tg["target"]).sum(1)
    torch.testing.assert_close(res["loss"], (nll + _kl_ref(out).sum(1)).mean())

    binary = {"target": (torch.rand(5, D, generator=torch.Generator().manual_seed(3)) > 0.5).double()}
    res = elbo(out, binary, likelihood="bernoulli")
    nll = -torch.distributions.Bernoulli(logits=out["predictions"]).log_prob(binary["target"]).sum(1)
    torch.testing.assert_close(res["loss"], (nll + _kl_ref(out).sum(1)).mean())

    res = elbo(out, tg, likelihood="mse")
    sq = ((out["predictions"] - tg["target"]) ** 2).sum(1)
    torch.testing.assert_close(res["loss"], (sq + _kl_ref(out).sum(1)).mean())


def test_learned_variance_needs_its_key_and_a_broadcastable_shape():
    out, tg = _inputs()
    with pytest.raises(MissingInputError, match=r"elbo.*recon_logvar"):
        elbo(out, tg, likelihood="gaussian_learned")
    out["recon_logvar"] = torch.zeros(3)
    with pytest.raises(LossInputError, match=r"recon_logvar"):
        elbo(out, tg, likelihood="gaussian_learned")


def test_reductions():
    out, tg = _inputs(seed=2)
    per_sample = elbo(out, tg, reduction="none")
    assert per_sample.shape == (5,)
    torch.testing.assert_close(elbo(out, tg, reduction="sum")["loss"], per_sample.sum())
    torch.testing.assert_close(elbo(out, tg)["loss"], per_sample.mean())


def test_against_pythae_vae_mse_and_bce():
    out, tg = _inputs(seed=3)
    model = VAE(VAEConfig(input_dim=(D,), latent_dim=Z, reconstruction_loss="mse"))
    z = out["mu"].detach()
    p_loss, p_recon, p_kl = model.loss_function(out["predictions"], tg["target"], out["mu"], out["logvar"], z)
    ours = elbo(out, tg, likelihood="gaussian")
    # pythae's "mse" is 0.5 * squared error, i.e. the sigma=1 Gaussian NLL without its constant
    const = 0.5 * D * math.log(2 * math.pi)
    torch.testing.assert_close(ours["loss"] - const, p_loss)
    torch.testing.assert_close(ours["metrics"]["kl"], p_kl.detach())
    torch.testing.assert_close(ours["metrics"]["recon"] - const, p_recon.detach())

    model = VAE(VAEConfig(input_dim=(D,), latent_dim=Z, reconstruction_loss="bce"))
    binary = {"target": (torch.rand(5, D, generator=torch.Generator().manual_seed(4)) > 0.5).double()}
    p_loss, _, _ = model.loss_function(
        torch.sigmoid(out["predictions"]), binary["target"], out["mu"], out["logvar"], z
    )
    torch.testing.assert_close(elbo(out, binary, likelihood="bernoulli")["loss"], p_loss)


@pytest.mark.parametrize("beta", [1.0, 4.0, 10.0])
def test_beta_vae_against_pythae(beta):
    out, tg = _inputs(seed=4)
    model = BetaVAE(BetaVAEConfig(input_dim=(D,), latent_dim=Z, beta=beta))
    p_loss, _, _ = model.loss_function(out["predictions"], tg["target"], out["mu"], out["logvar"], out["mu"])
    ours = beta_vae(out, tg, beta=beta)["loss"]
    torch.testing.assert_close(ours - 0.5 * D * math.log(2 * math.pi), p_loss)
    # and its gradient
    g_ours = torch.autograd.grad(ours, [out["mu"], out["logvar"], out["predictions"]])
    g_ref = torch.autograd.grad(p_loss, [out["mu"], out["logvar"], out["predictions"]])
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)


def test_beta_vae_default_beta_and_schedule():
    out, tg = _inputs(seed=5)
    nll_plus = elbo(out, tg, beta=4.0)["loss"]
    torch.testing.assert_close(beta_vae(out, tg)["loss"], nll_plus)
    warm = beta_vae(out, tg, beta_schedule={"schedule": "linear_warmup", "warmup_steps": 100}, step=25)
    torch.testing.assert_close(warm["loss"], elbo(out, tg, beta=1.0)["loss"])


def _free_bits_reference(out, tg, lam):
    # written from Kingma et al. 2016: sum over groups (here: latent dims) of max(lambda, E_batch KL_j)
    kl = _kl_ref(out)
    recon = -torch.distributions.Normal(out["predictions"], 1.0).log_prob(tg["target"]).sum(1).mean()
    total = recon
    for j in range(kl.shape[1]):
        total = total + torch.maximum(torch.tensor(lam, dtype=kl.dtype), kl[:, j].mean())
    return total


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 100.0])
def test_free_bits_against_reference(lam):
    out, tg = _inputs(seed=6)
    ours = free_bits(out, tg, free_bits=lam)["loss"]
    torch.testing.assert_close(ours, _free_bits_reference(out, tg, lam))
    torch.testing.assert_close(elbo(out, tg, free_bits=lam)["loss"], ours)
    per_sample = free_bits(out, tg, free_bits=lam, reduction="none")
    torch.testing.assert_close(per_sample.mean(), ours)


def test_free_bits_blocks_gradient_of_dimensions_below_threshold():
    out, tg = _inputs(seed=7)
    kl_mean = _kl_ref(out).mean(0).detach()
    lam = float(kl_mean.min() + kl_mean.max()) / 2
    res = free_bits(out, tg, free_bits=lam)
    (g_mu,) = torch.autograd.grad(res["loss"], [out["mu"]])
    below = kl_mean < lam
    assert below.any() and (~below).any()
    assert torch.all(g_mu[:, below] == 0)
    assert torch.all(g_mu[:, ~below].abs().sum(0) > 0)
    torch.testing.assert_close(res["metrics"]["free_bits_active"], below.double().mean())


@pytest.mark.parametrize("seed", range(12))
def test_kl_nonnegative_and_matches_closed_form(seed):
    g = torch.Generator().manual_seed(seed)
    # wide ranges, including logvar outside the clamp range and exact zeros
    m = (torch.rand(2, 3, generator=g, dtype=torch.float64) - 0.5) * 100
    lv = (torch.rand(2, 3, generator=g, dtype=torch.float64) - 0.5) * 80
    if seed == 0:
        m, lv = torch.zeros_like(m), torch.zeros_like(lv)
    out = {"predictions": torch.zeros(2, 1, dtype=torch.float64), "mu": m, "logvar": lv}
    res = elbo(out, {"target": torch.zeros(2, 1, dtype=torch.float64)})
    kl = res["auxiliary"]["kl_per_dim"]
    assert torch.all(kl >= 0)
    lvc = lv.clamp(-30, 20)
    q = torch.distributions.Normal(m, torch.exp(0.5 * lvc))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(kl, ref, rtol=1e-9, atol=1e-9)


def test_parameter_errors():
    out, tg = _inputs()
    with pytest.raises(LossParameterError, match=r"elbo.*likelihood"):
        elbo(out, tg, likelihood="poisson")
    with pytest.raises(LossParameterError, match=r"elbo.*sigma"):
        elbo(out, tg, sigma=0.0)
    with pytest.raises(LossParameterError, match=r"free_bits.*free_bits"):
        free_bits(out, tg, free_bits=-1.0)
    with pytest.raises(LossParameterError, match=r"beta_vae.*reduction"):
        beta_vae(out, tg, reduction="avg")
    with pytest.raises(LossInputError, match=r"batch size"):
        elbo({**out, "mu": out["mu"][:3], "logvar": out["logvar"][:3]}, tg)
    with pytest.raises(LossInputError, match=r"logvar"):
        elbo({**out, "logvar": out["logvar"][:, :2]}, tg)
