"""Odds Ratio Preference Optimization (Hong et al. 2024)."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from losses_core import Input, LossReturn, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._preference import (
    PAIRED_LABELS,
    check_chunk_size,
    check_log_probs_labels,
    chosen_nll,
    mean_over,
    pair_logits_example,
    resolve_shift,
    score_sequences,
    targets_for,
    work_dtype,
)
from losses_llm._sources import POLICY_INPUTS, policy_source

__all__ = ["orpo"]

NLL_LABELS = Input(
    "nll_labels",
    "targets",
    shape="B T",
    dtype="int",
    optional=True,
    doc="token ids of the NLL term (the chosen half is used); default: the completion labels",
)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(1 - e^x)` for :math:`x < 0`, accurate on both sides of
    :math:`-\log 2` (Mächler 2012)."""
    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


@register_loss(inputs=[PAIRED_LABELS, *POLICY_INPUTS, NLL_LABELS], example_inputs=pair_logits_example)
def orpo(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    nll_labels: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(gt=0)] = 0.1,
    ignore_index: int = -100,
    shift: bool | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""ORPO: NLL of the chosen completions plus an odds-ratio preference term.

    No reference model (Hong et al. 2024,
    "ORPO: Monolithic Preference Optimization without Reference Model",
    arXiv:2403.07691), as TRL's ``ORPOTrainer`` computes it.

    **Batch.** :math:`P` pairs as :math:`2P` sequences, the :math:`P` chosen
    first, then the :math:`P` rejected; the policy as ``logits``,
    ``hidden_states`` with ``lm_head_weight`` (chunked over pairs) or
    per-token ``log_probs``; ``labels`` ``[2P, T]`` with ``ignore_index`` at
    the prompt and the padding (see :func:`losses_llm.dpo` for the layout
    and ``shift``).

    **Formula.** With :math:`\bar\ell(y) = \frac{1}{|y|}\sum_t
    \log\pi(y_t)` the mean log-probability of a completion's tokens,
    :math:`\log\mathrm{odds}(y) = \bar\ell(y) - \log(1 - e^{\bar\ell(y)})`
    and :math:`\lambda` = ``beta``:

    .. math:: \mathcal{L} = \mathcal{L}_\mathrm{NLL}
              - \frac{\lambda}{P'}\sum_{i}
              \log\sigma\big(\log\mathrm{odds}(y_w^i) - \log\mathrm{odds}(y_l^i)\big)

    over the :math:`P'` pairs whose two sequences have a completion token
    (others are left out; none gives 0 connected to the graph), where
    :math:`\mathcal{L}_\mathrm{NLL}` is the mean of :math:`-\log\pi(y_t)`
    over the tokens of the chosen sequences (all chosen tokens of the batch
    count; 0 if there are none). TRL's trainer takes that NLL over the prompt
    and the completion: pass ``nll_labels`` (the input ids with
    ``ignore_index`` at the padding only) for that; by default it uses the
    completion labels, as Liger-Kernel's fused ORPO does.
    :math:`\log(1-e^x)` is computed stably, and :math:`\bar\ell` is capped
    at minus the dtype's machine epsilon, so a completion of probability 1
    gives finite log-odds (TRL and Liger give inf and a NaN gradient).

    :param beta: :math:`\lambda`, the weight of the odds-ratio term, default
        0.1 (the paper's and TRL's).
    :param ignore_index: the label of unscored positions, default -100.
    :param shift: as for :func:`losses_llm.dpo`: ``None`` shifts the labels
        (and ``nll_labels``) for logits and hidden states, not for log-probs.
    :param chunk_size: pairs per chunk on the ``hidden_states`` path.
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics (means over the
        scored pairs): ``rewards_chosen`` and ``rewards_rejected``
        (:math:`\lambda\bar\ell`), ``rewards_margins``,
        ``rewards_accuracies``, ``logps_chosen`` and ``logps_rejected``
        (:math:`\bar\ell`), ``nll_loss``, ``log_odds_ratio`` (the mean
        :math:`\log\sigma` term), ``log_odds_chosen`` (the mean log-odds
        difference), ``num_pairs``; auxiliary ``chosen_logps`` and
        ``rejected_logps``, the ``[P]`` summed policy log-probs.
    """
    source = policy_source("orpo", logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    check_chunk_size("orpo", "chunk_size", chunk_size, source)
    check_log_probs_labels("orpo", source, nll_labels)
    dtype = work_dtype(source, logits, hidden_states, lm_head_weight, log_probs)
    targets = targets_for(
        "orpo", source, labels, ignore_index=ignore_index, shift=shift, dtype=dtype, paired=True
    )
    nll = chosen_nll(targets, 1.0, nll_labels, ignore_index=ignore_index, shift=resolve_shift(shift, source))
    counts = targets.counts
    valid = ((counts[:, 0] > 0) & (counts[:, 1] > 0)).to(dtype)
    scored_pairs = valid.sum()
    cap = -torch.finfo(dtype).eps

    def log_odds(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        mean = safe_divide(sums, counts[rows]).clamp(max=cap)
        odds = mean - log1mexp(mean)
        return odds[:, 0] - odds[:, 1]

    def terms(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        ratio = F.logsigmoid(log_odds(sums, rows))
        kept = torch.where(valid[rows] > 0, ratio, torch.zeros_like(ratio))
        return -beta * safe_divide(kept.sum(), scored_pairs)

    scored = score_sequences(
        source,
        (logits, hidden_states, lm_head_weight, lm_head_bias),
        log_probs,
        targets,
        terms,
        nll=nll,
        chunk_rows=chunk_size,
    )
    sums = scored.sums
    mean = safe_divide(sums, counts)
    rewards = beta * mean
    odds_gap = log_odds(sums, slice(None))
    assert scored.nll is not None
    metrics = {
        "rewards_chosen": mean_over(rewards[:, 0], valid),
        "rewards_rejected": mean_over(rewards[:, 1], valid),
        "rewards_margins": mean_over(rewards[:, 0] - rewards[:, 1], valid),
        "rewards_accuracies": mean_over((rewards[:, 0] > rewards[:, 1]).to(dtype), valid),
        "logps_chosen": mean_over(mean[:, 0], valid),
        "logps_rejected": mean_over(mean[:, 1], valid),
        "nll_loss": scored.nll,
        "log_odds_ratio": mean_over(F.logsigmoid(odds_gap), valid),
        "log_odds_chosen": mean_over(odds_gap, valid),
        "num_pairs": scored_pairs,
    }
    return loss_result(
        scored.loss, metrics=metrics, auxiliary={"chosen_logps": sums[:, 0], "rejected_logps": sums[:, 1]}
    )
