"""contrastive against pytorch-metric-learning 2.9.0 (ContrastiveLoss and
NTXentLoss) and a written-out supervised InfoNCE with an additive margin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import LpDistance

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError, loss_from_config
from losses_core.losses import contrastive


def labelled(seed=0, n=12, d=5, classes=4):
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=gen)
    return emb, labels


def grad_of(fn, emb):
    leaf = emb.clone().requires_grad_(True)
    fn(leaf).backward()
    return leaf.grad


def check_value_and_grad(ours, reference, emb, rtol=1e-9, atol=1e-12):
    torch.testing.assert_close(ours(emb), reference(emb), rtol=rtol, atol=atol)
    torch.testing.assert_close(grad_of(ours, emb), grad_of(reference, emb), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(("pos_margin", "margin"), [(0.0, 1.0), (0.2, 0.7)])
def test_pairwise_matches_pml(pos_margin, margin):
    emb, labels = labelled(2)
    reference = pml_losses.ContrastiveLoss(pos_margin=pos_margin, neg_margin=margin)
    check_value_and_grad(
        lambda e: contrastive({"embeddings": e}, {"labels": labels}, margin=margin, pos_margin=pos_margin)[
            "loss"
        ],
        lambda e: reference(e, labels),
        emb,
    )


def test_default_margin_is_pml_neg_margin():
    emb, labels = labelled(3)
    ours = contrastive({"embeddings": emb}, {"labels": labels})["loss"]
    torch.testing.assert_close(ours, pml_losses.ContrastiveLoss()(emb, labels))


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_with_temperature_matches_pml_ntxent(temperature):
    emb, labels = labelled(4)
    reference = pml_losses.NTXentLoss(temperature=temperature)
    check_value_and_grad(
        lambda e: contrastive({"embeddings": e}, {"labels": labels}, temperature=temperature)["loss"],
        lambda e: reference(e, labels),
        emb,
    )


def test_temperature_margin_is_additive_on_positives():
    emb, labels = labelled(5, n=8)
    tau, m = 0.2, 0.3
    value = contrastive({"embeddings": emb}, {"labels": labels}, temperature=tau, margin=m)["loss"]
    z = F.normalize(emb, dim=1)
    terms = []
    for i in range(len(z)):
        for p in range(len(z)):
            if p != i and labels[p] == labels[i]:
                pos = torch.exp((z[i] @ z[p] - m) / tau)
                neg = sum(torch.exp(z[i] @ z[n] / tau) for n in range(len(z)) if labels[n] != labels[i])
                terms.append(-torch.log(pos / (pos + neg)))
    torch.testing.assert_close(value, torch.stack(terms).mean())


def test_never_ignores_a_parameter():
    emb, labels = labelled(6)
    with pytest.raises(LossParameterError, match="pos_margin"):
        contrastive({"embeddings": emb}, {"labels": labels}, temperature=0.1, pos_margin=0.2)
    for bad in (0.0, -1.0):
        with pytest.raises(LossParameterError, match="temperature"):
            contrastive({"embeddings": emb}, {"labels": labels}, temperature=bad)
    # margin changes the result in both forms, normalize in the pairwise one
    a = contrastive({"embeddings": emb}, {"labels": labels}, temperature=0.1)["loss"]
    b = contrastive({"embeddings": emb}, {"labels": labels}, temperature=0.1, margin=0.5)["loss"]
    c = contrastive({"embeddings": emb}, {"labels": labels}, margin=0.5)["loss"]
    d = contrastive({"embeddings": emb}, {"labels": labels})["loss"]
    e = contrastive({"embeddings": emb}, {"labels": labels}, normalize=False)["loss"]
    assert a != b and c != d and d != e


def test_unnormalized_uses_raw_distances():
    emb, labels = labelled(7)
    reference = pml_losses.ContrastiveLoss(distance=LpDistance(normalize_embeddings=False))
    ours = contrastive({"embeddings": emb}, {"labels": labels}, normalize=False)["loss"]
    torch.testing.assert_close(ours, reference(emb, labels))


@pytest.mark.parametrize("temperature", [None, 0.1])
def test_reduction_none_is_per_anchor_and_sums(temperature):
    emb, labels = labelled(8)
    per_anchor = contrastive(
        {"embeddings": emb}, {"labels": labels}, temperature=temperature, reduction="none"
    )
    assert isinstance(per_anchor, torch.Tensor) and per_anchor.shape == (12,)
    total = contrastive({"embeddings": emb}, {"labels": labels}, temperature=temperature, reduction="sum")
    torch.testing.assert_close(per_anchor.sum(), total["loss"])


@pytest.mark.parametrize(
    ("temperature", "labels"),
    [
        (None, torch.arange(5)),  # no positive pair, and margin 0: no active negative pair
        (0.1, torch.arange(5)),  # no positive pair
        (0.1, torch.zeros(5, dtype=torch.long)),  # no negative for any anchor
    ],
)
def test_no_valid_pair_is_graph_connected_zero(temperature, labels):
    emb = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out = contrastive({"embeddings": emb}, {"labels": labels}, temperature=temperature, margin=0.0)
    assert out["loss"].item() == 0.0 and out["loss"].requires_grad
    out["loss"].backward()
    assert torch.all(emb.grad == 0)


def test_duplicate_embeddings_give_finite_gradients():
    emb = torch.tensor(
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True
    )
    labels = torch.tensor([0, 0, 1, 1])
    for temperature in (None, 0.1):
        contrastive({"embeddings": emb}, {"labels": labels}, temperature=temperature)["loss"].backward()
        assert torch.isfinite(emb.grad).all()
        emb.grad = None


def test_metrics():
    emb, labels = labelled(9)
    pairwise = contrastive({"embeddings": emb}, {"labels": labels})["metrics"]
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    assert pairwise["num_pos_pairs"].item() == same.sum().item() - 12
    assert pairwise["num_neg_pairs"].item() == (~same).sum().item()
    torch.testing.assert_close(
        pairwise["pos_loss"] + pairwise["neg_loss"],
        contrastive({"embeddings": emb}, {"labels": labels})["loss"],
    )
    scaled = contrastive({"embeddings": emb}, {"labels": labels}, temperature=0.1)["metrics"]
    z = F.normalize(emb, dim=1)
    sim = z @ z.T
    positive = same & ~torch.eye(12, dtype=torch.bool)
    torch.testing.assert_close(scaled["mean_pos_similarity"], sim[positive].mean())
    torch.testing.assert_close(scaled["mean_neg_similarity"], sim[~same].mean())


def test_half_precision_is_computed_in_float32():
    emb, labels = labelled(10)
    out = contrastive({"embeddings": emb.bfloat16()}, {"labels": labels}, temperature=0.1)["loss"]
    assert out.dtype == torch.float32
    expected = contrastive({"embeddings": emb.bfloat16().float()}, {"labels": labels}, temperature=0.1)[
        "loss"
    ]
    torch.testing.assert_close(out, expected)


def test_input_errors():
    emb, labels = labelled(11)
    with pytest.raises(MissingInputError, match=r"contrastive.*labels"):
        LOSSES["contrastive"]({"embeddings": emb}, {})
    with pytest.raises(LossInputError, match="dimension N"):
        LOSSES["contrastive"]({"embeddings": emb}, {"labels": labels[:5]})
    with pytest.raises(LossInputError, match=r"embeddings.*shape"):
        LOSSES["contrastive"]({"embeddings": emb[0]}, {"labels": labels})
    with pytest.raises(LossParameterError, match="embeddings_key"):
        LOSSES["contrastive"]({"embeddings": emb}, {"labels": labels}, embeddings_key="x")


def test_config_with_margin_and_temperature(tmp_path):
    emb, labels = labelled(12)
    path = tmp_path / "loss.yaml"
    path.write_text("loss: {class: contrastive, params: {margin: 0.5, temperature: 0.2}}\n")
    out = loss_from_config(path)({"embeddings": emb}, {"labels": labels})
    expected = contrastive({"embeddings": emb}, {"labels": labels}, margin=0.5, temperature=0.2)
    torch.testing.assert_close(out["loss"], expected["loss"])
