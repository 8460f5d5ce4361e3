"""Contrastive Preference Optimization (Xu et al. 2024) and the loss types of
TRL's ``CPOTrainer``."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from losses_core import LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._preference import (
    PAIRED_LABELS,
    check_chunk_size,
    chosen_nll,
    mean_over,
    pair_logits_example,
    score_sequences,
    targets_for,
    work_dtype,
)
from losses_llm._sources import POLICY_INPUTS, policy_source

__all__ = ["cpo"]

_SIMPO_GAMMA = 0.5


@register_loss(inputs=[PAIRED_LABELS, *POLICY_INPUTS], example_inputs=pair_logits_example)
def cpo(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(gt=0)] = 0.1,
    loss_type: Literal["sigmoid", "hinge", "ipo", "simpo"] = "sigmoid",
    label_smoothing: Annotated[float, Range(ge=0, lt=0.5)] = 0.0,
    simpo_gamma: Annotated[float, Range(ge=0)] | None = None,
    cpo_alpha: Annotated[float, Range(ge=0)] = 1.0,
    ignore_index: int = -100,
    shift: bool | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""CPO: a reference-free preference term plus the NLL of the chosen completions.

    Xu et al. 2024, "Contrastive Preference Optimization: Pushing
    the Boundaries of LLM Performance in Machine Translation",
    arXiv:2401.08417, with the loss types of TRL's ``CPOTrainer``.

    **Batch.** :math:`P` pairs as :math:`2P` sequences, the :math:`P` chosen
    first, then the :math:`P` rejected; the policy as ``logits``,
    ``hidden_states`` with ``lm_head_weight`` (chunked over pairs) or
    per-token ``log_probs``; ``labels`` ``[2P, T]`` with ``ignore_index`` at
    the prompt and the padding (see :func:`losses_llm.dpo`).

    **Formula.** With :math:`s(y)` the policy's completion log-probability,
    summed over the tokens for ``sigmoid`` and ``hinge`` and averaged per
    token for ``ipo`` and ``simpo`` (as TRL), :math:`u = s(y_w) - s(y_l)`
    and :math:`\varepsilon` = ``label_smoothing``, the preference loss of a
    pair is

    - ``"sigmoid"`` (the paper's Eq. 3, with conservative smoothing):
      :math:`-(1-\varepsilon)\log\sigma(\beta u) - \varepsilon\log\sigma(-\beta u)`
    - ``"hinge"``: :math:`\max(0, 1 - \beta u)`
    - ``"ipo"``: :math:`(u - \tfrac{1}{2\beta})^2`
    - ``"simpo"`` (SimPO's margin :math:`\gamma` = ``simpo_gamma``): the
      sigmoid loss of :math:`\beta u - \gamma`

    and the loss adds ``cpo_alpha`` (:math:`\alpha`) times the paper's
    :math:`\mathcal{L}_\mathrm{NLL}`, the mean of :math:`-\log\pi(y_t)` over
    the tokens of the chosen completions (0 if there are none), to their mean
    over the :math:`P'` pairs whose two sequences have a completion token
    (others are left out; none gives 0 connected to the graph):

    .. math:: \mathcal{L} = \frac{1}{P'}\sum_{i=1}^{P'} \ell_i + \alpha\,\mathcal{L}_\mathrm{NLL}

    :param beta: :math:`\beta`, default 0.1.
    :param loss_type: default ``"sigmoid"``.
    :param label_smoothing: :math:`\varepsilon\in[0, 0.5)`, default 0;
        ``sigmoid`` and ``simpo`` only.
    :param simpo_gamma: :math:`\gamma` of ``simpo`` (``None``: 0.5, TRL's
        default); ``simpo`` only.
    :param cpo_alpha: the weight of the NLL term, default 1.0 (0 drops it).
    :param ignore_index: the label of unscored positions, default -100.
    :param shift: as for :func:`losses_llm.dpo`.
    :param chunk_size: pairs per chunk on the ``hidden_states`` path.
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics (means over the
        scored pairs): ``rewards_chosen`` and ``rewards_rejected``
        (:math:`\beta s`), ``rewards_margins``, ``rewards_accuracies``,
        ``logps_chosen`` and ``logps_rejected`` (:math:`s`), ``num_pairs``
        and, with ``cpo_alpha > 0``, ``nll_loss``; auxiliary
        ``chosen_logps`` and ``rejected_logps``, the ``[P]`` summed policy
        log-probs.
    """
    if label_smoothing != 0 and loss_type not in ("sigmoid", "simpo"):
        raise LossParameterError(
            f"loss 'cpo': parameter 'label_smoothing' applies to loss_type 'sigmoid' and 'simpo' only, "
            f"got loss_type={loss_type!r}"
        )
    if simpo_gamma is not None and loss_type != "simpo":
        raise LossParameterError(
            f"loss 'cpo': parameter 'simpo_gamma' applies to loss_type='simpo' only, "
            f"got loss_type={loss_type!r}"
        )
    gamma = _SIMPO_GAMMA if simpo_gamma is None else simpo_gamma
    source = policy_source("cpo", logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    check_chunk_size("cpo", "chunk_size", chunk_size, source)
    dtype = work_dtype(source, logits, hidden_states, lm_head_weight, log_probs)
    targets = targets_for(
        "cpo", source, labels, ignore_index=ignore_index, shift=shift, dtype=dtype, paired=True
    )
    counts = targets.counts
    valid = ((counts[:, 0] > 0) & (counts[:, 1] > 0)).to(dtype)
    scored_pairs = valid.sum()
    averaged = loss_type in ("ipo", "simpo")

    def scores(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        return safe_divide(sums, counts[rows]) if averaged else sums

    def terms(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        s = scores(sums, rows)
        u = s[:, 0] - s[:, 1]
        if loss_type == "hinge":
            losses = torch.relu(1 - beta * u)
        elif loss_type == "ipo":
            losses = (u - 1 / (2 * beta)) ** 2
        else:
            h = beta * u - (gamma if loss_type == "simpo" else 0.0)
            losses = -(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)
        kept = torch.where(valid[rows] > 0, losses, torch.zeros_like(losses))
        return safe_divide(kept.sum(), scored_pairs)

    scored = score_sequences(
        source,
        (logits, hidden_states, lm_head_weight, lm_head_bias),
        log_probs,
        targets,
        terms,
        nll=chosen_nll(targets, cpo_alpha) if cpo_alpha > 0 else None,
        chunk_rows=chunk_size,
    )
    sums = scored.sums
    s = scores(sums, slice(None))
    rewards = beta * s
    metrics = {
        "rewards_chosen": mean_over(rewards[:, 0], valid),
        "rewards_rejected": mean_over(rewards[:, 1], valid),
        "rewards_margins": mean_over(rewards[:, 0] - rewards[:, 1], valid),
        "rewards_accuracies": mean_over((rewards[:, 0] > rewards[:, 1]).to(dtype), valid),
        "logps_chosen": mean_over(s[:, 0], valid),
        "logps_rejected": mean_over(s[:, 1], valid),
        "num_pairs": scored_pairs,
    }
    if scored.nll is not None:
        metrics["nll_loss"] = scored.nll
    return loss_result(
        scored.loss, metrics=metrics, auxiliary={"chosen_logps": sums[:, 0], "rejected_logps": sums[:, 1]}
    )
