"""Simple Preference Optimization (Meng et al. 2024)."""

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

__all__ = ["simpo"]


@register_loss(inputs=[PAIRED_LABELS, *POLICY_INPUTS], example_inputs=pair_logits_example)
def simpo(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(gt=0)] = 2.0,
    gamma: Annotated[float, Range(ge=0)] = 0.5,
    loss_type: Literal["sigmoid", "hinge"] = "sigmoid",
    label_smoothing: Annotated[float, Range(ge=0, lt=0.5)] = 0.0,
    sft_weight: Annotated[float, Range(ge=0)] = 0.0,
    ignore_index: int = -100,
    shift: bool | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""SimPO: a reference-free margin loss on length-normalised log-probabilities.

    Meng, Xia and Chen 2024, "SimPO: Simple Preference
    Optimization with a Reference-Free Reward", arXiv:2405.14734, as the
    authors' ``SimPOTrainer`` computes it.

    **Batch.** :math:`P` pairs as :math:`2P` sequences, the :math:`P` chosen
    first, then the :math:`P` rejected; the policy as ``logits``,
    ``hidden_states`` with ``lm_head_weight`` (chunked over pairs) or
    per-token ``log_probs``; ``labels`` ``[2P, T]`` with ``ignore_index`` at
    the prompt and the padding (see :func:`losses_llm.dpo`).

    **Formula.** With :math:`\bar\ell(y) = \frac{1}{|y|}\sum_t
    \log\pi(y_t)` the mean log-probability of a completion's tokens and
    :math:`h = \beta\,\bar\ell(y_w) - \beta\,\bar\ell(y_l) - \gamma`:

    .. math:: \ell_\mathrm{sigmoid} = -(1-\varepsilon)\log\sigma(h) - \varepsilon\log\sigma(-h),
              \qquad \ell_\mathrm{hinge} = \max(0, 1 - h)

    averaged over the pairs whose two sequences have a completion token
    (others are left out; none gives 0 connected to the graph), plus
    ``sft_weight`` times the mean of :math:`-\log\pi(y_t)` over the chosen
    completions' tokens. TRL's ``CPOTrainer`` with ``loss_type="simpo"``,
    ``cpo_alpha=0`` and ``simpo_gamma`` = :math:`\gamma` computes the same
    sigmoid loss (:func:`losses_llm.cpo`).

    :param beta: :math:`\beta`, default 2.0 (the authors' default).
    :param gamma: the target margin :math:`\gamma`, default 0.5; the authors'
        configs set ``gamma_beta_ratio`` :math:`=\gamma/\beta` (0.25 by
        default, so :math:`\gamma = 0.5` at :math:`\beta = 2`), TRL sets
        ``simpo_gamma`` = :math:`\gamma` (0.5).
    :param loss_type: ``"sigmoid"`` (default) or ``"hinge"``.
    :param label_smoothing: :math:`\varepsilon\in[0, 0.5)`, default 0;
        ``sigmoid`` only.
    :param sft_weight: the weight of the NLL term on the chosen completions,
        default 0 (the authors' ``sft_weight``).
    :param ignore_index: the label of unscored positions, default -100.
    :param shift: as for :func:`losses_llm.dpo`.
    :param chunk_size: pairs per chunk on the ``hidden_states`` path.
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics (means over the
        scored pairs): ``rewards_chosen`` and ``rewards_rejected``
        (:math:`\beta\bar\ell`), ``rewards_margins``, ``rewards_accuracies``,
        ``logps_chosen`` and ``logps_rejected`` (:math:`\bar\ell`),
        ``num_pairs`` and, with ``sft_weight > 0``, ``nll_loss``; auxiliary
        ``chosen_logps`` and ``rejected_logps``, the ``[P]`` summed policy
        log-probs.
    """
    if label_smoothing != 0 and loss_type != "sigmoid":
        raise LossParameterError(
            f"loss 'simpo': parameter 'label_smoothing' applies to loss_type='sigmoid' only, "
            f"got loss_type={loss_type!r}"
        )
    source = policy_source("simpo", logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    check_chunk_size("simpo", "chunk_size", chunk_size, source)
    dtype = work_dtype(source, logits, hidden_states, lm_head_weight, log_probs)
    targets = targets_for(
        "simpo", source, labels, ignore_index=ignore_index, shift=shift, dtype=dtype, paired=True
    )
    counts = targets.counts
    valid = ((counts[:, 0] > 0) & (counts[:, 1] > 0)).to(dtype)
    scored_pairs = valid.sum()

    def terms(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        mean = safe_divide(sums, counts[rows])
        h = beta * (mean[:, 0] - mean[:, 1]) - gamma
        if loss_type == "hinge":
            losses = torch.relu(1 - h)
        else:
            losses = -(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)
        kept = torch.where(valid[rows] > 0, losses, torch.zeros_like(losses))
        return safe_divide(kept.sum(), scored_pairs)

    scored = score_sequences(
        source,
        (logits, hidden_states, lm_head_weight, lm_head_bias),
        log_probs,
        targets,
        terms,
        nll=chosen_nll(targets, sft_weight) if sft_weight > 0 else None,
        chunk_rows=chunk_size,
    )
    sums = scored.sums
    mean = safe_divide(sums, counts)
    rewards = beta * mean
    metrics = {
        "rewards_chosen": mean_over(rewards[:, 0], valid),
        "rewards_rejected": mean_over(rewards[:, 1], valid),
        "rewards_margins": mean_over(rewards[:, 0] - rewards[:, 1], valid),
        "rewards_accuracies": mean_over((rewards[:, 0] > rewards[:, 1]).to(dtype), valid),
        "logps_chosen": mean_over(mean[:, 0], valid),
        "logps_rejected": mean_over(mean[:, 1], valid),
        "num_pairs": scored_pairs,
    }
    if scored.nll is not None:
        metrics["nll_loss"] = scored.nll
    return loss_result(
        scored.loss, metrics=metrics, auxiliary={"chosen_logps": sums[:, 0], "rejected_logps": sums[:, 1]}
    )
