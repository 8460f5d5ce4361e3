"""The numbers behind the site's figures, computed by the packages' own functions.

Each function returns plain lists (one curve per key) so that ``figures.py``
only draws, and ``tests/docs/test_figure_data.py`` checks the curves against
the formulas the pages state, without matplotlib. Nothing here re-implements
a loss: the curves come from calling the library (the schedules, ``focal``,
the JumpReLU activation's autograd, ``metrics.dcg``/``ndcg`` and the policy
losses on log-probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "ClippedObjective",
    "JumpReluCurves",
    "clipped_objective",
    "focal_curves",
    "jumprelu_curves",
    "ndcg_discounts",
    "schedule_curves",
]


def _grid(low: float, high: float, points: int) -> list[float]:
    return torch.linspace(low, high, points, dtype=torch.float64).tolist()


# -- losses_vae.schedules --------------------------------------------------------
def schedule_curves(total_steps: int = 10_000) -> dict[str, tuple[list[int], list[float]]]:
    """``{label: (steps, values)}`` of the KL schedules of ``losses_vae.schedules``
    over ``total_steps``: linear warm-up over the first quarter, cyclical
    annealing (4 cycles, ramp ratio 0.5) and the capacity of Burgess et al.
    (``c_max=25`` nats reached at half the run)."""
    from losses_vae.schedules import cyclical_annealing, linear_capacity, linear_warmup

    steps = list(range(0, total_steps + 1, max(1, total_steps // 1000)))
    return {
        "linear_warmup": (steps, [linear_warmup(t, total_steps // 4) for t in steps]),
        "cyclical_annealing": (
            steps,
            [cyclical_annealing(t, total_steps, n_cycles=4, ratio=0.5) for t in steps],
        ),
        "linear_capacity": (steps, [linear_capacity(t, 25.0, total_steps // 2) for t in steps]),
    }


# -- losses_core focal -----------------------------------------------------------
def focal_curves(
    gammas: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 5.0), points: int = 200
) -> tuple[list[float], dict[float, list[float]]]:
    """``(p_t, {gamma: loss})``: the focal loss of one sigmoid prediction whose
    probability of the true class is :math:`p_t`, without ``alpha`` weighting,
    from ``losses_core.losses.focal``; ``gamma=0`` is cross-entropy."""
    from losses_core.losses import focal

    p_t = torch.linspace(0.01, 0.999, points, dtype=torch.float64)  # the logit of 1 is infinite
    logits = torch.logit(p_t)
    labels = torch.ones_like(p_t)
    curves = {
        gamma: focal.compute(logits, labels, alpha=None, gamma=gamma, reduction="none").tolist()
        for gamma in gammas
    }
    return p_t.tolist(), curves


# -- losses_sae JumpReLU -----------------------------------------------------------
@dataclass(frozen=True)
class JumpReluCurves:
    """The JumpReLU activation and its straight-through pseudo-derivatives, by
    pre-activation :math:`z`, for one threshold and bandwidth."""

    z: list[float]
    threshold: float
    bandwidth: float
    output: list[float]
    """:math:`z\\,H(z-\\theta)`."""
    d_output_d_threshold: list[float]
    """The pseudo-derivative of ``jumprelu`` in :math:`\\theta`, from autograd."""
    d_step_d_threshold: list[float]
    """The pseudo-derivative of ``heaviside_step`` in :math:`\\theta`, from autograd."""


def jumprelu_curves(threshold: float = 0.5, bandwidth: float = 0.2, points: int = 401) -> JumpReluCurves:
    """:class:`JumpReluCurves` from ``losses_sae.activations``, each :math:`z` a
    latent with its own copy of the threshold so that autograd returns one
    derivative per point. The bandwidth is wider than the paper's 0.001 so that
    the kernel's window is visible."""
    from losses_sae.activations import heaviside_step, jumprelu

    z = torch.linspace(-0.25, 1.25, points, dtype=torch.float64).unsqueeze(0)
    derivatives = []
    output: list[float] = []
    for function in (jumprelu, heaviside_step):
        theta = torch.full((points,), threshold, dtype=torch.float64, requires_grad=True)
        value = function(z, theta, bandwidth=bandwidth)
        (gradient,) = torch.autograd.grad(value.sum(), theta)
        derivatives.append(gradient.tolist())
        if function is jumprelu:
            output = value.detach().squeeze(0).tolist()
    return JumpReluCurves(
        z=z.squeeze(0).tolist(),
        threshold=threshold,
        bandwidth=bandwidth,
        output=output,
        d_output_d_threshold=derivatives[0],
        d_step_d_threshold=derivatives[1],
    )


# -- losses_ranking NDCG --------------------------------------------------------------
def ndcg_discounts(
    length: int = 20, cutoffs: Sequence[int] = (5, 10)
) -> dict[str, tuple[list[int], list[float]]]:
    """``{label: (ranks, values)}``: for one relevant item (gain 1) placed at
    rank :math:`r` of a list of ``length``, its DCG (the discount
    :math:`1/\\log_2(1+r)`) and its NDCG@k for each cutoff, from
    ``losses_ranking.metrics``. List ``r`` of the batch holds the item at rank ``r``."""
    from losses_ranking import metrics

    ranks = list(range(1, length + 1))
    scores = torch.arange(length, 0, -1, dtype=torch.float64).expand(length, length)  # rank r at column r-1
    relevance = torch.eye(length, dtype=torch.float64)
    curves = {"DCG": (ranks, metrics.dcg(scores, relevance, gain="linear", padded_value=None).tolist())}
    for k in cutoffs:
        values = metrics.ndcg(scores, relevance, k=k, gain="linear", padded_value=None).tolist()
        curves[f"NDCG@{k}"] = (ranks, values)
    return curves


# -- losses_llm policy losses ----------------------------------------------------------
@dataclass(frozen=True)
class ClippedObjective:
    """A policy loss's per-token objective :math:`-\\ell` as a function of the
    importance ratio :math:`\\rho = \\pi/\\pi_{old}`, for one advantage."""

    ratio: list[float]
    advantage: float
    objective: list[float]
    """Minus the loss of one token at each ratio."""
    gradient: list[float]
    """:math:`-\\partial\\ell/\\partial\\log\\pi` at each ratio: 0 where the ratio is clipped."""


def clipped_objective(
    loss: str,
    advantage: float,
    params: Mapping[str, Any],
    targets: Mapping[str, torch.Tensor] | None = None,
    ratios: tuple[float, float, int] = (0.4, 1.8, 141),
) -> ClippedObjective:
    """:class:`ClippedObjective` of the registered policy loss ``loss`` (``grpo``,
    ``ppo``), called once per ratio on one completion token: ``log_probs``
    :math:`\\log\\pi = -1`, ``old_log_probs`` :math:`\\log\\pi - \\log\\rho`,
    the given advantage, and ``targets`` for the loss's other inputs."""
    from losses_core import resolve_loss

    loss_fn = resolve_loss(loss, **params)
    objective, gradient = [], []
    grid = _grid(*ratios)
    for ratio in grid:
        log_probs = torch.full((1, 1), -1.0, dtype=torch.float64, requires_grad=True)
        batch = {
            "completion_mask": torch.ones(1, 1, dtype=torch.bool),
            "advantages": torch.full((1,), advantage, dtype=torch.float64),
            "old_log_probs": log_probs.detach() - torch.log(torch.tensor(ratio, dtype=torch.float64)),
            **(targets or {}),
        }
        value = loss_fn({"log_probs": log_probs}, batch)["loss"]
        (slope,) = torch.autograd.grad(value, log_probs)
        objective.append(-float(value.detach()))
        gradient.append(-float(slope))
    return ClippedObjective(ratio=grid, advantage=advantage, objective=objective, gradient=gradient)
