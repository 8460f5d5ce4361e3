"""batch_topk (Bussmann et al. 2024) against loop references."""

from __future__ import annotations

import pytest
import torch
from sae_references import ref_auxk, ref_sum_mean, topk_sae

from losses_core import MissingInputError
from losses_sae import batch_topk, sae_loss
from losses_sae.activations import batch_topk_relu


def test_batch_topk_loss_and_threshold_statistic():
    mo, tg = topk_sae(seed=17)
    mo["latents"] = batch_topk_relu(mo["pre_activations"].detach(), 3)
    out = batch_topk(mo, tg, k_aux=3)
    want = (
        ref_sum_mean(tg["activations"], mo["reconstruction"].detach())
        + ref_auxk(mo, tg, k_aux=3, normalize="residual_var") / 32
    )
    assert out["loss"].item() == pytest.approx(want, rel=1e-10)
    positives = [float(v) for v in mo["latents"].reshape(-1) if float(v) > 0]
    assert out["metrics"]["min_positive_activation"].item() == pytest.approx(min(positives))


def test_batch_topk_dead_scale_uses_the_requested_k_aux():
    # 6 latents, d_in = 16: k_aux = 8 is capped at 6 for the selection, the scale is 2/8
    mo, tg = topk_sae(tokens=5, d=16, n=6, k=2, seed=19, dead=(1, 4))
    out = batch_topk(mo, tg, alpha=1.0, normalize="none", dead_scale=True)
    want = ref_auxk(mo, tg, k_aux=8, normalize="none", dead_scale=True)
    assert out["metrics"]["auxk"].item() == pytest.approx(want, rel=1e-10)
    unscaled = batch_topk(mo, tg, alpha=1.0, normalize="none")["metrics"]["auxk"].item()
    assert out["metrics"]["auxk"].item() == pytest.approx(unscaled * 2 / 8, rel=1e-12)


def test_batch_topk_alpha_zero_works_without_the_auxk_inputs():
    mo, tg = topk_sae(seed=20)
    mo["latents"] = batch_topk_relu(mo["pre_activations"].detach(), 3)
    with_them = batch_topk(mo, tg, alpha=0.0)
    slim = {"reconstruction": mo["reconstruction"], "latents": mo["latents"]}
    out = batch_topk(slim, {"activations": tg["activations"]}, alpha=0.0)
    torch.testing.assert_close(out["loss"], with_them["loss"])
    plain = sae_loss(slim, {"activations": tg["activations"]}, sparsity_weight=0.0)
    torch.testing.assert_close(out["loss"], plain["loss"])
    assert "auxk" not in out["metrics"] and "dead_fraction" not in out["metrics"]
    assert with_them["metrics"]["dead_fraction"].item() == pytest.approx(0.4)
    torch.testing.assert_close(
        out["metrics"]["min_positive_activation"], with_them["metrics"]["min_positive_activation"]
    )


@pytest.mark.parametrize(
    ("key", "source"),
    [("pre_activations", "model_output"), ("decoder_weight", "model_output"), ("dead_mask", "targets")],
)
def test_batch_topk_alpha_positive_without_an_auxk_input_names_it(key, source):
    mo, tg = topk_sae(seed=20)
    if source == "model_output":
        args = ({k: v for k, v in mo.items() if k != key}, tg)
    else:
        args = (mo, {k: v for k, v in tg.items() if k != key})
    message = (
        f"batch_topk: input '{key}' ({source}['{key}']) is required when alpha > 0 (the AuxK term); "
        "pass it, map it with keys=, or set alpha=0"
    )
    with pytest.raises(MissingInputError) as info:
        batch_topk(*args, k_aux=3)
    assert info.value.args[0] == message
