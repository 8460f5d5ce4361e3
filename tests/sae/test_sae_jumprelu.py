"""jumprelu (Rajamanoharan et al. 2024b; Anthropic, January 2025) against loop
references, and the tanh penalty's threshold gradient against a hand value."""

from __future__ import annotations

import math

import pytest
import torch
from sae_references import jumprelu_sae, ref_sum_mean

from losses_core import MissingInputError
from losses_sae import jumprelu
from losses_sae.activations import jumprelu as jumprelu_activation


def test_jumprelu_step_mode_matches_reference_value_and_threshold_gradient():
    mo, tg = jumprelu_sae()
    x, pre, theta = tg["activations"], mo["pre_activations"].detach(), mo["threshold"].detach()
    T, n = pre.shape
    out = jumprelu(mo, tg, sparsity_weight=0.05, bandwidth=0.2)
    l0 = sum(1 for t in range(T) for i in range(n) if float(pre[t, i]) > float(theta[i])) / T
    assert out["loss"].item() == pytest.approx(
        ref_sum_mean(x, mo["reconstruction"].detach()) + 0.05 * l0, rel=1e-12
    )
    assert out["metrics"]["sparsity"].item() == pytest.approx(l0)
    out["loss"].backward()
    for i in range(n):
        in_window = sum(1 for t in range(T) if abs(float(pre[t, i]) - float(theta[i])) / 0.2 < 0.5)
        assert mo["threshold"].grad[i].item() == pytest.approx(-0.05 * in_window / (0.2 * T))
    assert mo["pre_activations"].grad is None or mo["pre_activations"].grad.abs().sum() == 0


def test_jumprelu_tanh_mode_and_pre_activation_loss_match_reference():
    mo, tg = jumprelu_sae(seed=4)
    x, f, pre = tg["activations"], mo["latents"].detach(), mo["pre_activations"].detach()
    theta, W = mo["threshold"].detach(), mo["decoder_weight"].detach()
    T, n = f.shape
    norms = [float(W[i].norm()) for i in range(n)]
    tanh_pen = sum(math.tanh(4.0 * float(f[t, i]) * norms[i]) for t in range(T) for i in range(n)) / T

    def pre_act(dead_only):
        return (
            sum(
                max(float(theta[i]) - float(pre[t, i]), 0.0) * norms[i]
                for t in range(T)
                for i in range(n)
                if not dead_only or bool(tg["dead_mask"][i])
            )
            / T
        )

    recon = ref_sum_mean(x, mo["reconstruction"].detach())
    for latents_sel, dead_only in (("all", False), ("dead", True)):
        out = jumprelu(
            mo, tg, mode="tanh", sparsity_weight=0.1, pre_act_weight=0.5, pre_act_latents=latents_sel
        )
        assert out["metrics"]["sparsity"].item() == pytest.approx(tanh_pen, rel=1e-12)
        assert out["metrics"]["pre_act"].item() == pytest.approx(pre_act(dead_only), rel=1e-12)
        want = recon + 0.1 * tanh_pen + 0.5 * pre_act(dead_only)
        assert out["loss"].item() == pytest.approx(want, rel=1e-12)
    out["loss"].backward()
    assert torch.isfinite(mo["decoder_weight"].grad).all() and mo["latents"].grad.abs().sum() > 0


def test_tanh_penalty_sends_the_pseudo_gradient_of_latents_just_below_the_threshold():
    # One latent, two tokens, theta = 0.5, pre-activations 0.49 (f = 0, inside the kernel
    # window |h - theta| / eps = 0.2 < 1/2) and 0.51 (f = 0.51, also inside), eps = 0.05,
    # ||W_dec|| = 1, c = 4, weight 1, mean over tokens. The tanh penalty as SAELens defines it
    # (sae_lens/saes/jumprelu_sae.py, v6.11+, JumpReLUTrainingSAE.calculate_aux_loss with
    # jumprelu_sparsity_loss_mode="tanh":
    # tanh(jumprelu_tanh_scale * feature_acts * W_dec.norm(dim=1)).sum(-1).mean(), with
    # feature_acts = JumpReLU.apply(hidden_pre, threshold, bandwidth)), differentiated by hand:
    #   d/dtheta tanh(c f ||W||) = c ||W|| (1 - tanh(c f ||W||)^2) * df/dtheta,
    #   df/dtheta = -(theta / eps) K((h - theta) / eps) = -(0.5 / 0.05) * 1 = -10 for both tokens;
    #   token 1 (f = 0):    4 * 1 * (1 - tanh(0)^2)    * -10 = -40
    #   token 2 (f = 0.51): 4 * 1 * (1 - tanh(2.04)^2) * -10 = -2.6160...
    #   mean over the two tokens: about -21.31.
    # With |f| the first token sends nothing (torch's abs has zero gradient at 0): about -1.31.
    theta0, eps, c = 0.5, 0.05, 4.0
    df_dtheta = -(theta0 / eps)  # both tokens inside the window
    token_1 = c * 1.0 * (1 - math.tanh(c * 0.0 * 1.0) ** 2) * df_dtheta
    token_2 = c * 1.0 * (1 - math.tanh(c * 0.51 * 1.0) ** 2) * df_dtheta
    want = (token_1 + token_2) / 2
    assert token_1 == -40.0 and token_2 == pytest.approx(-2.6160, abs=1e-4)
    assert want == pytest.approx(-21.31, abs=0.01)
    theta = torch.tensor([theta0], dtype=torch.float64, requires_grad=True)
    pre = torch.tensor([[0.49], [0.51]], dtype=torch.float64)
    latents = jumprelu_activation(pre, theta, bandwidth=eps)
    assert latents.detach().flatten().tolist() == [0.0, 0.51]
    x = torch.zeros(2, 3, dtype=torch.float64)
    mo = {
        "reconstruction": torch.zeros(2, 3, dtype=torch.float64),  # constant: no threshold gradient
        "latents": latents,
        "pre_activations": pre,
        "threshold": theta,
        "decoder_weight": torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64),
    }
    out = jumprelu(mo, {"activations": x}, mode="tanh", sparsity_weight=1.0, tanh_scale=c, bandwidth=eps)
    assert out["metrics"]["sparsity"].item() == pytest.approx(math.tanh(c * 0.51) / 2, rel=1e-12)
    out["loss"].backward()
    assert theta.grad.item() == pytest.approx(want, rel=1e-9)
    # the |f| form loses the first token's share: only token 2 / 2 remains
    theta.grad = None
    torch.tanh(c * jumprelu_activation(pre, theta, bandwidth=eps).abs()).mean().backward()
    assert theta.grad.item() == pytest.approx(token_2 / 2, rel=1e-9)


def test_optional_inputs_are_required_by_the_options_that_use_them():
    mo, tg = jumprelu_sae(seed=6)
    no_decoder = {k: v for k, v in mo.items() if k != "decoder_weight"}
    out = jumprelu(no_decoder, {"activations": tg["activations"]})  # step mode, no pre-act loss
    assert "pre_act" not in out["metrics"]
    with pytest.raises(MissingInputError, match=r"jumprelu: input 'decoder_weight'.*tanh"):
        jumprelu(no_decoder, tg, mode="tanh")
    with pytest.raises(MissingInputError, match=r"jumprelu: input 'decoder_weight'.*pre_act_weight"):
        jumprelu(no_decoder, tg, pre_act_weight=0.1)
    with pytest.raises(MissingInputError, match=r"jumprelu: input 'dead_mask'"):
        jumprelu(mo, {"activations": tg["activations"]}, pre_act_weight=0.1, pre_act_latents="dead")
    assert "dead_fraction" in jumprelu(mo, tg, pre_act_weight=0.1, pre_act_latents="dead")["metrics"]


def test_shared_scalar_threshold():
    mo, tg = jumprelu_sae(seed=7)
    theta = torch.tensor(0.3, dtype=torch.float64)
    scalar = jumprelu({**mo, "threshold": theta}, tg, sparsity_weight=0.05, bandwidth=0.2)["loss"]
    vector = jumprelu(mo, tg, sparsity_weight=0.05, bandwidth=0.2)["loss"]
    torch.testing.assert_close(scalar, vector)
