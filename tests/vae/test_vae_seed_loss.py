"""VAELoss: seed 000's formula, keys, errors and the beta schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES, LossParameterError, MissingInputError
from losses_vae import vae_loss
from losses_vae.schedules import cyclical_annealing


def seed_vae_loss(model_output, targets, beta=1.0, reconstruction_weight=1.0):
    """Seed 000's example implementation, reading the target from targets["predictions"]."""
    recon_loss = F.mse_loss(model_output["predictions"], targets["predictions"])
    kl_loss = -0.5 * torch.sum(
        1 + model_output["logvar"] - model_output["mu"].pow(2) - model_output["logvar"].exp()
    )
    kl_loss = kl_loss / model_output["mu"].size(0)
    return reconstruction_weight * recon_loss + beta * kl_loss


def _inputs(batch=5, data=(3, 4), latent=7, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {
        "predictions": torch.randn(batch, *data, generator=g, dtype=dtype),
        "mu": torch.randn(batch, latent, generator=g, dtype=dtype),
        "logvar": torch.randn(batch, latent, generator=g, dtype=dtype),
    }
    target = torch.randn(batch, *data, generator=g, dtype=dtype)
    return out, target


@pytest.mark.parametrize(("beta", "weight"), [(1.0, 1.0), (4.0, 0.5), (0.0, 2.0)])
def test_equals_seed_formula(beta, weight):
    out, target = _inputs()
    ours = vae_loss(out, {"target": target}, beta=beta, reconstruction_weight=weight)
    expected = seed_vae_loss(out, {"predictions": target}, beta=beta, reconstruction_weight=weight)
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-12, atol=1e-12)


def test_seed_target_layout_with_target_key():
    out, target = _inputs(seed=1)
    ours = LOSSES["VAELoss"](out, {"predictions": target}, target_key="predictions")
    torch.testing.assert_close(ours["loss"], seed_vae_loss(out, {"predictions": target}))


def test_components_and_kl_against_torch_distributions():
    out, target = _inputs(seed=2)
    res = vae_loss(out, {"target": target})
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    p = torch.distributions.Normal(torch.zeros_like(out["mu"]), torch.ones_like(out["mu"]))
    kl_ref = torch.distributions.kl_divergence(q, p).sum(1).mean()
    torch.testing.assert_close(res["metrics"]["kl"], kl_ref)
    torch.testing.assert_close(res["metrics"]["recon"], F.mse_loss(out["predictions"], target))
    torch.testing.assert_close(
        res["auxiliary"]["kl_per_dim"], torch.distributions.kl_divergence(q, p).mean(0)
    )
    for value in res["metrics"].values():
        assert value.ndim == 0 and not value.requires_grad


def test_multi_dimensional_latents_are_summed():
    out, target = _inputs(seed=3)
    out["mu"] = out["mu"].reshape(5, 7, 1, 1).expand(5, 7, 2, 2).contiguous()
    out["logvar"] = out["logvar"].reshape(5, 7, 1, 1).expand(5, 7, 2, 2).contiguous()
    res = vae_loss(out, {"target": target})
    torch.testing.assert_close(res["loss"], seed_vae_loss(out, {"predictions": target}))


def test_logvar_is_clamped_for_extreme_inputs():
    out, target = _inputs(seed=4, dtype=torch.float32)
    out["logvar"] = torch.full_like(out["logvar"], 500.0).requires_grad_()
    out["mu"] = torch.full_like(out["mu"], 1e15).requires_grad_()
    res = vae_loss(out, {"target": target})
    assert torch.isfinite(res["loss"])
    res["loss"].backward()
    assert torch.isfinite(out["mu"].grad).all() and torch.isfinite(out["logvar"].grad).all()
    # clamped to 20: the KL term uses exp(20), not exp(500)
    small = {**out, "logvar": torch.full_like(out["logvar"], 20.0), "mu": torch.zeros_like(out["mu"])}
    kl20 = vae_loss(small, {"target": target})["metrics"]["kl"]
    expected = 0.5 * 7 * (torch.exp(torch.tensor(20.0)) - 20.0 - 1.0)
    torch.testing.assert_close(kl20, expected)


def test_missing_keys_name_loss_and_key():
    out, target = _inputs()
    with pytest.raises(MissingInputError, match=r"VAELoss.*targets\['target'\]"):
        vae_loss(out, {"predictions": target})
    del out["logvar"]
    with pytest.raises(MissingInputError, match=r"VAELoss.*model_output\['logvar'\]"):
        vae_loss(out, {"target": target})


def test_bad_parameters():
    out, target = _inputs()
    with pytest.raises(LossParameterError, match=r"VAELoss.*beta"):
        vae_loss(out, {"target": target}, beta="four")
    with pytest.raises(LossParameterError, match=r"betta"):
        LOSSES["VAELoss"](out, {"target": target}, betta=2.0)
    with pytest.raises(LossParameterError, match=r"step"):
        vae_loss(out, {"target": target}, beta_schedule={"schedule": "linear", "warmup_steps": 10})


def test_beta_schedule_scales_beta():
    out, target = _inputs(seed=5)
    schedule = {"schedule": "cyclical", "total_steps": 100, "n_cycles": 2, "ratio": 0.5}
    for step in (0, 10, 25, 60, 99, 150):
        res = vae_loss(out, {"target": target}, beta=3.0, beta_schedule=schedule, step=step)
        beta = 3.0 * cyclical_annealing(step, 100, n_cycles=2, ratio=0.5)
        torch.testing.assert_close(res["loss"], seed_vae_loss(out, {"predictions": target}, beta=beta))
        torch.testing.assert_close(res["metrics"]["beta"], torch.tensor(beta, dtype=torch.float64))
