"""topk_auxk (TopK + AuxK, Gao et al. 2024) against loop references and hand
values: the AuxK conventions, the dead-latent scale of undercomplete
dictionaries, signed pre-activations, the no-dead-latent case and gradients."""

from __future__ import annotations

import pytest
import torch
from sae_references import rand, ref_auxk, ref_sum_mean, topk_sae

from losses_core import LOSSES, LossInputError, MissingInputError, resolve_loss
from losses_sae import sae_loss, topk_auxk


@pytest.mark.parametrize(
    ("normalize", "include_bias", "dead_scale", "k_aux"),
    [
        ("residual_var", False, False, 2),  # OpenAI / dictionary_learning / paper
        ("total_var", True, True, 3),  # sparsify (before PR #134: bias added)
        ("none", True, True, 8),  # SAELens; more than the 4 dead latents requested
        ("none", False, False, None),  # k_aux default d_in // 2
    ],
)
def test_topk_auxk_matches_reference(normalize, include_bias, dead_scale, k_aux):
    mo, tg = topk_sae(seed=11)
    out = topk_auxk(
        mo, tg, alpha=0.25, k_aux=k_aux, normalize=normalize, include_bias=include_bias, dead_scale=dead_scale
    )
    aux = ref_auxk(
        mo, tg, k_aux=k_aux or 2, normalize=normalize, include_bias=include_bias, dead_scale=dead_scale
    )
    recon = ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
    assert out["metrics"]["auxk"].item() == pytest.approx(aux, rel=1e-10)
    assert out["loss"].item() == pytest.approx(recon + 0.25 * aux, rel=1e-10)
    assert out["metrics"]["dead_fraction"].item() == pytest.approx(0.4)


def test_topk_auxk_default_alpha_is_one_over_32():
    mo, tg = topk_sae(seed=12)
    out = topk_auxk(mo, tg)
    recon = ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
    aux = ref_auxk(mo, tg, k_aux=2, normalize="residual_var")
    assert out["loss"].item() == pytest.approx(recon + aux / 32, rel=1e-10)


def _hand_case(n_dead_pre=(0.5, -1.0)):
    """d_in = 4, one latent (undercomplete: 1 < d_in / 2 = 2), dead, two tokens;
    x_hat = 0, so the residual is x itself."""
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]], dtype=torch.float64)
    pre = torch.tensor([[n_dead_pre[0]], [n_dead_pre[1]]], dtype=torch.float64)
    mo = {
        "reconstruction": torch.zeros(2, 4, dtype=torch.float64, requires_grad=True),
        "latents": torch.zeros(2, 1, dtype=torch.float64),
        "pre_activations": pre,
        "decoder_weight": torch.tensor([[1.0, 1.0, 0.0, 0.0]], dtype=torch.float64),
    }
    return mo, {"activations": x, "dead_mask": torch.tensor([True])}


def test_dead_scale_of_an_undercomplete_dictionary_uses_d_in_over_2():
    # By hand (normalize="none": sum of squared errors / T):
    #   token 1: e_hat = ReLU(0.5) * [1, 1, 0, 0] = [0.5, 0.5, 0, 0]; ||[1,0,0,0] - e_hat||^2 = 0.5
    #   token 2: e_hat = ReLU(-1.0) * W = 0;                         ||[0,2,0,0]||^2           = 4.0
    #   unscaled AuxK = (0.5 + 4.0) / 2 = 2.25
    # sparsify (sparse_coder.py) and SAELens (topk_sae.py) take k_aux = d_in // 2 = 2 and
    # scale = min(num_dead / k_aux, 1) = min(1 / 2, 1) = 0.5 before capping k_aux at the
    # number of latents (1), so the scaled term is 1.125 (capping first would give scale 1).
    mo, tg = _hand_case()
    out = topk_auxk(mo, tg, alpha=1.0, normalize="none", dead_scale=True)
    assert out["metrics"]["auxk"].item() == pytest.approx(1.125, rel=1e-12)
    unscaled = topk_auxk(mo, tg, alpha=1.0, normalize="none", dead_scale=False)
    assert unscaled["metrics"]["auxk"].item() == pytest.approx(2.25, rel=1e-12)
    # an explicit k_aux is the requested value of the scale too: min(1 / 3, 1)
    explicit = topk_auxk(mo, tg, alpha=1.0, normalize="none", dead_scale=True, k_aux=3)
    assert explicit["metrics"]["auxk"].item() == pytest.approx(2.25 / 3, rel=1e-12)


def test_dead_scale_undercomplete_random_case_matches_reference():
    # 8 latents, d_in = 20 (k_aux = 10 > 8 latents), 3 dead: scale 3/10, not 3/8
    mo, tg = topk_sae(tokens=6, d=20, n=8, k=2, seed=21, dead=(0, 3, 5))
    out = topk_auxk(mo, tg, alpha=1.0, normalize="total_var", dead_scale=True)
    unscaled = topk_auxk(mo, tg, alpha=1.0, normalize="total_var", dead_scale=False)
    assert out["metrics"]["auxk"].item() == pytest.approx(0.3 * unscaled["metrics"]["auxk"].item(), rel=1e-12)
    want = ref_auxk(mo, tg, k_aux=10, normalize="total_var", dead_scale=True)
    assert out["metrics"]["auxk"].item() == pytest.approx(want, rel=1e-10)


def test_signed_pre_activations_are_relud_as_in_openai_sparsify_dictionary_learning():
    # The hand case above has a dead latent with pre-activation -1.0 on token 2: we decode
    # ReLU(-1.0) = 0 (error 4.0 on that token). SAELens decodes the raw -1.0:
    # e_hat = [-1, -1, 0, 0], ||[0,2,0,0] - e_hat||^2 = 1 + 9 = 10, AuxK = (0.5 + 10) / 2 = 5.25.
    mo, tg = _hand_case()
    ours = topk_auxk(mo, tg, alpha=1.0, normalize="none")["metrics"]["auxk"].item()
    assert ours == pytest.approx(2.25, rel=1e-12)
    assert ours != pytest.approx(5.25, rel=1e-3)
    # with non-negative pre-activations the conventions agree: (0.5 + ||[0,2,0,0] - 2 W||^2) / 2
    mo, tg = _hand_case((0.5, 2.0))
    both = topk_auxk(mo, tg, alpha=1.0, normalize="none")["metrics"]["auxk"].item()
    assert both == pytest.approx((0.5 + (4.0 + 0.0)) / 2, rel=1e-12)


def test_auxk_is_zero_finite_and_connected_without_dead_latents():
    mo, tg = topk_sae(seed=13, dead=())
    for normalize in ("none", "residual_var", "total_var"):
        out = topk_auxk(mo, tg, normalize=normalize, include_bias=True, dead_scale=True)
        assert out["metrics"]["auxk"].item() == 0.0
        assert out["loss"].requires_grad
        assert out["loss"].item() == pytest.approx(
            ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
        )
        out["loss"].backward()
        for key in ("reconstruction", "pre_activations", "decoder_weight"):
            assert torch.isfinite(mo[key].grad).all()
        assert mo["pre_activations"].grad.abs().sum() == 0
        for key in ("reconstruction", "pre_activations", "decoder_weight"):
            mo[key].grad = None
    compiled = torch.compile(topk_auxk, fullgraph=True, backend="aot_eager")
    assert compiled(mo, tg)["metrics"]["auxk"].item() == 0.0


def test_auxk_gradient_reaches_only_dead_latents_and_not_the_reconstruction():
    mo, tg = topk_sae(seed=14, dead=(2, 5))
    out = topk_auxk(mo, tg, alpha=1.0, k_aux=2)
    out["loss"].backward()
    alive = ~tg["dead_mask"]
    assert mo["pre_activations"].grad[:, alive].abs().sum() == 0
    assert mo["decoder_weight"].grad[alive].abs().sum() == 0
    assert mo["decoder_weight"].grad[~alive].abs().sum() > 0
    # the residual target is detached: the reconstruction sees only the main term
    T = tg["activations"].shape[0]
    torch.testing.assert_close(
        mo["reconstruction"].grad, 2 * (mo["reconstruction"] - tg["activations"]).detach() / T
    )


AUXK_INPUTS = (
    ("pre_activations", "model_output"),
    ("decoder_weight", "model_output"),
    ("dead_mask", "targets"),
)


def _without(mo, tg, key, source):
    """``(mo, tg)`` without ``source[key]``."""
    if source == "model_output":
        return {k: v for k, v in mo.items() if k != key}, tg
    return mo, {k: v for k, v in tg.items() if k != key}


def test_alpha_zero_leaves_auxk_out_and_equals_the_plain_reconstruction_loss():
    mo, tg = topk_sae(seed=15)
    out = topk_auxk(mo, tg, alpha=0.0)
    assert "auxk" not in out["metrics"]
    assert out["metrics"]["dead_fraction"].item() == pytest.approx(0.4)
    plain = sae_loss(mo, {"activations": tg["activations"]}, sparsity_weight=0.0)
    torch.testing.assert_close(out["loss"], plain["loss"])
    # the decoder bias is optional
    no_bias = {k: v for k, v in mo.items() if k != "decoder_bias"}
    torch.testing.assert_close(topk_auxk(no_bias, tg)["loss"], topk_auxk(mo, tg)["loss"])


def test_alpha_zero_works_without_the_inputs_only_auxk_reads():
    mo, tg = topk_sae(seed=15)
    with_them = topk_auxk(mo, tg, alpha=0.0)
    slim = {"reconstruction": mo["reconstruction"], "latents": mo["latents"]}
    out = topk_auxk(slim, {"activations": tg["activations"]}, alpha=0.0)
    torch.testing.assert_close(out["loss"], with_them["loss"])
    plain = sae_loss(slim, {"activations": tg["activations"]}, sparsity_weight=0.0)
    torch.testing.assert_close(out["loss"], plain["loss"])
    # no AuxK term, and no dead fraction without a dead mask
    assert "auxk" not in out["metrics"] and "dead_fraction" not in out["metrics"]
    for key in ("reconstruction", "l0", "fvu"):
        torch.testing.assert_close(out["metrics"][key], with_them["metrics"][key])
    out["loss"].backward()
    assert torch.isfinite(mo["reconstruction"].grad).all()
    # each one left out alone, also through the registry and resolve_loss
    for key, source in AUXK_INPUTS:
        args = _without(mo, tg, key, source)
        torch.testing.assert_close(topk_auxk(*args, alpha=0.0)["loss"], with_them["loss"])
        torch.testing.assert_close(LOSSES["topk_auxk"](*args, alpha=0.0), with_them["loss"].detach())
        resolved = resolve_loss("topk_auxk", alpha=0.0)(*args)
        torch.testing.assert_close(resolved["loss"], with_them["loss"])
        assert ("dead_fraction" in resolved["metrics"]) == (key != "dead_mask")


@pytest.mark.parametrize(("key", "source"), AUXK_INPUTS)
def test_alpha_positive_without_an_auxk_input_names_it(key, source):
    mo, tg = topk_sae(seed=15)
    args = _without(mo, tg, key, source)
    message = (
        f"topk_auxk: input '{key}' ({source}['{key}']) is required when alpha > 0 (the AuxK term); "
        "pass it, map it with keys=, or set alpha=0"
    )
    for call in (
        lambda: topk_auxk(*args),  # the default alpha, 1/32
        lambda: topk_auxk(*args, alpha=0.5),
        lambda: LOSSES["topk_auxk"](*args, alpha=0.5),
        lambda: resolve_loss("topk_auxk", alpha=0.5)(*args),
    ):
        with pytest.raises(MissingInputError) as info:
            call()
        assert info.value.args[0] == message
    # under another key, mapped with keys=, it is found again
    renamed = _without(mo, tg, key, source)
    if source == "model_output":
        renamed = ({**renamed[0], "mine": mo[key]}, tg)
    else:
        renamed = (mo, {**renamed[1], "mine": tg[key]})
    got = topk_auxk(*renamed, alpha=0.5, keys={key: "mine"})["loss"]
    torch.testing.assert_close(got, topk_auxk(mo, tg, alpha=0.5)["loss"])


def test_inputs_under_other_keys_through_keys():
    mo, tg = topk_sae(seed=16)
    want = topk_auxk(mo, tg, k_aux=3)["loss"]
    renamed_mo = {"recon": mo["reconstruction"], "codes": mo["latents"], "h": mo["pre_activations"]}
    renamed_mo |= {"W": mo["decoder_weight"]}
    renamed_tg = {"x": tg["activations"], "dead": tg["dead_mask"]}
    keys = {
        "x_hat": "recon",
        "latents": "codes",
        "pre_activations": "h",
        "decoder_weight": "W",
        "activations": "x",
        "dead_mask": "dead",
    }
    got = topk_auxk(renamed_mo, renamed_tg, k_aux=3, keys=keys)["loss"]
    torch.testing.assert_close(got, want)


def test_shape_and_dtype_errors_are_clear():
    mo, tg = topk_sae(seed=17)
    transposed = {**mo, "decoder_weight": mo["decoder_weight"].detach().T}
    with pytest.raises(LossInputError, match="looks transposed"):
        topk_auxk(transposed, tg)
    with pytest.raises(LossInputError, match=r"input 'dead_mask'.*torch\.bool"):
        topk_auxk(mo, {**tg, "dead_mask": tg["dead_mask"].float()})
    with pytest.raises(LossInputError, match=r"dimension N is 3 in input 'dead_mask'"):
        topk_auxk(mo, {**tg, "dead_mask": tg["dead_mask"][:3]})
    with pytest.raises(LossInputError, match=r"input 'pre_activations'"):
        topk_auxk({**mo, "pre_activations": rand(7, 9, seed=1)}, tg)
