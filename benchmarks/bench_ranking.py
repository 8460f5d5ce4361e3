"""Speed of losses-ranking against the reference implementations, same inputs.

Learning to rank (256 lists of 64 items, graded labels 0-4, a quarter of the
lists padded with allRank's -1 sentinel): RankNet, ListMLE and LambdaLoss
(NDCG-Loss2++) against allRank 1.4.3's own functions (the published package,
installed without its pinned dependencies and imported through
``tests/ranking/allrank_reference.py``).

ListMLE has three rows. allRank's ``listMLE`` computes only the loss, while
ours also reports NDCG and MRR by default, which costs one sort of the scores
per call (about 0.5 ms here, a third of allRank's whole loss):

- ``listmle (loss only)``: ``compute_metrics=False`` against ``listMLE``, the
  same work;
- ``listmle + ndcg, mrr``: our default against ``listMLE`` followed by
  allRank's ``ndcg`` and ``mrr`` metrics, the same outputs;
- ``listmle (default) vs loss only``: our default against the bare
  ``listMLE``, for information.

RankNet and LambdaLoss keep their default metrics on and are compared with
allRank's bare losses.

Our losses are timed as users call them: ``losses_ranking.<loss>(model_output,
targets, **params)``, the function that ``@register_loss`` builds around each
loss, so every call includes losses-core's checks of the declared inputs
(``model_output["scores"]``, ...) and of the parameters against their
annotations (about 20 microseconds per call, 2 to 3% of ListMLE here).

Metric learning (1,024 embeddings of width 128, 64 classes of 16): triplet
(all triplets, and batch-hard) against pytorch-metric-learning's
``TripletMarginLoss`` (+ ``BatchHardMiner``); NT-Xent (SimCLR, both views as
anchors) against PML's ``SelfSupervisedLoss(NTXentLoss)`` on 256 + 256 views
(PML's pair-based NT-Xent needs O(N^3) memory, several GB per tensor at 512 +
512), and InfoNCE (``negatives="cross"``) on 512 + 512 views (1,024
embeddings) against info-nce-pytorch's ``InfoNCE``.

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
import sys
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

import losses_ranking

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ranking"))
from allrank_reference import PADDED_Y_VALUE
from allrank_reference import load as load_allrank


def allrank_listmle_with_metrics(losses, metrics, scores, relevance):
    """allRank's listMLE, then its NDCG and MRR of the same scores (means over
    the lists, as our metrics report them); returns the loss."""
    loss = losses.listMLE(scores, relevance)
    detached = scores.detach()
    metrics.ndcg(detached, relevance).mean()
    metrics.mrr(detached, relevance).mean()
    return loss


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

    allrank_losses, allrank_metrics = load_allrank()
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
            lambda s: allrank_losses.rankNet(s, relevance),
        ),
        (
            "listmle (loss only)",
            "allRank listMLE",
            scores,
            lambda s: losses_ranking.listmle({"scores": s}, ltr, compute_metrics=False)["loss"],
            lambda s: allrank_losses.listMLE(s, relevance),
        ),
        (
            "listmle + ndcg, mrr",
            "allRank listMLE + ndcg + mrr",
            scores,
            lambda s: losses_ranking.listmle({"scores": s}, ltr)["loss"],
            lambda s: allrank_listmle_with_metrics(allrank_losses, allrank_metrics, s, relevance),
        ),
        (
            "listmle (default) vs loss only",
            "allRank listMLE",
            scores,
            lambda s: losses_ranking.listmle({"scores": s}, ltr)["loss"],
            lambda s: allrank_losses.listMLE(s, relevance),
        ),
        (
            "lambda_loss (ndcg_loss2pp, sum)",
            "allRank lambdaLoss",
            scores,
            lambda s: losses_ranking.lambda_loss({"scores": s}, ltr, reduction="sum")["loss"],
            lambda s: allrank_losses.lambdaLoss(s, relevance, weighing_scheme="ndcgLoss2PP_scheme"),
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
