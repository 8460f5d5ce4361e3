"""ntxent (alias infonce) against pytorch-metric-learning 2.9.0
(``SelfSupervisedLoss(NTXentLoss)``), info-nce-pytorch 0.1.4 (``InfoNCE``)
and SimCLR's formula by hand; its input and parameter errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from info_nce import InfoNCE
from pytorch_metric_learning import losses as pml_losses

from losses_core import LossInputError, LossParameterError, MissingInputError
from losses_ranking import ntxent

from ._data import paired


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_ntxent_matches_pml_self_supervised_ntxent(temperature):
    a, b = paired(1)
    reference = pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss(temperature=temperature))
    ours = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, temperature=temperature)
    torch.testing.assert_close(ours["loss"], reference(a, b))


def test_default_temperature_is_pml_default():
    a, b = paired(7)
    ours = ntxent({"embeddings_a": a, "embeddings_b": b}, {})["loss"]
    torch.testing.assert_close(ours, pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss())(a, b))


def test_ntxent_matches_simclr_formula_with_gradients():
    a, b = paired(2, n=5)
    tau = 0.2

    def simclr(a, b):
        z = F.normalize(torch.cat([a, b]), dim=1)
        n = len(a)
        terms = []
        for i in range(2 * n):
            pos = (i + n) % (2 * n)
            denominator = sum(torch.exp(z[i] @ z[k] / tau) for k in range(2 * n) if k != i)
            terms.append(-torch.log(torch.exp(z[i] @ z[pos] / tau) / denominator))
        return torch.stack(terms).mean()

    leaf_a, leaf_b = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ntxent({"embeddings_a": leaf_a, "embeddings_b": leaf_b}, {}, temperature=tau)["loss"].backward()
    ref_a, ref_b = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    expected = simclr(ref_a, ref_b)
    expected.backward()
    ours = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, temperature=tau)["loss"]
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(leaf_a.grad, ref_a.grad)
    torch.testing.assert_close(leaf_b.grad, ref_b.grad)


@pytest.mark.parametrize("temperature", [0.1, 0.3])
def test_infonce_alias_matches_info_nce_pytorch(temperature):
    a, b = paired(3)
    out = ntxent(
        {"embeddings_a": a, "embeddings_b": b},
        {},
        temperature=temperature,
        negatives="cross",
        symmetric=False,
    )
    torch.testing.assert_close(out["loss"], InfoNCE(temperature=temperature)(a, b))
    symmetric = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, temperature=temperature, negatives="cross")
    expected = (InfoNCE(temperature=temperature)(a, b) + InfoNCE(temperature=temperature)(b, a)) / 2
    torch.testing.assert_close(symmetric["loss"], expected)


@pytest.mark.parametrize("mode", ["unpaired", "paired"])
def test_explicit_negatives_match_info_nce_pytorch(mode):
    a, b = paired(4)
    gen = torch.Generator().manual_seed(5)
    shape = (11, a.shape[1]) if mode == "unpaired" else (a.shape[0], 3, a.shape[1])
    negs = torch.randn(*shape, generator=gen, dtype=torch.float64)
    out = ntxent(
        {"embeddings_a": a, "embeddings_b": b, "negative_embeddings": negs},
        {},
        temperature=0.1,
        negatives="explicit",
        symmetric=False,
    )
    expected = InfoNCE(temperature=0.1, negative_mode=mode)(a, b, negs)
    torch.testing.assert_close(out["loss"], expected)


def test_shared_extra_negatives_join_in_batch_negatives():
    a, b = paired(6, n=4)
    negs = torch.randn(3, a.shape[1], dtype=torch.float64)
    out = ntxent(
        {"embeddings_a": a, "embeddings_b": b, "negative_embeddings": negs},
        {},
        temperature=0.1,
        negatives="cross",
        symmetric=False,
    )
    qa, kb, kn = F.normalize(a, dim=1), F.normalize(b, dim=1), F.normalize(negs, dim=1)
    logits = torch.cat([qa @ kb.T, qa @ kn.T], dim=1) / 0.1
    torch.testing.assert_close(out["loss"], F.cross_entropy(logits, torch.arange(4)))


def test_reductions_and_metrics():
    a, b = paired(8, n=5)
    per_anchor = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, reduction="none")
    assert per_anchor.shape == (10,)  # both views' anchors, view a first
    total = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, reduction="sum")["loss"]
    torch.testing.assert_close(per_anchor.sum(), total)
    out = ntxent({"embeddings_a": a, "embeddings_b": a.clone()}, {})
    assert out["metrics"]["accuracy"].item() == 1.0  # identical views: the positive is always nearest
    torch.testing.assert_close(out["metrics"]["mean_pos_similarity"], torch.tensor(1.0, dtype=a.dtype))


def test_explicit_negatives_errors():
    a, b = paired(9, n=4)
    views = {"embeddings_a": a, "embeddings_b": b}
    with pytest.raises(MissingInputError, match=r"'negative_embeddings'.*negatives='explicit'"):
        ntxent(views, {}, negatives="explicit")
    negs = torch.randn(4, 2, a.shape[1], dtype=a.dtype)
    with pytest.raises(LossParameterError, match="parameter 'distributed'"):
        ntxent({**views, "negative_embeddings": negs}, {}, negatives="explicit", distributed=True)
    with pytest.raises(LossInputError, match="negatives='explicit'"):
        ntxent({**views, "negative_embeddings": negs}, {}, negatives="cross")
    # the width and the number of anchors of per-anchor negatives are checked by their declaration
    with pytest.raises(LossInputError, match="negative_embeddings"):
        ntxent({**views, "negative_embeddings": torch.randn(3, a.shape[1] + 1, dtype=a.dtype)}, {})
    with pytest.raises(LossInputError, match="negative_embeddings"):
        ntxent({**views, "negative_embeddings": negs[:3]}, {}, negatives="explicit")
