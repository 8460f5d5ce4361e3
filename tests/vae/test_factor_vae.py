"""FactorVAE: VAE and discriminator objectives against pythae, permute_dims and
the detach rules of factor_vae_discriminator_outputs."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import FactorVAE, FactorVAEConfig
from torch import nn

from losses_core import LossInputError
from losses_vae import (
    factor_vae,
    factor_vae_discriminator,
    factor_vae_discriminator_outputs,
    permute_dims,
)

D, Z, B = 5, 3, 8


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(B, Z, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(B, Z, generator=g, dtype=torch.float64)
    z = mu + torch.randn(B, Z, generator=g, dtype=torch.float64) * torch.exp(0.5 * logvar)
    out = {
        "predictions": torch.randn(B, D, generator=g, dtype=torch.float64),
        "mu": mu,
        "logvar": logvar,
        "z": z,
    }
    return out, {"target": torch.randn(B, D, generator=g, dtype=torch.float64)}


def _discriminator(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(Z, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2)).double()


@pytest.mark.parametrize("gamma", [2.0, 35.0])
def test_against_pythae_loss_function(gamma):
    out, tg = _inputs()
    disc = _discriminator()
    model = FactorVAE(FactorVAEConfig(input_dim=(D,), latent_dim=Z, gamma=gamma))
    model.discriminator = disc
    z_perm = permute_dims(out["z"], generator=torch.Generator().manual_seed(1))
    _, p_vae, p_disc = model.loss_function(
        out["predictions"], tg["target"], out["mu"], out["logvar"], out["z"], z_perm
    )
    mo = {
        **out,
        "discriminator_logits": disc(out["z"]),
        "discriminator_logits_real": disc(out["z"]),
        "discriminator_logits_permuted": disc(z_perm),
    }
    ours = factor_vae(mo, tg, gamma=gamma)
    torch.testing.assert_close(ours["loss"] - 0.5 * D * math.log(2 * math.pi), p_vae)
    torch.testing.assert_close(factor_vae_discriminator(mo, tg)["loss"], p_disc)


def test_tc_and_discriminator_metrics_by_hand():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.7]], dtype=torch.float64)
    perm = torch.tensor([[0.0, 3.0], [1.0, 0.0], [-2.0, -1.0]], dtype=torch.float64)
    res = factor_vae_discriminator(
        {"discriminator_logits_real": logits, "discriminator_logits_permuted": perm}, {}
    )
    ce_real = torch.nn.functional.cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    ce_perm = torch.nn.functional.cross_entropy(perm, torch.ones(3, dtype=torch.long))
    torch.testing.assert_close(res["loss"], 0.5 * (ce_real + ce_perm))
    torch.testing.assert_close(res["metrics"]["accuracy"], torch.tensor(3 / 5, dtype=torch.float64))
    torch.testing.assert_close(res["metrics"]["tc"], torch.tensor((3.0 - 0.2) / 2, dtype=torch.float64))


def test_permute_dims_permutes_each_column_independently():
    z = torch.arange(40.0).reshape(10, 4)
    g = torch.Generator().manual_seed(0)
    p = permute_dims(z, generator=g)
    for d in range(4):
        assert sorted(p[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(p, z)
    # reproducible with the same generator seed
    assert torch.equal(p, permute_dims(z, generator=torch.Generator().manual_seed(0)))
    # columns are shuffled with different permutations
    orders = {tuple((p[:, d] - d).div(4).long().tolist()) for d in range(4)}
    assert len(orders) > 1


def test_detach_rules_of_the_helper():
    torch.manual_seed(0)
    encoder = nn.Linear(D, Z).double()
    disc = _discriminator()
    x = torch.randn(B, D, dtype=torch.float64)
    z = encoder(x)
    mo = {
        "predictions": torch.zeros(B, D, dtype=torch.float64),
        "mu": z,
        "logvar": torch.zeros(B, Z, dtype=torch.float64),
        **factor_vae_discriminator_outputs(disc, z, generator=torch.Generator().manual_seed(2)),
    }
    tg = {"target": x}
    vae = factor_vae(mo, tg, gamma=10.0)["loss"]
    dis = factor_vae_discriminator(mo, tg)["loss"]
    enc_params, disc_params = list(encoder.parameters()), list(disc.parameters())
    # the VAE loss reaches the encoder but not the discriminator
    g_enc = torch.autograd.grad(vae, enc_params, retain_graph=True, allow_unused=True)
    g_disc = torch.autograd.grad(vae, disc_params, retain_graph=True, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in g_enc)
    assert all(g is None for g in g_disc)
    # the discriminator loss reaches the discriminator but not the encoder
    g_enc = torch.autograd.grad(dis, enc_params, retain_graph=True, allow_unused=True)
    g_disc = torch.autograd.grad(dis, disc_params, retain_graph=True, allow_unused=True)
    assert all(g is None for g in g_enc)
    assert all(g is not None and g.abs().sum() > 0 for g in g_disc)
    # the TC term's gradient w.r.t. z is the discriminator's, evaluated with its current weights
    torch.testing.assert_close(mo["discriminator_logits"], disc(z))


def test_logit_shape_errors():
    out, tg = _inputs()
    with pytest.raises(
        LossInputError, match=r"factor_vae: input 'discriminator_logits'.*must have shape \[B 2\]"
    ):
        factor_vae({**out, "discriminator_logits": torch.zeros(B, 3, dtype=torch.float64)}, tg)
    with pytest.raises(LossInputError, match=r"factor_vae: dimension B is 7 in input 'discriminator_logits'"):
        factor_vae({**out, "discriminator_logits": torch.zeros(B - 1, 2, dtype=torch.float64)}, tg)
    with pytest.raises(KeyError, match=r"factor_vae_discriminator.*discriminator_logits_permuted"):
        factor_vae_discriminator({"discriminator_logits_real": torch.zeros(B, 2)}, {})
    with pytest.raises(LossInputError, match=r"factor_vae_discriminator: input 'permuted_logits'.*\[P 2\]"):
        factor_vae_discriminator(
            {"discriminator_logits_real": torch.zeros(B, 2), "discriminator_logits_permuted": torch.zeros(B)},
            {},
        )


def test_discriminator_inputs_under_other_keys_and_different_batch_sizes():
    real = torch.randn(4, 2, dtype=torch.float64)
    perm = torch.randn(6, 2, dtype=torch.float64)
    expected = factor_vae_discriminator(
        {"discriminator_logits_real": real, "discriminator_logits_permuted": perm}, {}
    )["loss"]
    got = factor_vae_discriminator(
        {"d_real": real, "d_perm": perm}, {}, keys={"real_logits": "d_real", "permuted_logits": "d_perm"}
    )["loss"]
    torch.testing.assert_close(got, expected)
    ce_real = torch.nn.functional.cross_entropy(real, torch.zeros(4, dtype=torch.long))
    ce_perm = torch.nn.functional.cross_entropy(perm, torch.ones(6, dtype=torch.long))
    torch.testing.assert_close(expected, 0.5 * (ce_real + ce_perm))


def test_reductions():
    out, tg = _inputs(seed=3)
    mo = {**out, "discriminator_logits": torch.randn(B, 2, dtype=torch.float64)}
    per_sample = factor_vae(mo, tg, reduction="none")["loss"]
    assert per_sample.shape == (B,)
    torch.testing.assert_close(factor_vae(mo, tg)["loss"], per_sample.mean())
    torch.testing.assert_close(factor_vae(mo, tg, reduction="sum")["loss"], per_sample.sum())
