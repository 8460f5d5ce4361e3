"""siglip against open_clip's ``SigLipLoss`` formula written out here, and
its optional bias (absent means no bias)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES, MissingInputError, resolve_loss
from losses_ranking import siglip

from ._data import towers


def open_clip_siglip_loss(image, text, logit_scale, logit_bias):
    """open_clip SigLipLoss._loss (labels 2I - 1), written element by element."""
    n = image.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            label = 1.0 if i == j else -1.0
            logit = logit_scale * image[i] @ text[j] + logit_bias
            total = total - F.logsigmoid(label * logit)
    return total / n


def test_siglip_matches_open_clip_formula():
    img, txt = towers(10)
    t = torch.tensor(math.log(10.0), dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-10.0, dtype=torch.float64, requires_grad=True)
    out = siglip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": t, "logit_bias": bias}, {})
    t_ref = t.detach().clone().requires_grad_(True)
    bias_ref = bias.detach().clone().requires_grad_(True)
    expected = open_clip_siglip_loss(img, txt, t_ref.exp(), bias_ref)
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    expected.backward()
    torch.testing.assert_close(t.grad, t_ref.grad)
    torch.testing.assert_close(bias.grad, bias_ref.grad)
    torch.testing.assert_close(out["metrics"]["pos_loss"] + out["metrics"]["neg_loss"], expected.detach())
    direct = siglip(
        {
            "image_embeddings": img,
            "text_embeddings": txt,
            "logit_scale": t.detach().exp(),
            "logit_bias": bias,
        },
        {},
        logit_scale_is_log=False,
    )
    torch.testing.assert_close(direct["loss"], expected)


def test_siglip_without_a_bias_equals_an_explicit_zero_bias():
    img, txt = towers(11)
    t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": t}
    absent = siglip(inputs, {})
    zero = siglip({**inputs, "logit_bias": torch.zeros((), dtype=torch.float64)}, {})
    torch.testing.assert_close(absent["loss"], zero["loss"])
    torch.testing.assert_close(absent["loss"], open_clip_siglip_loss(img, txt, t.detach().exp(), 0.0))
    for key in ("logit_scale", "logit_bias", "pos_loss", "neg_loss"):
        torch.testing.assert_close(absent["metrics"][key], zero["metrics"][key])
    assert absent["metrics"]["logit_bias"].item() == 0.0
    (grad_absent,) = torch.autograd.grad(absent["loss"], t)
    (grad_zero,) = torch.autograd.grad(zero["loss"], t)
    torch.testing.assert_close(grad_absent, grad_zero)
    # the same through the registry, resolve_loss and reduction="none"
    torch.testing.assert_close(LOSSES["siglip"](inputs, {}), zero["loss"].detach())
    torch.testing.assert_close(resolve_loss("siglip")(inputs, {})["loss"], zero["loss"])
    torch.testing.assert_close(
        siglip(inputs, {}, reduction="none"),
        siglip({**inputs, "logit_bias": torch.zeros(())}, {}, reduction="none"),
    )
    # a bias that is present is used (it is not the no-bias loss) and can live under another key
    biased = siglip({**inputs, "logit_bias": torch.tensor(-10.0, dtype=torch.float64)}, {})
    assert not torch.allclose(biased["loss"], absent["loss"])
    mapped = siglip({**inputs, "b": torch.tensor(-10.0, dtype=torch.float64)}, {}, keys={"logit_bias": "b"})
    torch.testing.assert_close(mapped["loss"], biased["loss"])
    # the scale stays required
    with pytest.raises(MissingInputError, match="siglip: input 'logit_scale'"):
        siglip({"image_embeddings": img, "text_embeddings": txt}, {})


def test_reductions():
    img, txt = towers(12)
    inputs = {
        "image_embeddings": img,
        "text_embeddings": txt,
        "logit_scale": torch.tensor(2.0, dtype=torch.float64),
        "logit_bias": torch.tensor(-2.0, dtype=torch.float64),
    }
    per_image = siglip(inputs, {}, reduction="none")
    assert per_image.shape == (6,)
    torch.testing.assert_close(per_image.sum(), siglip(inputs, {}, reduction="sum")["loss"])
    torch.testing.assert_close(per_image.mean(), siglip(inputs, {})["loss"])
