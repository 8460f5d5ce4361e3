"""clip against open_clip's ``ClipLoss`` formula written out here (open_clip
itself needs torchvision, which this environment lacks)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from losses_core import LossInputError
from losses_ranking import clip

from ._data import paired, towers


def open_clip_loss(image, text, logit_scale, logit_bias=None):
    """open_clip ClipLoss.forward, single process: logit_scale already exp'd."""
    logits_per_image = logit_scale * image @ text.T
    if logit_bias is not None:
        logits_per_image = logits_per_image + logit_bias
    logits_per_text = logits_per_image.T
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def test_clip_matches_open_clip_formula_with_log_scale():
    img, txt = towers(7)
    t = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    out = clip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": t}, {})
    t_ref = t.detach().clone().requires_grad_(True)
    expected = open_clip_loss(img, txt, t_ref.exp())
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    expected.backward()
    torch.testing.assert_close(t.grad, t_ref.grad)
    torch.testing.assert_close(out["metrics"]["logit_scale"], t.detach().exp())


def test_clip_options_exp_scale_bias_and_cap():
    img, txt = towers(8)
    scale = torch.tensor(20.0, dtype=torch.float64)
    bias = torch.tensor(-1.5, dtype=torch.float64)
    inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": scale, "logit_bias": bias}
    out = clip(inputs, {}, logit_scale_is_log=False)
    torch.testing.assert_close(out["loss"], open_clip_loss(img, txt, scale, bias))
    # CLIP clamps the learnable log-scale at ln(100)
    big = torch.tensor(8.0, dtype=torch.float64, requires_grad=True)
    capped = clip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": big}, {})
    torch.testing.assert_close(
        capped["loss"], open_clip_loss(img, txt, torch.tensor(100.0, dtype=torch.float64))
    )
    capped["loss"].backward()
    assert big.grad.item() == 0.0
    inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": big}
    uncapped = clip(inputs, {}, max_logit_scale=None)
    torch.testing.assert_close(uncapped["loss"], open_clip_loss(img, txt, big.detach().exp()))


def test_clip_normalises_raw_embeddings():
    a, b = paired(9)
    t = torch.tensor(2.0, dtype=torch.float64)
    out = clip({"image_embeddings": a * 3, "text_embeddings": b * 0.1, "logit_scale": t}, {})
    expected = open_clip_loss(F.normalize(a, dim=1), F.normalize(b, dim=1), t.exp())
    torch.testing.assert_close(out["loss"], expected)


def test_reductions_and_metrics():
    img, txt = towers(10)
    inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor(2.5)}
    per_row = clip(inputs, {}, reduction="none")
    total = clip(inputs, {}, reduction="sum")
    mean = clip(inputs, {})
    assert per_row.shape == (6,)
    torch.testing.assert_close(per_row.sum(), total["loss"])
    torch.testing.assert_close(per_row.mean(), mean["loss"])
    halves = (mean["metrics"]["image_loss"] + mean["metrics"]["text_loss"]) / 2
    torch.testing.assert_close(halves, mean["loss"])
    for key in ("image_accuracy", "text_accuracy"):
        assert 0 <= mean["metrics"][key].item() <= 1


def test_scale_and_bias_may_have_one_element_of_any_shape():
    img, txt = towers(11)
    expected = clip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor(2.0)}, {})
    flat = clip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor([[2.0]])}, {})
    torch.testing.assert_close(flat["loss"], expected["loss"])
    with pytest.raises(LossInputError, match="clip: input 'logit_scale' must be a scalar"):
        clip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.ones(2)}, {})
    inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor(2.0)}
    with pytest.raises(LossInputError, match="clip: input 'logit_bias' must be a scalar"):
        clip({**inputs, "logit_bias": img}, {})
