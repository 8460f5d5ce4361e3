"""IWAE: the bound against a loop reference, K=1 against the ELBO, gradients
against pythae's surrogate, and the bound's ordering."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import IWAE, IWAEConfig

from losses_core import LossInputError
from losses_vae import elbo, iwae

D, Z = 4, 3


def _inputs(batch=3, samples=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, Z, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(batch, Z, generator=g, dtype=torch.float64)
    eps = torch.randn(batch, samples, Z, generator=g, dtype=torch.float64)
    z = mu.unsqueeze(1) + eps * torch.exp(0.5 * logvar).unsqueeze(1)
    out = {
        "predictions": torch.randn(batch, samples, D, generator=g, dtype=torch.float64, requires_grad=True),
        "mu": mu.requires_grad_(),
        "logvar": logvar.requires_grad_(),
        "z": z.requires_grad_(),
    }
    return out, {"target": torch.randn(batch, D, generator=g, dtype=torch.float64)}


def _loop_bound(out, tg, sigma=1.0):
    """Burda et al. 2016, eq. 7, with explicit loops and a max-shifted log-mean-exp."""
    pred, x = out["predictions"].detach(), tg["target"]
    mu, lv, z = out["mu"].detach(), out["logvar"].detach(), out["z"].detach()
    b, k = z.shape[:2]
    bounds = []
    for i in range(b):
        logw = []
        for j in range(k):
            lpx = sum(
                -0.5 * math.log(2 * math.pi * sigma**2) - (x[i, d] - pred[i, j, d]) ** 2 / (2 * sigma**2)
                for d in range(x.shape[1])
            )
            lpz = sum(-0.5 * math.log(2 * math.pi) - z[i, j, d] ** 2 / 2 for d in range(Z))
            lqz = sum(
                -0.5 * math.log(2 * math.pi)
                - lv[i, d] / 2
                - (z[i, j, d] - mu[i, d]) ** 2 / (2 * math.exp(lv[i, d]))
                for d in range(Z)
            )
            logw.append(float(lpx + lpz - lqz))
        top = max(logw)
        bounds.append(top + math.log(sum(math.exp(w - top) for w in logw) / k))
    return bounds


def test_bound_against_loop_reference():
    out, tg = _inputs()
    per_sample = iwae(out, tg, reduction="none", sigma=0.8)["loss"]
    ref = _loop_bound(out, tg, sigma=0.8)
    torch.testing.assert_close(per_sample.detach(), -torch.tensor(ref, dtype=torch.float64))
    res = iwae(out, tg, sigma=0.8)
    torch.testing.assert_close(res["metrics"]["bound"].item(), sum(ref) / len(ref))
    assert res["auxiliary"]["log_weights"].shape == (3, 5)


def test_k1_equals_the_single_sample_elbo():
    out, tg = _inputs(samples=1, seed=1)
    ours = iwae(out, tg)["loss"]
    # ELBO with the same reconstruction and a one-sample Monte-Carlo KL
    flat = {"predictions": out["predictions"][:, 0], "mu": out["mu"], "logvar": out["logvar"]}
    analytic = elbo(flat, tg)
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    z = out["z"][:, 0]
    kl_mc = q.log_prob(z).sum(1) - torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    kl_analytic = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(ours, analytic["loss"] + (kl_mc - kl_analytic).mean())


def test_k1_is_the_elbo_in_expectation():
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(2, Z, generator=g, dtype=torch.float64)
    logvar = 0.3 * torch.randn(2, Z, generator=g, dtype=torch.float64)
    x = torch.randn(2, D, generator=g, dtype=torch.float64)
    pred = torch.randn(2, D, generator=g, dtype=torch.float64)  # decoder output independent of z
    n = 20000
    z = mu.unsqueeze(1) + torch.randn(2, n, Z, generator=g, dtype=torch.float64) * torch.exp(
        0.5 * logvar
    ).unsqueeze(1)
    # n independent K=1 bounds: fold the n draws into the batch dimension
    mo = {
        "predictions": pred.repeat_interleave(n, 0).unsqueeze(1),
        "mu": mu.repeat_interleave(n, 0),
        "logvar": logvar.repeat_interleave(n, 0),
        "z": z.reshape(2 * n, 1, Z),
    }
    mc = iwae(mo, {"target": x.repeat_interleave(n, 0)})["loss"]
    exact = elbo({"predictions": pred, "mu": mu, "logvar": logvar}, {"target": x})["loss"]
    assert abs(mc.item() - exact.item()) < 0.05


def test_bound_lies_between_the_mean_and_the_max_log_weight():
    out, tg = _inputs(samples=8, seed=3)
    res = iwae(out, tg)
    logw = res["auxiliary"]["log_weights"]
    bound = -iwae(out, tg, reduction="none")["loss"].detach()
    assert torch.all(bound >= logw.mean(1) - 1e-12)  # Jensen: L_K >= L_1 on these samples
    assert torch.all(bound <= logw.max(1).values + 1e-12)
    assert torch.all(bound > logw.mean(1) + 1e-6)  # strict when the weights differ


def test_gradient_equals_pythae_surrogate_gradient():
    out, tg = _inputs(batch=4, samples=6, seed=4)
    model = IWAE(IWAEConfig(input_dim=(D,), latent_dim=Z, number_samples=6))
    rep = lambda t: t.unsqueeze(1).repeat(1, 6, 1)  # noqa: E731
    p_loss, _, _ = model.loss_function(
        out["predictions"], tg["target"], rep(out["mu"]), rep(out["logvar"]), out["z"]
    )
    ours = iwae(out, tg)["loss"]
    params = [out["predictions"], out["mu"], out["logvar"], out["z"]]
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(p_loss, params), strict=True):
        torch.testing.assert_close(a, b)
    # ... while the values differ: pythae's surrogate is not the bound
    assert not torch.allclose(ours - 0.5 * D * math.log(2 * math.pi), p_loss)


def test_bernoulli_and_learned_variance():
    out, tg = _inputs(seed=5)
    binary = {"target": (tg["target"] > 0).double()}
    res = iwae(out, binary, likelihood="bernoulli")
    lpx = (
        torch.distributions.Bernoulli(logits=out["predictions"])
        .log_prob(binary["target"].unsqueeze(1))
        .sum(-1)
    )
    q = torch.distributions.Normal(out["mu"].unsqueeze(1), torch.exp(0.5 * out["logvar"]).unsqueeze(1))
    logw = (
        lpx + torch.distributions.Normal(0.0, 1.0).log_prob(out["z"]).sum(-1) - q.log_prob(out["z"]).sum(-1)
    )
    torch.testing.assert_close(res["loss"], -(torch.logsumexp(logw, 1) - math.log(5)).mean())
    out["recon_logvar"] = torch.zeros(1, 1, D, dtype=torch.float64)
    torch.testing.assert_close(iwae(out, tg, likelihood="gaussian_learned")["loss"], iwae(out, tg)["loss"])


def test_shape_errors():
    out, tg = _inputs()
    with pytest.raises(LossInputError, match=r"iwae: input 'z' must be \[B, K, \.\.\.\] with K samples"):
        iwae({**out, "z": out["z"][..., :2]}, tg)
    with pytest.raises(LossInputError, match=r"iwae: dimension K is 2 in input 'z'"):
        iwae({**out, "z": out["z"][:, :2]}, tg)
    with pytest.raises(LossInputError, match=r"iwae: input 'predictions' must be \[B, K, \.\.\.\]"):
        iwae({**out, "predictions": out["predictions"][..., :2]}, tg)
    with pytest.raises(LossInputError, match=r"iwae: dimension B"):
        iwae(out, {"target": tg["target"][:2]})
