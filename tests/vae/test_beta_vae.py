"""beta_vae against pythae's BetaVAE (values and gradients), its default and its schedule."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import BetaVAE, BetaVAEConfig

from losses_core import LossParameterError
from losses_vae import beta_vae, elbo

D, Z = 6, 4  # the data and latent sizes of the posterior_batch fixture (conftest.py)


@pytest.mark.parametrize("beta", [1.0, 4.0, 10.0])
def test_beta_vae_against_pythae(beta, posterior_batch):
    out, tg = posterior_batch(seed=4)
    model = BetaVAE(BetaVAEConfig(input_dim=(D,), latent_dim=Z, beta=beta))
    p_loss, _, _ = model.loss_function(out["predictions"], tg["target"], out["mu"], out["logvar"], out["mu"])
    ours = beta_vae(out, tg, beta=beta)["loss"]
    torch.testing.assert_close(ours - 0.5 * D * math.log(2 * math.pi), p_loss)
    g_ours = torch.autograd.grad(ours, [out["mu"], out["logvar"], out["predictions"]])
    g_ref = torch.autograd.grad(p_loss, [out["mu"], out["logvar"], out["predictions"]])
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)


def test_default_beta_is_4_and_the_schedule_scales_it(posterior_batch):
    out, tg = posterior_batch(seed=5)
    torch.testing.assert_close(beta_vae(out, tg)["loss"], elbo(out, tg, beta=4.0)["loss"])
    warm = beta_vae(out, tg, beta_schedule={"schedule": "linear_warmup", "warmup_steps": 100}, step=25)
    torch.testing.assert_close(warm["loss"], elbo(out, tg, beta=1.0)["loss"])
    torch.testing.assert_close(warm["metrics"]["beta"], torch.tensor(1.0, dtype=torch.float64))
    tensor_step = beta_vae(
        out, tg, beta_schedule={"schedule": "linear", "warmup_steps": 100}, step=torch.tensor(50)
    )
    torch.testing.assert_close(tensor_step["loss"], elbo(out, tg, beta=2.0)["loss"])


def test_reductions_and_errors(posterior_batch):
    out, tg = posterior_batch(seed=6)
    per_sample = beta_vae(out, tg, reduction="none")["loss"]
    assert per_sample.shape == (5,)
    torch.testing.assert_close(beta_vae(out, tg, reduction="sum")["loss"], per_sample.sum())
    with pytest.raises(LossParameterError, match=r"beta_vae.*reduction"):
        beta_vae(out, tg, reduction="avg")
    with pytest.raises(LossParameterError, match=r"beta_vae.*step"):
        beta_vae(out, tg, beta_schedule={"schedule": "linear", "warmup_steps": 10}, step=-3)
