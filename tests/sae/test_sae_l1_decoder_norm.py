"""sae_l1_decoder_norm (Anthropic, April 2024) against a loop reference, and
its agreement with SAELoss for unit-norm decoder rows."""

from __future__ import annotations

import pytest
import torch
from sae_references import l1_inputs, ref_sae_loss

from losses_core import LossInputError
from losses_sae import sae_l1_decoder_norm, sae_loss


@pytest.mark.parametrize("convention", ["sum_mean", "fvu"])
def test_decoder_norm_l1_matches_reference(convention):
    x, xh, f, decoder = l1_inputs(seed=8)
    with torch.no_grad():
        decoder.mul_(torch.linspace(0.2, 3.0, decoder.shape[0], dtype=decoder.dtype).unsqueeze(-1))
    mo = {"reconstruction": xh, "latents": f, "decoder_weight": decoder}
    out = sae_l1_decoder_norm(mo, {"activations": x}, reconstruction=convention)
    want = ref_sae_loss(x, xh, f, 5.0, convention, decoder=decoder)
    assert out["loss"].item() == pytest.approx(sum(want) / len(want), rel=1e-12)
    out["loss"].backward()
    assert decoder.grad is not None and decoder.grad.abs().sum() > 0  # the penalty trains the decoder norms


def test_decoder_norm_l1_equals_plain_l1_with_unit_norm_rows():
    x, xh, f, decoder = l1_inputs(seed=9)
    unit = (decoder / decoder.norm(dim=1, keepdim=True)).detach()
    mo = {"reconstruction": xh, "latents": f, "decoder_weight": unit}
    for reduction in ("mean", "sum", "none"):
        a = sae_l1_decoder_norm(mo, {"activations": x}, sparsity_weight=0.7, reduction=reduction)
        b = sae_loss(mo, {"activations": x}, sparsity_weight=0.7, reduction=reduction)
        if reduction == "none":
            torch.testing.assert_close(a, b)
        else:
            torch.testing.assert_close(a["loss"], b["loss"])
            torch.testing.assert_close(a["metrics"]["l1_decoder_norm"], b["metrics"]["l1"])


def test_transposed_decoder_gets_a_hint():
    x, xh, f, decoder = l1_inputs(seed=10)
    mo = {"reconstruction": xh, "latents": f, "decoder_weight": decoder.detach().T}
    message = r"sae_l1_decoder_norm: input 'decoder_weight'.*looks transposed"
    with pytest.raises(LossInputError, match=message):
        sae_l1_decoder_norm(mo, {"activations": x})
