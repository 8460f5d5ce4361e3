"""beta_vae_capacity against pythae's DisentangledBetaVAE and disentanglement_lib's formula."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import DisentangledBetaVAE, DisentangledBetaVAEConfig

from losses_core import LossParameterError
from losses_vae import beta_vae_capacity
from losses_vae.schedules import linear_capacity

D, Z = 5, 3
CONST = 0.5 * D * math.log(2 * math.pi)


def _inputs(seed=0, batch=6):
    g = torch.Generator().manual_seed(seed)
    out = {
        "predictions": torch.randn(batch, D, generator=g, dtype=torch.float64, requires_grad=True),
        "mu": (2 * torch.randn(batch, Z, generator=g, dtype=torch.float64)).requires_grad_(),
        "logvar": torch.randn(batch, Z, generator=g, dtype=torch.float64, requires_grad=True),
    }
    return out, {"target": torch.randn(batch, D, generator=g, dtype=torch.float64)}


def _kl(out):
    return (0.5 * (out["mu"] ** 2 + out["logvar"].exp() - out["logvar"] - 1)).sum(1)


@pytest.mark.parametrize(("epoch", "warmup"), [(0, 25), (5, 25), (40, 25), (3, 0)])
def test_against_pythae_disentangled_beta_vae(epoch, warmup):
    out, tg = _inputs()
    cfg = DisentangledBetaVAEConfig(input_dim=(D,), latent_dim=Z, beta=7.0, C=6.0, warmup_epoch=warmup)
    model = DisentangledBetaVAE(cfg)
    p_loss, _, _ = model.loss_function(
        out["predictions"], tg["target"], out["mu"], out["logvar"], out["mu"], epoch
    )
    # pythae's C * min(epoch / (warmup + 1), 1) is our linear warm-up over warmup + 1 "steps"
    ours = beta_vae_capacity(
        out,
        tg,
        gamma=7.0,
        capacity=6.0,
        capacity_schedule={"schedule": "linear_warmup", "warmup_steps": warmup + 1},
        step=epoch,
    )
    torch.testing.assert_close(ours["loss"] - CONST, p_loss)
    torch.testing.assert_close(
        ours["metrics"]["capacity"], torch.tensor(6.0 * min(epoch / (warmup + 1), 1)).double()
    )


def test_batch_form_is_disentanglement_libs():
    out, tg = _inputs(seed=1)
    c = float(_kl(out).mean().detach()) + 0.3  # some samples above, the mean below C
    ours = beta_vae_capacity(out, tg, gamma=1000.0, capacity=c, per_sample=False)
    recon = -torch.distributions.Normal(out["predictions"], 1.0).log_prob(tg["target"]).sum(1).mean()
    expected = recon + 1000.0 * abs(_kl(out).mean() - c)
    torch.testing.assert_close(ours["loss"], expected)
    per_sample = beta_vae_capacity(out, tg, gamma=1000.0, capacity=c)
    assert not torch.allclose(per_sample["loss"], ours["loss"])  # the two forms differ here
    torch.testing.assert_close(
        beta_vae_capacity(out, tg, capacity=c, per_sample=False, reduction="none")["loss"].mean(),
        beta_vae_capacity(out, tg, capacity=c, per_sample=False)["loss"],
    )


def test_linear_capacity_schedule_matches_burgess():
    out, tg = _inputs(seed=2)
    spec = {"schedule": "linear_warmup", "warmup_steps": 1000}
    for step in (0, 250, 999, 1000, 5000):
        res = beta_vae_capacity(out, tg, capacity=25.0, capacity_schedule=spec, step=step)
        c = linear_capacity(step, 25.0, 1000)
        assert c == min(25.0, 25.0 * step / 1000)
        torch.testing.assert_close(res["metrics"]["capacity"], torch.tensor(c, dtype=torch.float64))
        torch.testing.assert_close(res["metrics"]["capacity_gap"], (_kl(out).mean() - c).detach())


def test_parameter_errors():
    out, tg = _inputs()
    with pytest.raises(LossParameterError, match=r"beta_vae_capacity.*capacity.*>= 0"):
        beta_vae_capacity(out, tg, capacity=-1.0)
    with pytest.raises(
        LossParameterError, match=r"beta_vae_capacity.*capacity_schedule.*needs 'warmup_steps'"
    ):
        beta_vae_capacity(out, tg, capacity_schedule={"schedule": "linear_warmup"}, step=3)
    with pytest.raises(LossParameterError, match=r"beta_vae_capacity.*per_sample.*bool"):
        beta_vae_capacity(out, tg, per_sample="yes")
