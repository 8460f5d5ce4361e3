"""elbo against torch.distributions and pythae's VAE; likelihoods, reductions, keys and errors."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import VAE, VAEConfig

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError
from losses_vae import elbo

D, Z = 6, 4  # the data and latent sizes of the posterior_batch fixture (conftest.py)


def _kl_ref(out):
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    p = torch.distributions.Normal(torch.zeros_like(out["mu"]), torch.ones_like(out["mu"]))
    return torch.distributions.kl_divergence(q, p)  # [B, Z]


def test_gaussian_elbo_is_minus_log_likelihood_plus_kl(posterior_batch):
    out, tg = posterior_batch()
    res = elbo(out, tg, likelihood="gaussian", sigma=0.7)
    nll = -torch.distributions.Normal(out["predictions"], 0.7).log_prob(tg["target"]).sum(1)
    expected = (nll + _kl_ref(out).sum(1)).mean()
    torch.testing.assert_close(res["loss"], expected)
    torch.testing.assert_close(res["metrics"]["elbo"], -expected.detach())
    torch.testing.assert_close(res["auxiliary"]["kl_per_dim"], _kl_ref(out).mean(0).detach())
    assert all(not m.requires_grad for m in res["metrics"].values())


def test_learned_variance_and_bernoulli_and_mse(posterior_batch):
    out, tg = posterior_batch(seed=1)
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


def test_learned_variance_needs_its_input_and_a_broadcastable_shape(posterior_batch):
    out, tg = posterior_batch()
    with pytest.raises(MissingInputError, match=r"elbo.*'recon_logvar'.*gaussian_learned"):
        elbo(out, tg, likelihood="gaussian_learned")
    out["recon_logvar"] = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(LossInputError, match=r"elbo: input 'recon_logvar' has shape \(3,\)"):
        elbo(out, tg, likelihood="gaussian_learned")
    # under another key, mapped with keys=
    out = {**out, "decoder_logvar": torch.zeros(1, D, dtype=torch.float64)}
    del out["recon_logvar"]
    torch.testing.assert_close(
        elbo(out, tg, likelihood="gaussian_learned", keys={"recon_logvar": "decoder_logvar"})["loss"],
        elbo(out, tg)["loss"],
    )


def test_reductions(posterior_batch):
    out, tg = posterior_batch(seed=2)
    per_sample = elbo(out, tg, reduction="none")["loss"]
    assert per_sample.shape == (5,)
    torch.testing.assert_close(elbo(out, tg, reduction="sum")["loss"], per_sample.sum())
    torch.testing.assert_close(elbo(out, tg)["loss"], per_sample.mean())


def test_keys_map_the_callers_names(posterior_batch):
    out, tg = posterior_batch(seed=3)
    renamed = {"recon": out["predictions"], "z_mean": out["mu"], "z_logvar": out["logvar"]}
    keys = {"predictions": "recon", "mu": "z_mean", "logvar": "z_logvar", "target": "x"}
    got = LOSSES["elbo"](renamed, {"x": tg["target"]}, keys=keys)
    torch.testing.assert_close(got, elbo(out, tg)["loss"])
    with pytest.raises(LossParameterError, match=r"elbo.*keys.*'z'"):
        elbo(out, tg, keys={"z": "latent"})


def test_against_pythae_vae_mse_and_bce(posterior_batch):
    out, tg = posterior_batch(seed=3)
    model = VAE(VAEConfig(input_dim=(D,), latent_dim=Z, reconstruction_loss="mse"))
    z = out["mu"].detach()
    p_loss, p_recon, p_kl = model.loss_function(out["predictions"], tg["target"], out["mu"], out["logvar"], z)
    ours = elbo(out, tg, likelihood="gaussian")
    # pythae's "mse" is 0.5 * squared error, i.e. the sigma=1 Gaussian NLL without its constant
    const = 0.5 * D * math.log(2 * math.pi)
    torch.testing.assert_close(ours["loss"] - const, p_loss)
    torch.testing.assert_close(ours["metrics"]["kl"], p_kl.detach())
    torch.testing.assert_close(ours["metrics"]["recon"] - const, p_recon.detach())
    params = [out["predictions"], out["mu"], out["logvar"]]
    for a, b in zip(
        torch.autograd.grad(ours["loss"], params), torch.autograd.grad(p_loss, params), strict=True
    ):
        torch.testing.assert_close(a, b)

    model = VAE(VAEConfig(input_dim=(D,), latent_dim=Z, reconstruction_loss="bce"))
    binary = {"target": (torch.rand(5, D, generator=torch.Generator().manual_seed(4)) > 0.5).double()}
    p_loss, _, _ = model.loss_function(
        torch.sigmoid(out["predictions"]), binary["target"], out["mu"], out["logvar"], z
    )
    torch.testing.assert_close(elbo(out, binary, likelihood="bernoulli")["loss"], p_loss)


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


def test_parameter_errors(posterior_batch):
    out, tg = posterior_batch()
    with pytest.raises(LossParameterError, match=r"elbo.*likelihood.*'gaussian'"):
        elbo(out, tg, likelihood="poisson")
    with pytest.raises(LossParameterError, match=r"elbo.*sigma.*> 0"):
        elbo(out, tg, sigma=0.0)
    with pytest.raises(LossParameterError, match=r"elbo.*free_bits.*>= 0"):
        elbo(out, tg, free_bits=-1.0)
    with pytest.raises(LossParameterError, match=r"elbo.*reduction"):
        elbo(out, tg, reduction="avg")
    with pytest.raises(LossParameterError, match=r"elbo.*prediction_key"):
        elbo(out, tg, prediction_key="predictions")


def test_input_errors(posterior_batch):
    out, tg = posterior_batch()
    with pytest.raises(LossInputError, match=r"elbo: dimension B is 3 .*'mu'.* but 5"):
        elbo({**out, "mu": out["mu"][:3], "logvar": out["logvar"][:3]}, tg)
    with pytest.raises(LossInputError, match=r"elbo: input 'logvar'.*shape"):
        elbo({**out, "logvar": out["logvar"][:, :2]}, tg)
    with pytest.raises(LossInputError, match=r"elbo: input 'target'.*shape"):
        elbo(out, {"target": tg["target"][:, :2]})
    with pytest.raises(LossInputError, match=r"elbo: input 'mu'.*floating"):
        elbo({**out, "mu": torch.zeros(5, Z, dtype=torch.long)}, tg)
    with pytest.raises(MissingInputError, match=r"elbo: input 'target' is required at targets\['target'\]"):
        elbo(out, {"predictions": tg["target"]})
