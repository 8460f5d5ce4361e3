"""triplet against pytorch-metric-learning 2.9.0 (``TripletMarginLoss``, with
``BatchHardMiner`` and ``TripletMarginMiner``) and ``torch.nn.functional.triplet_margin_loss``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from losses_ranking import triplet

from ._data import check_value_and_grad, labelled


@pytest.mark.parametrize("margin", [0.05, 0.4])
def test_triplet_all_matches_pml(margin):
    emb, labels = labelled(7, n=16)
    reference = pml_losses.TripletMarginLoss(margin=margin)
    check_value_and_grad(
        lambda e: triplet({"embeddings": e}, {"labels": labels}, margin=margin)["loss"],
        lambda e: reference(e, labels),
        emb,
    )


def test_default_margin_is_pml_default():
    emb, labels = labelled(6, n=16)
    ours = triplet({"embeddings": emb}, {"labels": labels})["loss"]
    torch.testing.assert_close(ours, pml_losses.TripletMarginLoss()(emb, labels))


def test_triplet_all_mean_over_all_triplets_matches_pml_mean_reducer():
    emb, labels = labelled(8, n=14)
    reference = pml_losses.TripletMarginLoss(margin=0.3, reducer=pml_reducers.MeanReducer())
    ours = triplet({"embeddings": emb}, {"labels": labels}, margin=0.3, average_nonzero=False)
    torch.testing.assert_close(ours["loss"], reference(emb, labels))


def test_triplet_hard_matches_pml_batch_hard_miner():
    emb, labels = labelled(9, n=16)
    reference = pml_losses.TripletMarginLoss(margin=0.2)
    miner = pml_miners.BatchHardMiner()
    check_value_and_grad(
        lambda e: triplet({"embeddings": e}, {"labels": labels}, margin=0.2, mining="hard")["loss"],
        lambda e: reference(e, labels, miner(e, labels)),
        emb,
    )


@pytest.mark.parametrize("margin", [0.2, 0.6])
def test_triplet_semi_hard_matches_pml_triplet_margin_miner(margin):
    emb, labels = labelled(10, n=16)
    reference = pml_losses.TripletMarginLoss(margin=margin)
    miner = pml_miners.TripletMarginMiner(margin=margin, type_of_triplets="semihard")
    check_value_and_grad(
        lambda e: triplet({"embeddings": e}, {"labels": labels}, margin=margin, mining="semi_hard")["loss"],
        lambda e: reference(e, labels, miner(e, labels)),
        emb,
    )


def test_triplet_unnormalised_matches_torch_triplet_margin_loss():
    emb, labels = labelled(11, n=10)
    anchors, positives, negatives = [], [], []
    for a in range(10):
        for p in range(10):
            for n in range(10):
                if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
                    anchors.append(a), positives.append(p), negatives.append(n)
    per_triplet = F.triplet_margin_loss(
        emb[anchors], emb[positives], emb[negatives], margin=1.0, reduction="none", eps=0.0
    )
    out = triplet({"embeddings": emb}, {"labels": labels}, margin=1.0, normalize=False)
    torch.testing.assert_close(out["loss"], per_triplet[per_triplet > 0].mean())
    assert out["metrics"]["num_triplets"].item() == len(anchors)
    assert out["metrics"]["active_triplets"].item() == (per_triplet > 0).sum().item()
    mean_all = triplet(
        {"embeddings": emb}, {"labels": labels}, margin=1.0, normalize=False, average_nonzero=False
    )
    torch.testing.assert_close(mean_all["loss"], per_triplet.mean())
    total = triplet({"embeddings": emb}, {"labels": labels}, margin=1.0, normalize=False, reduction="sum")
    torch.testing.assert_close(total["loss"], per_triplet.sum())
    per_anchor = triplet(
        {"embeddings": emb}, {"labels": labels}, margin=1.0, normalize=False, reduction="none"
    )
    expected = torch.zeros(10, dtype=emb.dtype).index_add_(0, torch.tensor(anchors), per_triplet)
    torch.testing.assert_close(per_anchor, expected)


@pytest.mark.parametrize("mining", ["all", "hard", "semi_hard"])
def test_triplet_without_any_triplet_is_a_connected_zero(mining):
    emb = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    for labels in (torch.zeros(6, dtype=torch.long), torch.arange(6)):
        out = triplet({"embeddings": emb}, {"labels": labels}, mining=mining)
        assert out["loss"].item() == 0.0 and out["loss"].requires_grad
        out["loss"].backward()
        assert torch.all(emb.grad == 0)
        emb.grad = None


def test_duplicate_embeddings_give_finite_gradients():
    emb = torch.tensor(
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True
    )
    for mining in ("all", "hard", "semi_hard"):
        triplet({"embeddings": emb}, {"labels": torch.tensor([0, 0, 1, 1])}, mining=mining)["loss"].backward()
        assert torch.isfinite(emb.grad).all()
        emb.grad = None
