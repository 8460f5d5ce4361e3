"""Metric-learning and contrastive losses against their references:
pytorch-metric-learning 2.9.0, info-nce-pytorch 0.1.4, torch's own losses, and
open_clip's CLIP / SigLIP formulas written out here (open_clip itself is not
installable in this environment)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from info_nce import InfoNCE
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from losses_ranking import (
    clip,
    multi_similarity,
    ntxent,
    siglip,
    supcon,
    triplet,
)


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


# --- triplet ------------------------------------------------------------------


@pytest.mark.parametrize("margin", [0.05, 0.4])
def test_triplet_all_matches_pml(margin):
    emb, labels = labelled(7, n=16)
    reference = pml_losses.TripletMarginLoss(margin=margin)
    check_value_and_grad(
        lambda e: triplet({"embeddings": e}, {"labels": labels}, margin=margin)["loss"],
        lambda e: reference(e, labels),
        emb,
    )


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
    labels = torch.tensor([0, 0, 1, 1])
    for fn in (triplet, multi_similarity, supcon):
        fn({"embeddings": emb}, {"labels": labels})["loss"].backward()
        assert torch.isfinite(emb.grad).all()
        emb.grad = None


# --- multi-similarity, SupCon -------------------------------------------------


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


@pytest.mark.parametrize("temperature", [0.1, 0.7])
def test_supcon_matches_pml(temperature):
    emb, labels = labelled(13, n=14)
    reference = pml_losses.SupConLoss(temperature=temperature)
    check_value_and_grad(
        lambda e: supcon({"embeddings": e}, {"labels": labels}, temperature=temperature)["loss"],
        lambda e: reference(e, labels),
        emb,
    )


def test_supcon_without_positives_is_a_connected_zero():
    emb = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    out = supcon({"embeddings": emb}, {"labels": torch.arange(5)})
    assert out["loss"].item() == 0.0
    out["loss"].backward()
    assert torch.all(emb.grad == 0)


# --- NT-Xent / InfoNCE ----------------------------------------------------------


def paired(seed=0, n=8, d=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randn(
        n, d, generator=gen, dtype=torch.float64
    )


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_ntxent_matches_pml_self_supervised_ntxent(temperature):
    a, b = paired(1)
    reference = pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss(temperature=temperature))
    ours = ntxent({"embeddings_a": a, "embeddings_b": b}, {}, temperature=temperature)
    torch.testing.assert_close(ours["loss"], reference(a, b))


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


# --- CLIP and SigLIP (open_clip's formulas) -------------------------------------


def open_clip_loss(image, text, logit_scale, logit_bias=None):
    """open_clip ClipLoss.forward, single process: logit_scale already exp'd."""
    logits_per_image = logit_scale * image @ text.T
    if logit_bias is not None:
        logits_per_image = logits_per_image + logit_bias
    logits_per_text = logits_per_image.T
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


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


def towers(seed=0, n=6, d=5):
    a, b = paired(seed, n, d)
    return F.normalize(a, dim=1), F.normalize(b, dim=1)


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


def test_clip_normalises_raw_embeddings():
    a, b = paired(9)
    t = torch.tensor(2.0, dtype=torch.float64)
    out = clip({"image_embeddings": a * 3, "text_embeddings": b * 0.1, "logit_scale": t}, {})
    expected = open_clip_loss(F.normalize(a, dim=1), F.normalize(b, dim=1), t.exp())
    torch.testing.assert_close(out["loss"], expected)


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


def test_siglip_without_bias_key():
    img, txt = towers(11)
    t = torch.tensor(1.0, dtype=torch.float64)
    out = siglip({"image_embeddings": img, "text_embeddings": txt, "logit_scale": t}, {}, logit_bias_key=None)
    torch.testing.assert_close(out["loss"], open_clip_siglip_loss(img, txt, t.exp(), 0.0))


@pytest.mark.parametrize("name", ["clip", "siglip", "ntxent", "supcon"])
def test_distributed_flag_is_a_no_op_without_a_process_group(name):
    img, txt = towers(12)
    if name == "supcon":
        inputs, tgt = {"embeddings": img}, {"labels": torch.tensor([0, 1, 0, 1, 2, 2])}
    elif name == "ntxent":
        inputs, tgt = {"embeddings_a": img, "embeddings_b": txt}, {}
    else:
        inputs = {"image_embeddings": img, "text_embeddings": txt, "logit_scale": torch.tensor(1.0)}
        inputs["logit_bias"] = torch.tensor(-2.0)
        tgt = {}
    fn = {"clip": clip, "siglip": siglip, "ntxent": ntxent, "supcon": supcon}[name]
    base = fn(inputs, tgt)["loss"]
    for local in (False, True):
        torch.testing.assert_close(fn(inputs, tgt, distributed=True, local_loss=local)["loss"], base)
