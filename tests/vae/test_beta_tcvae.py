"""beta_tcvae: importance matrix, estimators against pythae and a loop reference,
and the MI + TC + dimension-wise KL identity."""

from __future__ import annotations

import math
import random

import pytest
import torch
from pythae.models import BetaTCVAE, BetaTCVAEConfig

from losses_core import (
    LOSSES,
    ConfigError,
    LossInputError,
    LossParameterError,
    MissingInputError,
    loss_from_config,
    resolve_loss,
)
from losses_vae import beta_tcvae, log_importance_weight_matrix
from losses_vae.total_correlation import kl_decomposition

D = 5


def _inputs(batch=6, latent=3, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    mu = scale * torch.randn(batch, latent, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(batch, latent, generator=g, dtype=torch.float64)
    z = mu + torch.randn(batch, latent, generator=g, dtype=torch.float64) * torch.exp(0.5 * logvar)
    out = {
        "predictions": torch.randn(batch, D, generator=g, dtype=torch.float64, requires_grad=True),
        "mu": mu.requires_grad_(),
        "logvar": logvar.requires_grad_(),
        "z": z.requires_grad_(),
    }
    return out, {"target": torch.randn(batch, D, generator=g, dtype=torch.float64)}


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 7, 64])
@pytest.mark.parametrize("dataset_size", [64, 100, 60000])
def test_importance_rows_sum_to_one(batch, dataset_size):
    w = log_importance_weight_matrix(batch, dataset_size, dtype=torch.float64).exp()
    torch.testing.assert_close(w.sum(1), torch.ones(batch, dtype=torch.float64), rtol=0, atol=1e-12)
    if batch > 1:
        torch.testing.assert_close(torch.diagonal(w), torch.full((batch,), 1 / dataset_size).double())
        # exactly one stratum weight per row and column, the rest 1/(B-1)
        m = batch - 1
        stratum = (dataset_size - m) / (dataset_size * m)
        for i in range(batch):
            others = [w[i, j].item() for j in range(batch) if j != i]
            assert sum(abs(o - stratum) < 1e-15 for o in others) >= 1
            assert all(abs(o - stratum) < 1e-15 or abs(o - 1 / m) < 1e-15 for o in others)


def test_pythae_matrix_rows_do_not_sum_to_one():
    """Documents the bug we avoid: pythae strides down column 0, not the diagonal."""
    model = BetaTCVAE(BetaTCVAEConfig(input_dim=(D,), latent_dim=3))
    w = model._log_importance_weight_matrix(4, 1000).exp().double()
    assert abs(w[2].sum().item() - 4 / 3) < 1e-2
    assert not torch.allclose(w.sum(1), torch.ones(4, dtype=torch.float64))


def _pythae(out, tg, *, use_mss, dataset_size, alpha=1.0, beta=1.0, gamma=1.0):
    cfg = BetaTCVAEConfig(input_dim=(D,), latent_dim=3, alpha=alpha, beta=beta, gamma=gamma, use_mss=use_mss)
    model = BetaTCVAE(cfg)
    if use_mss:  # swap in the correct importance matrix: the rest of pythae's MSS formula is right
        model._log_importance_weight_matrix = lambda b, n: log_importance_weight_matrix(
            b, n, dtype=torch.float64
        )
    loss, _, _ = model.loss_function(
        out["predictions"], tg["target"], out["mu"], out["logvar"], out["z"], dataset_size
    )
    return loss


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize(("alpha", "beta", "gamma"), [(1.0, 1.0, 1.0), (0.5, 6.0, 2.0)])
def test_against_pythae(estimator, alpha, beta, gamma):
    out, tg = _inputs(batch=8, seed=1)
    ours = beta_tcvae(out, tg, dataset_size=500, estimator=estimator, alpha=alpha, beta=beta, gamma=gamma)[
        "loss"
    ]
    ref = _pythae(out, tg, use_mss=estimator == "mss", dataset_size=500, alpha=alpha, beta=beta, gamma=gamma)
    const = 0.5 * D * math.log(2 * math.pi)
    torch.testing.assert_close(ours - const, ref, rtol=1e-6, atol=1e-6)
    params = [out["mu"], out["logvar"], out["z"], out["predictions"]]
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(ref, params), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def _loop_reference(z, mu, logvar, n, estimator):
    """MI, TC, dimKL per sample from Chen et al. 2018 with explicit loops."""
    b, zd = z.shape
    log2pi = math.log(2 * math.pi)

    def logn(x, m, lv):
        return -0.5 * (log2pi + lv + (x - m) ** 2 / math.exp(lv))

    if estimator == "mws":
        weights = [[1 / (n * b)] * b for _ in range(b)]
    else:
        m = b - 1
        weights = []
        for i in range(b):
            row = [1 / m] * b
            row[i] = 1 / n
            row[(i + 1) % b] = (n - m) / (n * m)
            weights.append(row)
    mi, tc, dkl = [], [], []
    for i in range(b):
        log_qzx = sum(logn(z[i, d], mu[i, d], logvar[i, d]) for d in range(zd))
        log_pz = sum(-0.5 * (log2pi + z[i, d] ** 2) for d in range(zd))
        qz = sum(
            weights[i][j] * math.exp(sum(logn(z[i, d], mu[j, d], logvar[j, d]) for d in range(zd)))
            for j in range(b)
        )
        log_prod = sum(
            math.log(sum(weights[i][j] * math.exp(logn(z[i, d], mu[j, d], logvar[j, d])) for j in range(b)))
            for d in range(zd)
        )
        mi.append(log_qzx - math.log(qz))
        tc.append(math.log(qz) - log_prod)
        dkl.append(log_prod - log_pz)
    return sum(mi) / b, sum(tc) / b, sum(dkl) / b


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_against_loop_reference(estimator):
    out, tg = _inputs(batch=5, seed=2)
    res = beta_tcvae(out, tg, dataset_size=37, estimator=estimator)
    z, mu, lv = (out[k].detach().numpy() for k in ("z", "mu", "logvar"))
    mi, tc, dkl = _loop_reference(z, mu, lv, 37, estimator)
    torch.testing.assert_close(res["metrics"]["mi"].item(), mi, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(res["metrics"]["tc"].item(), tc, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(res["metrics"]["dimwise_kl"].item(), dkl, rtol=1e-9, atol=1e-9)


def _random_cases(n=24):
    rng = random.Random(1234)
    return [
        (
            rng.randint(1, 9),
            rng.randint(1, 4),
            rng.randint(0, 10_000),
            10 ** rng.uniform(-2, 1.3),
            rng.randint(0, 1000),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize(("batch", "latent", "seed", "scale", "extra"), _random_cases())
def test_decomposition_telescopes_for_any_batch(batch, latent, seed, scale, extra, estimator):
    out, tg = _inputs(batch=batch, latent=latent, seed=seed, scale=scale)
    res = beta_tcvae(out, tg, dataset_size=batch + extra, estimator=estimator)
    m = res["metrics"]
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    p = torch.distributions.Normal(0.0, 1.0)
    expected = (q.log_prob(out["z"]).sum(1) - p.log_prob(out["z"]).sum(1)).mean().detach()
    torch.testing.assert_close(m["mi"] + m["tc"] + m["dimwise_kl"], expected, rtol=1e-9, atol=1e-8)


def test_reductions_and_recon_weighting():
    out, tg = _inputs(seed=3)
    per_sample = beta_tcvae(out, tg, dataset_size=100, reduction="none")["loss"]
    assert per_sample.shape == (6,)
    torch.testing.assert_close(beta_tcvae(out, tg, dataset_size=100)["loss"], per_sample.mean())
    torch.testing.assert_close(
        beta_tcvae(out, tg, dataset_size=100, reduction="sum")["loss"], per_sample.sum()
    )


def test_dataset_size_is_required_in_calls():
    out, tg = _inputs()
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*missing required parameter.*'dataset_size'"):
        beta_tcvae(out, tg)
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*'dataset_size'"):
        LOSSES["beta_tcvae"](out, tg, beta=2.0)
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*'dataset_size'"):
        resolve_loss("beta_tcvae", estimator="mws")(out, tg)
    # given once, at resolution, it is enough for every call
    resolved = resolve_loss("beta_tcvae", dataset_size=100)
    torch.testing.assert_close(resolved(out, tg)["loss"], beta_tcvae(out, tg, dataset_size=100)["loss"])


def test_dataset_size_is_required_at_resolution_and_in_config(tmp_path):
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*'dataset_size'"):
        resolve_loss("beta_tcvae")
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*'dataset_size'"):
        resolve_loss("beta_tcvae", estimator="mws")
    path = tmp_path / "config.yaml"
    path.write_text("loss:\n  class: beta_tcvae\n  params: {beta: 2.0}\n")
    with pytest.raises(ConfigError, match=r"beta_tcvae.*'dataset_size'"):
        loss_from_config(path)


def test_errors():
    out, tg = _inputs()
    with pytest.raises(
        LossParameterError, match=r"beta_tcvae.*'dataset_size' \(3\) must be at least the batch size \(6\)"
    ):
        beta_tcvae(out, tg, dataset_size=3)
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*dataset_size.*>= 1"):
        beta_tcvae(out, tg, dataset_size=0)
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*dataset_size.*an int"):
        beta_tcvae(out, tg, dataset_size=100.5)
    with pytest.raises(LossParameterError, match=r"beta_tcvae.*estimator"):
        beta_tcvae(out, tg, dataset_size=100, estimator="mcmc")
    with pytest.raises(LossInputError, match=r"beta_tcvae: input 'z'.*shape"):
        beta_tcvae({**out, "z": out["z"][:, :2]}, tg, dataset_size=100)
    del out["z"]
    with pytest.raises(MissingInputError, match=r"beta_tcvae.*model_output\['z'\]"):
        beta_tcvae(out, tg, dataset_size=100)


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_hand_written_gradient_passes_gradcheck(estimator):
    g = torch.Generator().manual_seed(5)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = (0.5 * torch.randn(4, 3, generator=g, dtype=torch.float64)).requires_grad_()

    def fn(z, mu, logvar):
        return kl_decomposition(z, mu, logvar, dataset_size=10, estimator=estimator)

    assert torch.autograd.gradcheck(fn, (z, mu, logvar))


def test_hand_written_gradient_under_compile():
    out, tg = _inputs(batch=5, seed=6)
    params = [out["mu"], out["logvar"], out["z"], out["predictions"]]

    def step(mo, t):
        return beta_tcvae(mo, t, dataset_size=50)["loss"]

    expected = torch.autograd.grad(step(out, tg), params)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = torch.autograd.grad(compiled(out, tg), params)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
