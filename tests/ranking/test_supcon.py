"""supcon against pytorch-metric-learning 2.9.0's ``SupConLoss`` and against
the paper's formula by hand, including its documented value for anchors
without a negative (the paper's formula; PML gives 0)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses as pml_losses

from losses_ranking import supcon

from ._data import check_value_and_grad, labelled


@pytest.mark.parametrize("temperature", [0.1, 0.7])
def test_supcon_matches_pml(temperature):
    emb, labels = labelled(13, n=14)
    reference = pml_losses.SupConLoss(temperature=temperature)
    check_value_and_grad(
        lambda e: supcon({"embeddings": e}, {"labels": labels}, temperature=temperature)["loss"],
        lambda e: reference(e, labels),
        emb,
    )


def paper_supcon(emb, labels, tau):
    """L^sup_out by hand: per anchor with a positive, the mean over its positives
    of -log(e^{s_ip/tau} / sum over every other sample a of e^{s_ia/tau})."""
    z = F.normalize(emb, dim=1)
    n = len(z)
    terms = []
    for i in range(n):
        others = [a for a in range(n) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        denominator = torch.logsumexp(torch.stack([z[i] @ z[a] / tau for a in others]), 0)
        terms.append(-torch.stack([z[i] @ z[p] / tau - denominator for p in positives]).mean())
    return torch.stack(terms).mean()


def test_supcon_matches_the_paper_formula_by_hand():
    emb, labels = labelled(15, n=9, classes=3)
    value = supcon({"embeddings": emb}, {"labels": labels}, temperature=0.3)["loss"]
    torch.testing.assert_close(value, paper_supcon(emb, labels, 0.3))


def test_anchors_without_a_negative_keep_the_paper_formula_not_pml_zero():
    # one class only: no anchor has a negative, A(i) = P(i)
    emb, _ = labelled(16, n=5)
    labels = torch.zeros(5, dtype=torch.long)
    leaf = emb.clone().requires_grad_(True)
    out = supcon({"embeddings": leaf}, {"labels": labels}, temperature=0.2)
    expected = paper_supcon(emb, labels, 0.2)
    torch.testing.assert_close(out["loss"], expected)
    # = log sum_p e^{s_ip/tau} - mean_p s_ip/tau >= log |P(i)| = log 4, as documented
    assert out["loss"].item() >= math.log(4)
    out["loss"].backward()
    assert torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0
    # pytorch-metric-learning gives 0 (and no gradient) for a batch without a negative pair
    assert pml_losses.SupConLoss(temperature=0.2)(emb, labels).item() == 0.0
    # with a single positive per anchor the formula itself is 0
    pair = supcon({"embeddings": emb[:2]}, {"labels": labels[:2]}, temperature=0.2)["loss"]
    assert pair.item() == pytest.approx(0.0, abs=1e-12)


def test_supcon_without_positives_is_a_connected_zero():
    emb = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out = supcon({"embeddings": emb}, {"labels": torch.arange(5)})
    assert out["loss"].item() == 0.0 and out["metrics"]["num_anchors"].item() == 0
    out["loss"].backward()
    assert torch.all(emb.grad == 0)


def test_reductions():
    emb, labels = labelled(17, n=10)
    labels[0] = 99  # an anchor without a positive: 0 in "none", left out of the mean
    per_anchor = supcon({"embeddings": emb}, {"labels": labels}, reduction="none")
    total = supcon({"embeddings": emb}, {"labels": labels}, reduction="sum")["loss"]
    mean = supcon({"embeddings": emb}, {"labels": labels})
    assert per_anchor[0] == 0
    torch.testing.assert_close(per_anchor.sum(), total)
    torch.testing.assert_close(mean["loss"], total / mean["metrics"]["num_anchors"])
    assert mean["metrics"]["num_anchors"].item() == (per_anchor != 0).sum().item()


def test_duplicate_embeddings_give_finite_gradients():
    emb = torch.tensor(
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True
    )
    supcon({"embeddings": emb}, {"labels": torch.tensor([0, 0, 1, 1])})["loss"].backward()
    assert torch.isfinite(emb.grad).all()
