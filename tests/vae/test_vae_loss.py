"""VAELoss: the reference implementation run verbatim, config, keys, errors and the beta schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import (
    LOSSES,
    LossParameterError,
    MissingInputError,
    loss_from_config,
    register_loss,
    resolve_loss,
)
from losses_core.testing import isolated_registry
from losses_vae import vae_loss
from losses_vae.schedules import cyclical_annealing

# The public contract of the name "VAELoss", verbatim. It is run as is, with
# losses-core's register_loss, inside isolated_registry (the registration is
# rolled back afterwards); the parametrised comparisons call it directly.
REFERENCE = """
@register_loss("VAELoss")
def vae_loss(model_output, targets, beta=1.0, reconstruction_weight=1.0, **kwargs):
    recon_loss = F.mse_loss(model_output['predictions'], targets['predictions'])
    kl_loss = -0.5 * torch.sum(1 + model_output['logvar'] - model_output['mu'].pow(2) - model_output['logvar'].exp())
    kl_loss = kl_loss / model_output['mu'].size(0)
    return reconstruction_weight * recon_loss + beta * kl_loss
"""  # noqa: E501


def _run_reference():
    namespace = {"torch": torch, "F": F, "register_loss": register_loss}
    exec(REFERENCE, namespace)
    return namespace["vae_loss"]


@pytest.fixture
def registered_reference():
    """The reference, registered as written (provider "runtime"), for one test."""
    with isolated_registry():
        yield _run_reference()


def _reference():
    with isolated_registry():
        return _run_reference()


reference_vae_loss = _reference()


def _inputs(batch=5, data=(3, 4), latent=7, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {
        "predictions": torch.randn(batch, *data, generator=g, dtype=dtype).requires_grad_(),
        "mu": torch.randn(batch, latent, generator=g, dtype=dtype).requires_grad_(),
        "logvar": (2 * torch.randn(batch, latent, generator=g, dtype=dtype)).requires_grad_(),
    }
    targets = {"predictions": torch.randn(batch, *data, generator=g, dtype=dtype)}
    return out, targets


def _grads(loss, out):
    return torch.autograd.grad(loss, [out["predictions"], out["mu"], out["logvar"]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_code_verbatim_against_losses_vae(registered_reference, dtype):
    """The reference registered as written: its values and gradients, called directly
    and through the registry, equal losses-vae's VAELoss bit for bit; a registry call
    of VAELoss returns a 0-dim tensor that backward() accepts."""
    assert LOSSES["VAELoss@runtime"].function is registered_reference
    g = torch.Generator().manual_seed(0)
    for beta, weight in ((1.0, 1.0), (4.0, 0.5), (0.0, 2.0)):
        mo = {
            "predictions": torch.randn(6, 3, 5, generator=g, dtype=dtype).requires_grad_(),
            "mu": torch.randn(6, 4, generator=g, dtype=dtype).requires_grad_(),
            "logvar": (3 * torch.randn(6, 4, generator=g, dtype=dtype)).requires_grad_(),
        }
        tg = {"predictions": torch.randn(6, 3, 5, generator=g, dtype=dtype)}
        leaves = list(mo.values())
        expected = registered_reference(mo, tg, beta=beta, reconstruction_weight=weight)
        user = LOSSES["VAELoss@runtime"](mo, tg, beta=beta, reconstruction_weight=weight)
        ours = LOSSES["VAELoss@losses-vae"](mo, tg, beta=beta, reconstruction_weight=weight)
        assert isinstance(ours, torch.Tensor) and ours.ndim == 0
        resolved = resolve_loss("VAELoss@losses-vae", beta=beta, reconstruction_weight=weight)
        assert torch.equal(resolved(mo, tg)["loss"], expected)
        assert torch.equal(user, expected) and torch.equal(ours, expected)
        for a, b in zip(
            torch.autograd.grad(ours, leaves), torch.autograd.grad(expected, leaves), strict=True
        ):
            assert torch.equal(a, b)
        LOSSES["VAELoss@losses-vae"](mo, tg, beta=1.0).backward()
        assert all(leaf.grad is not None for leaf in leaves)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("beta", "weight"), [(1.0, 1.0), (4.0, 0.5), (0.0, 2.0)])
def test_equals_the_reference_bit_for_bit(beta, weight, dtype):
    out, tg = _inputs(dtype=dtype)
    ours = vae_loss(out, tg, beta=beta, reconstruction_weight=weight)
    expected = reference_vae_loss(out, tg, beta=beta, reconstruction_weight=weight)
    assert torch.equal(ours["loss"], expected)
    for a, b in zip(_grads(ours["loss"], out), _grads(expected, out), strict=True):
        assert torch.equal(a, b)


def test_registry_call_returns_a_0_dim_tensor_that_backpropagates():
    out, tg = _inputs(seed=1)
    loss = LOSSES["VAELoss"](out, tg, beta=1.0)
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0
    torch.testing.assert_close(loss, reference_vae_loss(out, tg, beta=1.0), rtol=0, atol=0)
    loss.backward()
    assert all(out[k].grad is not None for k in ("predictions", "mu", "logvar"))
    renamed = {"recon": out["predictions"], "mu": out["mu"], "logvar": out["logvar"]}
    moved = {"target": tg["predictions"]}
    got = LOSSES["vae_loss"](renamed, moved, keys={"predictions": "recon", "target": "target"})
    torch.testing.assert_close(got, reference_vae_loss(out, tg), rtol=0, atol=0)


def test_config_class_and_params(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("loss:\n  class: VAELoss\n  params: {beta: 1.0, reconstruction_weight: 1.0}\n")
    out, tg = _inputs(seed=2)
    result = loss_from_config(path)(out, tg)
    assert torch.equal(result["loss"], reference_vae_loss(out, tg, beta=1.0, reconstruction_weight=1.0))
    assert set(result["metrics"]) == {"recon", "kl", "beta"}
    path.write_text("loss:\n  class: VAELoss\n  params: {beta: 0.25, reconstruction_weight: 3.0}\n")
    torch.testing.assert_close(
        loss_from_config(path)(out, tg)["loss"],
        reference_vae_loss(out, tg, beta=0.25, reconstruction_weight=3.0),
        rtol=0,
        atol=0,
    )


def test_other_target_key_through_keys():
    out, tg = _inputs(seed=3)
    moved = {"target": tg["predictions"]}
    got = vae_loss(out, moved, keys={"target": "target"})["loss"]
    assert torch.equal(got, reference_vae_loss(out, tg))
    renamed = {"recon": out["predictions"], "mu": out["mu"], "logvar": out["logvar"]}
    resolved = resolve_loss("vae_loss", keys={"predictions": "recon", "target": "target"})
    assert torch.equal(resolved(renamed, moved)["loss"], reference_vae_loss(out, tg))


def test_other_target_key_from_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("loss:\n  class: VAELoss\n  params: {beta: 2.0, keys: {target: target}}\n")
    out, tg = _inputs(seed=8)
    got = loss_from_config(path)(out, {"target": tg["predictions"]})["loss"]
    assert torch.equal(got, reference_vae_loss(out, tg, beta=2.0))


def test_components_and_kl_against_torch_distributions():
    out, tg = _inputs(seed=4)
    res = vae_loss(out, tg)
    q = torch.distributions.Normal(out["mu"], torch.exp(0.5 * out["logvar"]))
    p = torch.distributions.Normal(torch.zeros_like(out["mu"]), torch.ones_like(out["mu"]))
    kl = torch.distributions.kl_divergence(q, p)
    torch.testing.assert_close(res["metrics"]["kl"], kl.sum(1).mean().detach())
    torch.testing.assert_close(
        res["metrics"]["recon"], F.mse_loss(out["predictions"], tg["predictions"]).detach()
    )
    torch.testing.assert_close(res["metrics"]["beta"], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(res["auxiliary"]["kl_per_dim"], kl.mean(0).detach())
    for value in res["metrics"].values():
        assert value.ndim == 0 and not value.requires_grad


def test_multi_dimensional_latents_are_summed():
    out, tg = _inputs(seed=5)
    out["mu"] = out["mu"].detach().reshape(5, 7, 1, 1).expand(5, 7, 2, 2).contiguous()
    out["logvar"] = out["logvar"].detach().reshape(5, 7, 1, 1).expand(5, 7, 2, 2).contiguous()
    res = vae_loss(out, tg)
    assert torch.equal(res["loss"], reference_vae_loss(out, tg))
    assert res["auxiliary"]["kl_per_dim"].shape == (28,)


def test_logvar_is_clamped_for_extreme_inputs():
    """Documented difference from the reference: logvar outside [-30, 20] is clamped."""
    out, tg = _inputs(seed=6, dtype=torch.float32)
    out["logvar"] = torch.full_like(out["logvar"], 500.0).requires_grad_()
    out["mu"] = torch.full_like(out["mu"], 1e15).requires_grad_()
    assert not torch.isfinite(reference_vae_loss(out, tg))
    res = vae_loss(out, tg)
    assert torch.isfinite(res["loss"])
    res["loss"].backward()
    assert torch.isfinite(out["mu"].grad).all() and torch.isfinite(out["logvar"].grad).all()
    assert torch.all(out["logvar"].grad == 0)  # no gradient through the clamp outside the range
    # clamped to 20: the KL term uses exp(20), not exp(500)
    at_20 = {**out, "logvar": torch.full_like(out["logvar"], 20.0), "mu": torch.zeros_like(out["mu"])}
    kl20 = vae_loss(at_20, tg)["metrics"]["kl"]
    expected = 0.5 * 7 * (torch.exp(torch.tensor(20.0)) - 20.0 - 1.0)
    torch.testing.assert_close(kl20, expected)
    at_500 = {**at_20, "logvar": torch.full_like(out["logvar"], 500.0)}
    torch.testing.assert_close(vae_loss(at_500, tg)["metrics"]["kl"], kl20)


def test_missing_keys_name_loss_and_key():
    out, tg = _inputs()
    with pytest.raises(MissingInputError, match=r"VAELoss.*targets\['predictions'\]"):
        vae_loss(out, {"target": tg["predictions"]})
    del out["logvar"]
    with pytest.raises(MissingInputError, match=r"VAELoss.*model_output\['logvar'\]"):
        vae_loss(out, tg)


def test_bad_parameters():
    out, tg = _inputs()
    with pytest.raises(LossParameterError, match=r"VAELoss.*beta"):
        vae_loss(out, tg, beta="four")
    with pytest.raises(LossParameterError, match=r"betta"):
        LOSSES["VAELoss"](out, tg, betta=2.0)
    with pytest.raises(LossParameterError, match=r"VAELoss.*target_key"):
        LOSSES["VAELoss"](out, tg, target_key="target")
    with pytest.raises(LossParameterError, match=r"step"):
        vae_loss(out, tg, beta_schedule={"schedule": "linear", "warmup_steps": 10})
    with pytest.raises(
        LossParameterError, match=r"VAELoss.*beta_schedule.*warmup_step.*did you mean 'warmup_steps'"
    ):
        vae_loss(out, tg, beta_schedule={"schedule": "linear", "warmup_step": 10}, step=1)


def test_beta_schedule_scales_beta():
    out, tg = _inputs(seed=7)
    schedule = {"schedule": "cyclical", "total_steps": 100, "n_cycles": 2, "ratio": 0.5}
    for step in (0, 10, 25, 60, 99, 150):
        res = vae_loss(out, tg, beta=3.0, beta_schedule=schedule, step=step)
        beta = 3.0 * cyclical_annealing(step, 100, n_cycles=2, ratio=0.5)
        torch.testing.assert_close(res["loss"], reference_vae_loss(out, tg, beta=beta))
        torch.testing.assert_close(res["metrics"]["beta"], torch.tensor(beta, dtype=torch.float64))
