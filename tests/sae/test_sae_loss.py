"""SAELoss (reconstruction + L1) against loop references written from the
papers, torch's and OpenAI's definitions, and its edge cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sae_references import l1_inputs, ref_recon_terms, ref_sae_loss

from losses_core import LOSSES, LossParameterError, LossResultError, loss_from_config, resolve_loss
from losses_sae import metrics, sae_loss


@pytest.mark.parametrize("convention", ["sum_mean", "mean", "normalized", "fvu"])
def test_sae_loss_matches_reference_for_each_convention(convention):
    x, xh, f, _ = l1_inputs(seed=3)
    out = sae_loss({"reconstruction": xh, "latents": f}, {"activations": x}, reconstruction=convention)
    want = ref_sae_loss(x, xh, f, 0.01, convention)
    assert out["loss"].item() == pytest.approx(sum(want) / len(want), rel=1e-12)
    recon = ref_recon_terms(x, xh, convention)
    assert out["metrics"]["reconstruction"].item() == pytest.approx(sum(recon) / len(recon), rel=1e-12)
    assert out["metrics"]["l1"].item() == pytest.approx(f.detach().abs().sum().item() / f.shape[0], rel=1e-12)


def test_sae_loss_conventions_match_torch_and_openai_definitions():
    x, xh, f, _ = l1_inputs(seed=4)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    l1 = f.abs().sum(-1).mean()
    mean = sae_loss(mo, tg, reconstruction="mean", sparsity_weight=0.5)["loss"]
    torch.testing.assert_close(mean, F.mse_loss(xh, x) + 0.5 * l1)
    summed = sae_loss(mo, tg, sparsity_weight=0.5)["loss"]  # SAELens default
    torch.testing.assert_close(summed, (xh - x).pow(2).sum(-1).mean() + 0.5 * l1)
    nmse = sae_loss(mo, tg, reconstruction="normalized", sparsity_weight=0.0)["loss"]
    torch.testing.assert_close(nmse, (((xh - x) ** 2).mean(dim=1) / (x**2).mean(dim=1)).mean())
    fvu = sae_loss(mo, tg, reconstruction="fvu", sparsity_weight=0.0)
    torch.testing.assert_close(fvu["loss"], fvu["metrics"]["fvu"])


def test_sae_loss_reductions_and_leading_dims():
    x, xh, f, _ = l1_inputs(tokens=6, seed=5, lead=(2, 3))
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    per_token = sae_loss(mo, tg, reduction="none", sparsity_weight=0.2)
    want = ref_sae_loss(x.reshape(6, -1), xh.reshape(6, -1), f.reshape(6, -1), 0.2, "sum_mean")
    assert per_token.shape == (2, 3)
    torch.testing.assert_close(per_token.reshape(-1), torch.tensor(want, dtype=torch.float64))
    summed = sae_loss(mo, tg, reduction="sum", sparsity_weight=0.2)["loss"]
    assert summed.item() == pytest.approx(sum(want), rel=1e-12)
    mean = sae_loss(mo, tg, sparsity_weight=0.2)
    assert mean["loss"].item() == pytest.approx(sum(want) / 6, rel=1e-12)
    assert set(mean) == {"loss", "metrics", "auxiliary"}
    for value in mean["metrics"].values():
        assert value.ndim == 0 and not value.requires_grad


def test_sae_loss_gradients_match_closed_form():
    x, xh, f, _ = l1_inputs(seed=6)
    sae_loss({"reconstruction": xh, "latents": f}, {"activations": x}, sparsity_weight=0.3)["loss"].backward()
    T = x.shape[0]
    torch.testing.assert_close(xh.grad, 2 * (xh - x).detach() / T)
    torch.testing.assert_close(f.grad, 0.3 * torch.sign(f.detach()) / T)


def test_default_sparsity_weight_is_001():
    x, xh, f, _ = l1_inputs(seed=7)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    torch.testing.assert_close(sae_loss(mo, tg)["loss"], sae_loss(mo, tg, sparsity_weight=0.01)["loss"])


def test_fvu_with_zero_total_variance_is_zero_connected_and_without_gradient():
    # identical tokens: sum_t ||x_t - mean(x)||^2 = 0, so the fraction of variance unexplained is
    # undefined even though the reconstruction is wrong; the term is 0 (never NaN or inf),
    # the loss is the L1 term alone, and the reconstruction gets a zero gradient
    x = torch.tensor([[1.0, 2.0, 3.0]] * 4, dtype=torch.float64)
    xh = (x + 0.5).requires_grad_(True)
    f = torch.tensor([[0.0, 2.0]] * 4, dtype=torch.float64, requires_grad=True)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    out = sae_loss(mo, tg, reconstruction="fvu", sparsity_weight=0.1)
    assert out["metrics"]["reconstruction"].item() == 0.0
    assert out["metrics"]["fvu"].item() == 0.0
    assert out["metrics"]["explained_variance"].item() == 1.0
    assert out["loss"].item() == pytest.approx(0.1 * 2.0, rel=1e-12)
    out["loss"].backward()
    assert torch.equal(xh.grad, torch.zeros_like(xh))
    assert f.grad.abs().sum() > 0
    # a single token is the same case (the conformance checker's batch of one): finite, 0
    one = sae_loss({"reconstruction": xh[:1], "latents": f[:1]}, {"activations": x[:1]}, reconstruction="fvu")
    assert one["metrics"]["reconstruction"].item() == 0.0
    assert metrics.fvu(x[:1], xh[:1]).item() == 0.0
    # sum_mean still sees the error on such a batch
    plain = sae_loss({"reconstruction": xh, "latents": f}, {"activations": x}, sparsity_weight=0.0)
    assert plain["loss"].item() == pytest.approx(3 * 0.25, rel=1e-12)


def test_registry_call_returns_the_0dim_loss_and_config_works():
    x, xh, f, _ = l1_inputs(seed=8)
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    direct = sae_loss(mo, tg)["loss"]
    value = LOSSES["SAELoss"](mo, tg)
    assert isinstance(value, torch.Tensor) and value.ndim == 0
    torch.testing.assert_close(value, direct)
    for alias in ("sae_loss", "sae_l1"):
        torch.testing.assert_close(LOSSES[alias](mo, tg), direct)
    resolved = resolve_loss("SAELoss", sparsity_weight=0.01)(mo, tg)
    assert set(resolved) == {"loss", "metrics", "auxiliary"}
    torch.testing.assert_close(resolved["loss"], direct)
    from_config = loss_from_config({"loss": {"class": "SAELoss", "params": {"sparsity_weight": 0.01}}})
    torch.testing.assert_close(from_config(mo, tg)["loss"], direct)


def test_reduction_none_is_for_direct_calls_only():
    x, xh, f, _ = l1_inputs(seed=9, lead=(2, 3))
    mo, tg = {"reconstruction": xh, "latents": f}, {"activations": x}
    assert sae_loss(mo, tg, reduction="none").shape == (2, 3)
    with pytest.raises(LossResultError):
        LOSSES["SAELoss"](mo, tg, reduction="none")
    with pytest.raises(LossParameterError, match="reduction"):
        sae_loss(mo, tg, reduction="avg")
