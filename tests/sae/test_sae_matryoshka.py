"""matryoshka (Bussmann et al. 2025) against a loop reference: prefixes, weights,
default groups, AuxK and parameter errors."""

from __future__ import annotations

import pytest
import torch
from sae_references import rand, sq

from losses_core import LossParameterError, MissingInputError
from losses_sae import matryoshka, sae_loss, topk_auxk
from losses_sae.matryoshka import default_group_sizes


def _matryoshka(seed=0, tokens=5, d=3, n=8):
    x = rand(tokens, d, seed=seed)
    f = rand(tokens, n, seed=seed + 1).relu()
    W = rand(n, d, seed=seed + 2)
    b = 0.1 * rand(d, seed=seed + 3)
    mo = {"latents": f.requires_grad_(True), "decoder_weight": W.requires_grad_(True), "decoder_bias": b}
    return mo, {"activations": x}


def ref_matryoshka(mo, tg, group_sizes, weights, lam=0.0):
    x = tg["activations"]
    f, W, b = mo["latents"].detach(), mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, n = f.shape
    ends, end = [], 0
    for size in group_sizes:
        end += size
        ends.append(end)
    total = 0.0
    for weight, end in zip(weights, ends, strict=True):
        err = 0.0
        for t in range(T):
            x_hat = b.clone()
            for i in range(end):
                x_hat += float(f[t, i]) * W[i]
            err += sq(x[t], x_hat)
        total += weight * err / T
    l1 = sum(abs(float(f[t, i])) for t in range(T) for i in range(n)) / T
    return total + lam * l1


def test_matryoshka_matches_reference():
    mo, tg = _matryoshka(seed=3)
    out = matryoshka(mo, tg, group_sizes=[1, 3, 4])
    assert out["loss"].item() == pytest.approx(ref_matryoshka(mo, tg, [1, 3, 4], [1 / 3] * 3), rel=1e-12)
    weighted = matryoshka(mo, tg, group_sizes=[2, 6], group_weights=[0.25, 2.0], sparsity_weight=0.1)
    assert weighted["loss"].item() == pytest.approx(
        ref_matryoshka(mo, tg, [2, 6], [0.25, 2.0], 0.1), rel=1e-12
    )
    prefixes = weighted["auxiliary"]["prefix_reconstruction"]
    assert prefixes.shape == (2,)
    assert prefixes[1].item() == pytest.approx(weighted["metrics"]["reconstruction_full"].item())
    full = mo["latents"].detach() @ mo["decoder_weight"].detach() + mo["decoder_bias"]
    torch.testing.assert_close(weighted["auxiliary"]["reconstruction"].detach(), full)


def test_matryoshka_default_groups_and_single_group_equals_plain_sae():
    assert default_group_sizes(16) == [2, 2, 4, 8]
    assert default_group_sizes(3) == [1, 2]
    assert default_group_sizes(1) == [1]
    mo, tg = _matryoshka(seed=4)
    out = matryoshka(mo, tg)
    assert out["loss"].item() == pytest.approx(ref_matryoshka(mo, tg, [1, 1, 2, 4], [0.25] * 4), rel=1e-12)
    single = matryoshka(mo, tg, group_sizes=[8], sparsity_weight=0.05)
    full = mo["latents"] @ mo["decoder_weight"] + mo["decoder_bias"]
    plain = sae_loss({"reconstruction": full, "latents": mo["latents"]}, tg, sparsity_weight=0.05)
    torch.testing.assert_close(single["loss"], plain["loss"])


def test_matryoshka_auxk_matches_topk_auxk_on_the_full_reconstruction():
    mo, tg = _matryoshka(seed=5)
    pre = rand(5, 8, seed=9).requires_grad_(True)
    dead = torch.tensor([False, True, False, False, True, True, False, False])
    out = matryoshka({**mo, "pre_activations": pre}, {**tg, "dead_mask": dead}, alpha=0.5, k_aux=2)
    full = (mo["latents"] @ mo["decoder_weight"] + mo["decoder_bias"]).detach()
    ref = topk_auxk(
        {**mo, "reconstruction": full, "pre_activations": pre}, {**tg, "dead_mask": dead}, alpha=0.5, k_aux=2
    )
    torch.testing.assert_close(out["metrics"]["auxk"], ref["metrics"]["auxk"])
    assert out["metrics"]["auxk"].item() > 0
    # AuxK's inputs are optional inputs that alpha > 0 needs; a missing one is named
    for args, key, source in (
        ((mo, {**tg, "dead_mask": dead}), "pre_activations", "model_output"),
        (({**mo, "pre_activations": pre}, tg), "dead_mask", "targets"),
    ):
        with pytest.raises(MissingInputError) as info:
            matryoshka(*args, alpha=0.5, k_aux=2)
        assert info.value.args[0] == (
            f"matryoshka: input '{key}' ({source}['{key}']) is required when alpha > 0 (the AuxK term); "
            "pass it, map it with keys=, or set alpha=0"
        )


def test_matryoshka_rejects_bad_groups():
    mo, tg = _matryoshka(seed=6)
    with pytest.raises(LossParameterError, match="sum to n_latents = 8"):
        matryoshka(mo, tg, group_sizes=[2, 2])
    with pytest.raises(LossParameterError, match="one weight per group"):
        matryoshka(mo, tg, group_sizes=[4, 4], group_weights=[1.0])
    with pytest.raises(LossParameterError, match=r"matryoshka.*group_sizes.*>= 1"):
        matryoshka(mo, tg, group_sizes=[0, 8])
    with pytest.raises(LossParameterError, match=r"matryoshka.*group_sizes.*sum to n_latents"):
        matryoshka(mo, tg, group_sizes=[])
    with pytest.raises(LossParameterError, match=r"matryoshka.*group_weights.*>= 0"):
        matryoshka(mo, tg, group_sizes=[4, 4], group_weights=[1.0, -1.0])
