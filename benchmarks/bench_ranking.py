"""Speed of losses-ranking against the reference implementations, same inputs.

Learning to rank (256 lists of 64 items, graded labels 0-4, a quarter of the
lists padded with allRank's -1 sentinel): RankNet, ListMLE and LambdaLoss
(NDCG-Loss2++) against re-implementations of allRank's published code paths
(allrank 1.4.3 is not installable here with its pinned dependencies; see the
``allrank_*`` functions below, clearly labelled, which follow its operations
step by step: Python ``itertools.product`` pair lists for rankNet, random
shuffle + sort + cumsum for listMLE, sort + pair masks for lambdaLoss).

Metric learning (1,024 embeddings of width 128, 64 classes of 16): triplet
(all triplets, and batch-hard) against pytorch-metric-learning's
``TripletMarginLoss`` (+ ``BatchHardMiner``); NT-Xent (SimCLR, both views as
anchors) against PML's ``SelfSupervisedLoss(NTXentLoss)`` on 256 + 256 views
(PML's pair-based NT-Xent needs O(N^3) memory, several GB per tensor at 512 +
512), and InfoNCE (``negatives="cross"``) on 512 + 512 views (1,024
embeddings) against info-nce-pytorch's ``InfoNCE``.

Rows use each loss's defaults (ranking metrics on: NDCG/MRR cost one sort of
the scores per call, which allRank does not compute) except where the row
says otherwise: ``listmle (cumsum64, no metrics)`` is the lean configuration
doing the same work as allRank's listMLE.

Each row times forward + backward (a training step's loss cost) with
``torch.utils.benchmark.Timer.blocked_autorange`` on one thread, in five
alternating rounds (ours, reference, ours, ...) so that load changes on a
shared machine hit both, and reports the median times, ``ratio`` = the
median per-round ``reference / ours`` (> 1: we are faster) and the relative
difference of the two loss values (ListMLE's differs because allRank breaks
label ties at random and adds ``eps`` inside the log; everything else agrees
to float32 rounding).

Run: ``python benchmarks/bench_ranking.py`` (``--quick`` for shorter timing).
"""

from __future__ import annotations

import argparse
from itertools import product

import torch
from torch.utils.benchmark import Timer

import losses_ranking

PADDED_Y_VALUE = -1.0  # allRank's PADDED_Y_VALUE
DEFAULT_EPS = 1e-10  # allRank's DEFAULT_EPS


# ---------------------------------------------------------------------------
# Re-implementations of allRank's published loss code paths (allegro/allRank,
# allrank/models/losses/{rankNet,listMLE,lambdaLoss}.py), for timing and value
# comparison only. Written here because allrank 1.4.3 cannot be installed with
# its pinned numpy/scipy; they follow allRank's operations one for one.
# ---------------------------------------------------------------------------


def allrank_ranknet(y_pred, y_true):
    """allRank rankNet (no weighting): all index pairs from itertools.product,
    boolean-mask selection of pairs with y_i > y_j, BCEWithLogitsLoss mean."""
    y_pred, y_true = y_pred.clone(), y_true.clone()
    padded = y_true == PADDED_Y_VALUE
    y_pred[padded] = float("-inf")
    y_true[padded] = float("-inf")
    pairs = list(product(range(y_true.shape[1]), repeat=2))
    pairs_true, pairs_pred = y_true[:, pairs], y_pred[:, pairs]
    true_diffs = pairs_true[:, :, 0] - pairs_true[:, :, 1]
    pred_diffs = pairs_pred[:, :, 0] - pairs_pred[:, :, 1]
    keep = (true_diffs > 0) & ~torch.isinf(true_diffs)
    pred_diffs = pred_diffs[keep]
    target = (true_diffs > 0).to(y_pred.dtype)[keep]
    return torch.nn.BCEWithLogitsLoss()(pred_diffs, target)


def allrank_listmle(y_pred, y_true, eps=DEFAULT_EPS):
    """allRank listMLE: random permutation (tie-breaking), sort by labels,
    max-subtracted reversed cumsum of exp, log(. + eps) - s, padded zeroed."""
    perm = torch.randperm(y_pred.shape[-1])
    pred, true = y_pred[:, perm], y_true[:, perm]
    true_sorted, idx = true.sort(descending=True, dim=-1)
    padded = true_sorted == PADDED_Y_VALUE
    pred_sorted = torch.gather(pred, 1, idx)
    pred_sorted[padded] = float("-inf")
    max_pred = pred_sorted.max(dim=1, keepdim=True).values
    shifted = pred_sorted - max_pred
    cumsums = torch.cumsum(shifted.exp().flip(dims=[1]), dim=1).flip(dims=[1])
    obs = torch.log(cumsums + eps) - shifted
    obs[padded] = 0.0
    return obs.sum(dim=1).mean()


def allrank_lambda_loss(y_pred, y_true, mu=10.0, sigma=1.0, eps=DEFAULT_EPS):
    """allRank lambdaLoss(weighing_scheme="ndcgLoss2PP_scheme", k=None,
    reduction="sum", reduction_log="binary")."""
    y_pred, y_true = y_pred.clone(), y_true.clone()
    padded = y_true == PADDED_Y_VALUE
    y_pred[padded] = float("-inf")
    y_true[padded] = float("-inf")
    pred_sorted, idx = y_pred.sort(descending=True, dim=-1)
    true_sorted, _ = y_true.sort(descending=True, dim=-1)
    true_by_pred = torch.gather(y_true, 1, idx)
    true_diffs = true_by_pred[:, :, None] - true_by_pred[:, None, :]
    pair_mask = torch.isfinite(true_diffs) & (true_diffs > 0)
    length = y_pred.shape[1]
    k_mask = torch.ones(length, length, dtype=torch.bool)
    true_by_pred = true_by_pred.clamp(min=0.0)
    true_sorted = true_sorted.clamp(min=0.0)
    positions = torch.arange(1, length + 1)
    D = torch.log2(1.0 + positions.to(y_pred.dtype))[None, :]
    max_dcg = torch.sum((torch.pow(2, true_sorted) - 1) / D, dim=-1).clamp(min=eps)
    G = (torch.pow(2, true_by_pred) - 1) / max_dcg[:, None]
    # ndcgLoss2PP_scheme = mu * ndcgLoss2_scheme + lambdaRank_scheme
    gaps = torch.abs(positions[:, None] - positions[None, :])
    deltas = torch.abs(torch.pow(torch.abs(D[0, gaps - 1]), -1.0) - torch.pow(torch.abs(D[0, gaps]), -1.0))
    deltas.diagonal().zero_()
    ndcg_loss2 = deltas[None, :, :] * torch.abs(G[:, :, None] - G[:, None, :])
    lambda_rank = torch.abs(torch.pow(D[:, :, None], -1.0) - torch.pow(D[:, None, :], -1.0)) * torch.abs(
        G[:, :, None] - G[:, None, :]
    )
    weights = mu * ndcg_loss2 + lambda_rank
    diffs = (pred_sorted[:, :, None] - pred_sorted[:, None, :]).clamp(min=-1e8, max=1e8)
    diffs.masked_fill(torch.isnan(diffs), 0.0)  # (allRank discards this result, as published)
    probas = (torch.sigmoid(sigma * diffs).clamp(min=eps) ** weights).clamp(min=eps)
    return -torch.sum(torch.log2(probas)[pair_mask & k_mask])


# ---------------------------------------------------------------------------


def ranking_inputs(seed=0, batch=256, length=64):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, length, generator=gen)
    relevance = torch.randint(0, 5, (batch, length), generator=gen).float()
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=gen)
    padded = (torch.arange(length)[None, :] >= lengths[:, None]) & (torch.arange(batch)[:, None] % 4 == 0)
    relevance[padded] = PADDED_Y_VALUE
    return scores, relevance


def embedding_inputs(seed=0, n=1024, dim=128, classes=64):
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, dim, generator=gen)
    labels = torch.arange(n) % classes
    return emb, labels


def timer_for(fn, leaf):
    def step():
        leaf.grad = None
        fn(leaf).backward()

    return Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())


def time_pair(ours, reference, leaf, min_run_time, rounds=5):
    """Median times of ours and of the reference, measured in alternating
    rounds (so that a load change on a shared machine hits both), and the
    median of the per-round ratios reference / ours."""
    ours_timer, ref_timer = timer_for(ours, leaf), timer_for(reference, leaf)
    ours_times, ref_times = [], []
    for _ in range(rounds):
        ours_times.append(ours_timer.blocked_autorange(min_run_time=min_run_time / rounds).median)
        ref_times.append(ref_timer.blocked_autorange(min_run_time=min_run_time / rounds).median)
    ratios = sorted(r / o for o, r in zip(ours_times, ref_times, strict=True))
    return sorted(ours_times)[rounds // 2], sorted(ref_times)[rounds // 2], ratios[rounds // 2]


def cases():
    from info_nce import InfoNCE
    from pytorch_metric_learning import losses as pml_losses
    from pytorch_metric_learning import miners as pml_miners

    scores, relevance = ranking_inputs()
    emb, labels = embedding_inputs()
    half = emb.shape[0] // 2
    gen = torch.Generator().manual_seed(1)
    view_b = emb[:half] + 0.1 * torch.randn(half, emb.shape[1], generator=gen)
    pml_triplet = pml_losses.TripletMarginLoss(margin=0.05)
    batch_hard = pml_miners.BatchHardMiner()
    pml_self_ntxent = pml_losses.SelfSupervisedLoss(pml_losses.NTXentLoss(temperature=0.07))
    info_nce = InfoNCE(temperature=0.07)
    # PML's pair-based NTXentLoss materialises [positive pairs x negative pairs]
    # masks (O(N^3) memory: ~4 GB per tensor at 512+512 views), so the PML row
    # uses 256+256 views.
    small_a, small_b = emb[:256], view_b[:256]
    ltr = {"relevance": relevance}
    return [
        (
            "ranknet",
            "allRank rankNet",
            scores,
            lambda s: losses_ranking.ranknet({"scores": s}, ltr)["loss"],
            lambda s: allrank_ranknet(s, relevance),
        ),
        (
            "listmle",
            "allRank listMLE",
            scores,
            lambda s: losses_ranking.listmle({"scores": s}, ltr)["loss"],
            lambda s: allrank_listmle(s, relevance),
        ),
        (
            "listmle (cumsum64, no metrics)",
            "allRank listMLE",
            scores,
            lambda s: losses_ranking.listmle(
                {"scores": s}, ltr, normalizer="cumsum64", compute_metrics=False
            )["loss"],
            lambda s: allrank_listmle(s, relevance),
        ),
        (
            "lambda_loss (ndcg_loss2pp, sum)",
            "allRank lambdaLoss",
            scores,
            lambda s: losses_ranking.lambda_loss({"scores": s}, ltr, reduction="sum")["loss"],
            lambda s: allrank_lambda_loss(s, relevance),
        ),
        (
            "triplet (all)",
            "PML TripletMarginLoss",
            emb,
            lambda e: losses_ranking.triplet({"embeddings": e}, {"labels": labels})["loss"],
            lambda e: pml_triplet(e, labels),
        ),
        (
            "triplet (hard)",
            "PML TripletMarginLoss+BatchHardMiner",
            emb,
            lambda e: losses_ranking.triplet({"embeddings": e}, {"labels": labels}, mining="hard")["loss"],
            lambda e: pml_triplet(e, labels, batch_hard(e, labels)),
        ),
        (
            "ntxent all (256+256 views)",
            "PML SelfSupervisedLoss(NTXentLoss)",
            small_a,
            lambda a: losses_ranking.ntxent({"embeddings_a": a, "embeddings_b": small_b}, {})["loss"],
            lambda a: pml_self_ntxent(a, small_b),
        ),
        (
            "ntxent cross (512+512 views)",
            "info-nce-pytorch InfoNCE",
            emb[:half],
            lambda a: losses_ranking.ntxent(
                {"embeddings_a": a, "embeddings_b": view_b}, {}, negatives="cross", symmetric=False
            )["loss"],
            lambda a: info_nce(a, view_b),
        ),
    ]


def main(min_run_time: float = 1.0, threads: int = 1, only: str | None = None) -> list[dict]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = []
    print(f"torch {torch.__version__}, {threads} thread(s), forward + backward, median of blocked_autorange")
    header = f"{'loss':34s} {'reference':38s} {'ours ms':>9s} {'ref ms':>9s} {'ratio':>7s} {'rel diff':>9s}"
    print(header)
    print("-" * len(header), flush=True)
    for name, ref_name, data, ours, reference in cases():
        if only is not None and only not in name:
            continue
        leaf = data.clone().requires_grad_(True)
        with torch.no_grad():
            ours_value, ref_value = ours(leaf).item(), reference(leaf).item()
        ours_s, ref_s, ratio = time_pair(ours, reference, leaf, min_run_time)
        r = {
            "loss": name,
            "reference": ref_name,
            "ours_ms": ours_s * 1e3,
            "reference_ms": ref_s * 1e3,
            "ratio": ratio,
            "rel_diff": abs(ours_value - ref_value) / max(abs(ref_value), 1e-12),
        }
        rows.append(r)
        print(
            f"{r['loss']:34s} {r['reference']:38s} {r['ours_ms']:9.2f} {r['reference_ms']:9.2f} "
            f"{r['ratio']:7.2f} {r['rel_diff']:9.1e}",
            flush=True,
        )
    print("ratio = reference / ours, median over 5 alternating rounds (> 1: losses-ranking is faster)")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing (min_run_time 0.2 s)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="run only the rows whose name contains this text")
    args = parser.parse_args()
    main(min_run_time=0.2 if args.quick else 1.0, threads=args.threads, only=args.only)
