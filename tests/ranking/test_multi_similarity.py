"""multi_similarity against pytorch-metric-learning 2.9.0's ``MultiSimilarityLoss``."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses

from losses_ranking import multi_similarity

from ._data import check_value_and_grad, labelled


@pytest.mark.parametrize(("alpha", "beta", "base"), [(2.0, 50.0, 0.5), (1.0, 10.0, 0.2)])
def test_multi_similarity_matches_pml(alpha, beta, base):
    emb, labels = labelled(12)
    reference = pml_losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)
    check_value_and_grad(
        lambda e: multi_similarity({"embeddings": e}, {"labels": labels}, alpha=alpha, beta=beta, base=base)[
            "loss"
        ],
        lambda e: reference(e, labels),
        emb,
    )


def test_defaults_are_pml_defaults():
    emb, labels = labelled(13)
    ours = multi_similarity({"embeddings": emb}, {"labels": labels})["loss"]
    torch.testing.assert_close(ours, pml_losses.MultiSimilarityLoss()(emb, labels))


def test_metrics_split_the_loss_and_empty_sets_contribute_zero():
    emb, labels = labelled(14)
    out = multi_similarity({"embeddings": emb}, {"labels": labels})
    torch.testing.assert_close(out["metrics"]["pos_loss"] + out["metrics"]["neg_loss"], out["loss"].detach())
    singletons = multi_similarity({"embeddings": emb}, {"labels": torch.arange(12)})
    assert singletons["metrics"]["pos_loss"].item() == 0.0  # no anchor has a positive


def test_duplicate_embeddings_give_finite_gradients():
    emb = torch.tensor(
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True
    )
    multi_similarity({"embeddings": emb}, {"labels": torch.tensor([0, 0, 1, 1])})["loss"].backward()
    assert torch.isfinite(emb.grad).all()
