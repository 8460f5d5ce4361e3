"""Speed of losses-vae's beta_tcvae and info_vae against pythae 0.1.2 on the same inputs.

Run: ``python benchmarks/bench_vae.py`` (batch 256, latent 32, data dim 64, one
CPU thread). Prints median times of the forward pass (under ``no_grad``) and of
forward+backward (``torch.autograd.grad`` to every input), and the ratio pythae
time / ours (> 1: ours is faster). Ours is called as users call it: the
functions ``losses_vae.beta_tcvae``/``info_vae`` with the default input keys
(``model_output["predictions"]``, ``["mu"]``, ``["logvar"]``, ``["z"]``,
``["z_prior"]``, ``targets["target"]``), so the times include core's checks of
the declared inputs and annotated parameters. Ours and pythae's are measured alternately
in several rounds; by default the clock is the process's CPU time, which a
loaded shared machine disturbs far less than wall time (``--clock wall`` for
elapsed time). ``main()`` returns the rows as dicts.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from pythae.models import INFOVAE_MMD, BetaTCVAE, BetaTCVAEConfig, INFOVAE_MMD_Config
from torch.utils.benchmark import Timer

from losses_vae import beta_tcvae, info_vae

BATCH, LATENT, DATA, DATASET = 256, 32, 64, 60000
GAUSS_CONST = 0.5 * DATA * math.log(2 * math.pi)  # our Gaussian NLL keeps it, pythae's "mse" drops it


def _inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(BATCH, LATENT, generator=g)
    logvar = 0.5 * torch.randn(BATCH, LATENT, generator=g)
    z = mu + torch.randn(BATCH, LATENT, generator=g) * torch.exp(0.5 * logvar)
    return {
        "predictions": torch.randn(BATCH, DATA, generator=g).requires_grad_(),
        "target": torch.randn(BATCH, DATA, generator=g),
        "mu": mu.requires_grad_(),
        "logvar": logvar.requires_grad_(),
        "z": z.requires_grad_(),
        "z_prior": torch.randn(BATCH, LATENT, generator=g),
    }


def _cases(
    x: dict[str, torch.Tensor],
) -> list[tuple[str, Callable[[], torch.Tensor], Callable[[], torch.Tensor]]]:
    model_output = {k: x[k] for k in ("predictions", "mu", "logvar", "z", "z_prior")}
    targets = {"target": x["target"]}
    cases = []
    for estimator, use_mss in (("mss", True), ("mws", False)):
        tc_model = BetaTCVAE(BetaTCVAEConfig(input_dim=(DATA,), latent_dim=LATENT, use_mss=use_mss))

        def ours_tc(estimator: str = estimator) -> torch.Tensor:
            return beta_tcvae(model_output, targets, dataset_size=DATASET, estimator=estimator, beta=1.0)[
                "loss"
            ]

        def pythae_tc(model: Any = tc_model) -> torch.Tensor:
            return model.loss_function(x["predictions"], x["target"], x["mu"], x["logvar"], x["z"], DATASET)[
                0
            ]

        cases.append((f"beta_tcvae ({estimator})", ours_tc, pythae_tc))
    for kernel in ("imq", "rbf"):
        cfg = INFOVAE_MMD_Config(input_dim=(DATA,), latent_dim=LATENT, kernel_choice=kernel)
        mmd_model = INFOVAE_MMD(cfg)

        def ours_mmd(kernel: str = kernel) -> torch.Tensor:
            return info_vae(model_output, targets, kernel=kernel, alpha=0.0, lambda_=1e-3)["loss"]

        def pythae_mmd(model: Any = mmd_model) -> torch.Tensor:
            return model.loss_function(
                x["predictions"], x["target"], x["z"], x["z_prior"], x["mu"], x["logvar"]
            )[0]

        cases.append((f"info_vae ({kernel})", ours_mmd, pythae_mmd))
    return cases


def _median(fn: Callable[[], Any], min_run_time: float, clock: str) -> float:
    timer = time.process_time if clock == "cpu" else time.perf_counter
    measurement = Timer(stmt="fn()", globals={"fn": fn}, timer=timer).blocked_autorange(
        min_run_time=min_run_time
    )
    return float(measurement.median)


def _interleaved(
    ours: Callable[[], Any], ref: Callable[[], Any], min_run_time: float, clock: str, rounds: int
) -> tuple[float, float]:
    """Alternate ours / pythae ``rounds`` times and take the median of each side's
    medians, so that load changes on a shared machine hit both alike."""
    a, b = [], []
    for _ in range(rounds):
        a.append(_median(ours, min_run_time / rounds, clock))
        b.append(_median(ref, min_run_time / rounds, clock))
    return statistics.median(a), statistics.median(b)


def main(
    min_run_time: float = 2.0, threads: int = 1, clock: str = "cpu", rounds: int = 5
) -> list[dict[str, Any]]:
    """Time every case; ``clock="cpu"`` measures the process's CPU time
    (``time.process_time``; robust on a loaded shared machine, exact with one
    thread), ``"wall"`` the elapsed time."""
    torch.set_num_threads(threads)
    x = _inputs()
    params = [x["predictions"], x["mu"], x["logvar"], x["z"]]
    rows = []
    for name, ours, ref in _cases(x):
        if "mss" not in name:  # same formula up to the Gaussian constant (pythae's MSS matrix is buggy)
            torch.testing.assert_close(ours().detach() - GAUSS_CONST, ref().detach(), rtol=1e-4, atol=1e-3)
        for mode in ("forward", "forward+backward"):
            if mode == "forward":

                def run_ours(f: Callable[[], torch.Tensor] = ours) -> None:
                    with torch.no_grad():
                        f()

                def run_ref(f: Callable[[], torch.Tensor] = ref) -> None:
                    with torch.no_grad():
                        f()
            else:

                def run_ours(f: Callable[[], torch.Tensor] = ours) -> None:
                    torch.autograd.grad(f(), params)

                def run_ref(f: Callable[[], torch.Tensor] = ref) -> None:
                    torch.autograd.grad(f(), params)

            t_ours, t_ref = _interleaved(run_ours, run_ref, min_run_time, clock, rounds)
            rows.append(
                {
                    "loss": name,
                    "mode": mode,
                    "ours_ms": t_ours * 1e3,
                    "pythae_ms": t_ref * 1e3,
                    "ratio": t_ref / t_ours,
                }
            )
    print(
        f"batch {BATCH}, latent {LATENT}, data {DATA}, threads {threads}, clock {clock}, "
        f"torch {torch.__version__}; median times"
    )
    print(f"{'loss':20s} {'mode':17s} {'ours ms':>9s} {'pythae ms':>10s} {'pythae/ours':>12s}")
    for r in rows:
        print(
            f"{r['loss']:20s} {r['mode']:17s} {r['ours_ms']:9.3f} {r['pythae_ms']:10.3f} {r['ratio']:12.2f}"
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per measurement, all rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    main(min_run_time=args.min_run_time, threads=args.threads, clock=args.clock, rounds=args.rounds)
