"""Direct Preference Optimization (Rafailov et al. 2023) and the loss types of
TRL's ``DPOTrainer``."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._preference import (
    PAIRED_LABELS,
    REF_CHOSEN_LOGPS,
    REF_REJECTED_LOGPS,
    check_chunk_size,
    mean_over,
    num_pairs,
    reference_logps,
    score_sequences,
    targets_for,
    work_dtype,
)
from losses_llm._sources import POLICY_INPUTS, policy_source

__all__ = ["dpo"]

DPOLossType = Literal[
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
]

_SMOOTHED = ("sigmoid", "robust", "exo_pair", "aot", "aot_unpaired")
_COUPLED = ("aot", "aot_unpaired")
_DISCOPOP_TAU = 0.05


def dpo_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``batch_size`` pairs of
    ``[5, 7]`` logits (``2 * batch_size`` sequences, chosen first), labels
    whose first two positions are the prompt, and reference log-probs."""
    pairs = batch_size
    logits = torch.randn(2 * pairs, 5, 7, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 7, (2 * pairs, 5))
    labels[:, :2] = -100
    targets = {
        "labels": labels,
        "ref_chosen_logps": -3.0 - torch.rand(pairs, dtype=dtype),
        "ref_rejected_logps": -3.0 - torch.rand(pairs, dtype=dtype),
    }
    return {"logits": logits}, targets, {}


@register_loss(
    inputs=[PAIRED_LABELS, *POLICY_INPUTS, REF_CHOSEN_LOGPS, REF_REJECTED_LOGPS],
    example_inputs=dpo_example,
)
def dpo(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    ref_chosen_logps: torch.Tensor | None = None,
    ref_rejected_logps: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(gt=0)] = 0.1,
    loss_type: DPOLossType = "sigmoid",
    label_smoothing: Annotated[float, Range(ge=0, lt=0.5)] = 0.0,
    discopop_tau: Annotated[float, Range(gt=0)] | None = None,
    reference_free: bool = False,
    ignore_index: int = -100,
    shift: bool | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""Direct Preference Optimization with the loss types of TRL's DPOTrainer.

    The DPO loss and its variants, as TRL's ``DPOTrainer`` computes them.

    **Batch.** :math:`P` pairs as :math:`2P` sequences, the :math:`P` chosen
    first, then the :math:`P` rejected (pair :math:`i` is rows :math:`i` and
    :math:`P+i`; an odd count is an error). The policy comes as ``logits``
    ``[2P, T, V]``, as ``hidden_states`` ``[2P, T, H]`` with
    ``lm_head_weight`` ``[V, H]`` (and ``lm_head_bias``), computed chunk by
    chunk over pairs without the full logits, or as per-token ``log_probs``
    ``[2P, T]``. ``labels`` ``[2P, T]`` hold the token ids, ``ignore_index``
    at the prompt and the padding. ``ref_chosen_logps`` and
    ``ref_rejected_logps`` ``[P]`` are the reference model's summed
    completion log-probabilities (computed without gradient, e.g. by this
    loss on the reference model's output with ``reference_free=True``: its
    ``auxiliary`` holds them).

    **Scores.** With :math:`\log\pi(y)` the policy's log-probability of a
    completion summed over its tokens, :math:`c = \log\pi(y_w) -
    \log\pi_\mathrm{ref}(y_w)` and :math:`r = \log\pi(y_l) -
    \log\pi_\mathrm{ref}(y_l)` (the reference terms are 0 with
    ``reference_free``), :math:`\bar c = c/|y_w|`, :math:`\bar r = r/|y_l|`
    (per completion token), :math:`d = \beta(c - r)`, :math:`\sigma` the
    logistic function and :math:`\varepsilon` = ``label_smoothing``, the loss
    is the mean over the :math:`P'` scored pairs (see *Reduction*)

    .. math:: \mathcal{L} = \frac{1}{P'} \sum_{i=1}^{P'} \ell_i, \qquad
              \ell^\mathrm{sigmoid}_i = -(1-\varepsilon)\log\sigma(d_i) - \varepsilon\log\sigma(-d_i)

    where the loss :math:`\ell` of a pair is, by ``loss_type``:

    - ``"sigmoid"`` (DPO, Rafailov et al. 2023, arXiv:2305.18290; with
      :math:`\varepsilon > 0` the conservative cDPO of the original DPO
      implementation): :math:`-(1-\varepsilon)\log\sigma(d) -
      \varepsilon\log\sigma(-d)`
    - ``"hinge"`` (SLiC, Zhao et al. 2023, arXiv:2305.10425): :math:`\max(0, 1 - d)`
    - ``"ipo"`` (Azar et al. 2023, arXiv:2310.12036; :math:`\beta` is their
      :math:`\tau`; per-token scores as TRL): :math:`(\bar c - \bar r -
      \tfrac{1}{2\beta})^2`
    - ``"exo_pair"`` (Ji et al. 2024, arXiv:2402.00856; needs
      :math:`\varepsilon > 0`, e.g. 1e-3): :math:`\sigma(d)(\log\sigma(d) -
      \log(1-\varepsilon)) + \sigma(-d)(\log\sigma(-d) - \log\varepsilon)`
    - ``"nca_pair"`` (Chen et al. 2024, arXiv:2402.05369):
      :math:`-\log\sigma(\beta c) - \tfrac12\log\sigma(-\beta c) -
      \tfrac12\log\sigma(-\beta r)`
    - ``"robust"`` (Chowdhury et al. 2024, arXiv:2403.00409;
      :math:`\varepsilon` the flip rate): :math:`\frac{-(1-\varepsilon)
      \log\sigma(d) + \varepsilon\log\sigma(-d)}{1 - 2\varepsilon}`
    - ``"bco_pair"`` (Jung et al. 2024, arXiv:2404.04656):
      :math:`-\log\sigma(\beta c) - \log\sigma(-\beta r)`
    - ``"sppo_hard"`` (Wu et al. 2024, arXiv:2405.00675):
      :math:`(c - \tfrac{1}{2\beta})^2 + (r + \tfrac{1}{2\beta})^2`
    - ``"aot"`` (Melnyk et al. 2024, arXiv:2406.05882): the sigmoid loss
      (with :math:`\varepsilon`) of :math:`\beta(s_{(j)} - s^\mathrm{ref}_{(j)})`,
      where :math:`s_{(j)}` is the :math:`j`-th smallest policy log-ratio
      :math:`\log\pi(y_w) - \log\pi(y_l)` of the batch and
      :math:`s^\mathrm{ref}_{(j)}` the :math:`j`-th smallest reference one;
      ``"aot_unpaired"`` sorts :math:`c` and :math:`r` instead (called
      ``aot_pair`` in earlier TRL releases). Both couple the pairs of a batch.
    - ``"apo_zero"`` and ``"apo_down"`` (D'Oosterlinck et al. 2024,
      arXiv:2408.06266): :math:`1 - \sigma(\beta c) + \sigma(\beta r)` and
      :math:`\sigma(\beta c) + 1 - \sigma(\beta(c - r))`
    - ``"discopop"`` (Chris Lu et al. 2024, arXiv:2406.08414; :math:`\tau` =
      ``discopop_tau``): with :math:`m = \sigma(d/\tau)`,
      :math:`-(1-m)\log\sigma(d) + m\,e^{-d}` (the last product computed as
      :math:`e^{-d + \log m}`, finite where :math:`e^{-d}` overflows)
    - ``"sigmoid_norm"`` (TRL's length-normalised DPO):
      :math:`-\log\sigma(\beta(\bar c - \bar r))`

    **Reduction.** The mean over the pairs whose two sequences both have a
    completion token; a pair with an empty sequence is left out (TRL would
    score it with a zero log-probability), and a batch without such pairs
    gives 0 connected to the graph.

    :param beta: :math:`\beta`, default 0.1.
    :param loss_type: default ``"sigmoid"``; the names of TRL 1.13.
    :param label_smoothing: :math:`\varepsilon\in[0, 0.5)`, default 0; for
        ``sigmoid``, ``robust``, ``exo_pair`` (where it must be > 0), ``aot``
        and ``aot_unpaired`` only.
    :param discopop_tau: :math:`\tau` of ``discopop`` (``None``: 0.05, the
        paper's value); for ``discopop`` only.
    :param reference_free: default ``False``; ``True`` takes no reference
        log-probs (they count as 0) and rejects them if given.
    :param ignore_index: the label of unscored positions, default -100.
    :param shift: ``None`` (default) shifts the labels for ``logits`` and
        ``hidden_states`` (position :math:`t` scores ``labels[:, t+1]``, as
        Hugging Face models return them) and not for ``log_probs``, taken as
        aligned with the labels; ``True``/``False`` force it (``True`` with
        ``log_probs`` reads them at the logits' positions).
    :param chunk_size: pairs per chunk on the ``hidden_states`` path
        (``None``: about 2**24 logits per chunk); an error on other paths.
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics (means over the
        scored pairs, TRL's names with ``_`` for ``/``): ``rewards_chosen``
        (:math:`\beta c`), ``rewards_rejected`` (:math:`\beta r`),
        ``rewards_margins``, ``rewards_accuracies`` (the fraction with
        :math:`c > r`), ``logps_chosen``, ``logps_rejected`` (summed policy
        log-probs) and ``num_pairs`` (the pairs scored); auxiliary
        ``chosen_logps`` and ``rejected_logps``, the ``[P]`` summed policy
        log-probs (detached).
    """
    _check_parameters(loss_type, label_smoothing, discopop_tau)
    source = policy_source("dpo", logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    check_chunk_size("dpo", "chunk_size", chunk_size, source)
    dtype = work_dtype(source, logits, hidden_states, lm_head_weight, log_probs)
    pairs = num_pairs("dpo", labels)
    targets = targets_for(
        "dpo", source, labels, ignore_index=ignore_index, shift=shift, dtype=dtype, paired=True
    )
    ref = reference_logps(
        "dpo",
        ref_chosen_logps,
        ref_rejected_logps,
        reference_free=reference_free,
        pairs=pairs,
        dtype=dtype,
        device=labels.device,
    )
    counts = targets.counts
    valid = ((counts[:, 0] > 0) & (counts[:, 1] > 0)).to(dtype)
    scored_pairs = valid.sum()
    tau = _DISCOPOP_TAU if discopop_tau is None else discopop_tau

    # the coupled types score sorted positions, the first `scored_pairs` of them
    weights = _leading(valid) if loss_type in _COUPLED else valid

    def terms(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        losses = _pair_losses(
            loss_type, sums, ref[rows], counts[rows], valid[rows], beta, label_smoothing, tau
        )
        kept = torch.where(weights[rows] > 0, losses, torch.zeros_like(losses))
        return safe_divide(kept.sum(), scored_pairs)

    scored = score_sequences(
        source,
        (logits, hidden_states, lm_head_weight, lm_head_bias),
        log_probs,
        targets,
        terms,
        coupled=loss_type in _COUPLED,
        chunk_rows=chunk_size,
    )
    sums = scored.sums
    rewards = beta * (sums - ref)
    metrics = {
        "rewards_chosen": mean_over(rewards[:, 0], valid),
        "rewards_rejected": mean_over(rewards[:, 1], valid),
        "rewards_margins": mean_over(rewards[:, 0] - rewards[:, 1], valid),
        "rewards_accuracies": mean_over((rewards[:, 0] > rewards[:, 1]).to(dtype), valid),
        "logps_chosen": mean_over(sums[:, 0], valid),
        "logps_rejected": mean_over(sums[:, 1], valid),
        "num_pairs": scored_pairs,
    }
    return loss_result(
        scored.loss, metrics=metrics, auxiliary={"chosen_logps": sums[:, 0], "rejected_logps": sums[:, 1]}
    )


def _check_parameters(loss_type: str, label_smoothing: float, discopop_tau: float | None) -> None:
    if label_smoothing != 0 and loss_type not in _SMOOTHED:
        raise LossParameterError(
            f"loss 'dpo': parameter 'label_smoothing' applies to loss_type "
            f"{', '.join(repr(t) for t in _SMOOTHED)} only, got loss_type={loss_type!r}"
        )
    if loss_type == "exo_pair" and label_smoothing == 0:
        raise LossParameterError(
            "loss 'dpo': loss_type='exo_pair' needs parameter 'label_smoothing' > 0 (the EXO paper "
            "recommends 1e-3), got 0.0"
        )
    if discopop_tau is not None and loss_type != "discopop":
        raise LossParameterError(
            f"loss 'dpo': parameter 'discopop_tau' applies to loss_type='discopop' only, "
            f"got loss_type={loss_type!r}"
        )


def _smoothed_sigmoid(d: torch.Tensor, eps: float) -> torch.Tensor:
    loss = -F.logsigmoid(d)
    return loss if eps == 0 else (1 - eps) * loss - eps * F.logsigmoid(-d)


def _leading(valid: torch.Tensor) -> torch.Tensor:
    """0/1 weights of the first ``valid.sum()`` positions."""
    return (torch.arange(valid.shape[0], device=valid.device) < valid.sum()).to(valid.dtype)


def _sorted_valid(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``x`` sorted ascending over the valid entries, which come first; the
    other positions (the invalid entries, sorted last as +inf) hold 0."""
    key = torch.where(valid > 0, x, torch.full_like(x, math.inf))
    ordered = torch.sort(key).values
    return torch.where(_leading(valid) > 0, ordered, torch.zeros_like(ordered))


def _pair_losses(
    loss_type: str,
    sums: torch.Tensor,
    ref: torch.Tensor,
    counts: torch.Tensor,
    valid: torch.Tensor,
    beta: float,
    eps: float,
    tau: float,
) -> torch.Tensor:
    """``[p]`` losses of the pairs whose ``[p, 2]`` summed policy and reference
    log-probs and completion token counts are given (chosen, rejected)."""
    ratios = sums - ref
    c, r = ratios[:, 0], ratios[:, 1]
    d = beta * (c - r)
    if loss_type == "sigmoid":
        return _smoothed_sigmoid(d, eps)
    if loss_type == "hinge":
        return torch.relu(1 - d)
    if loss_type in ("ipo", "sigmoid_norm"):
        per_token = safe_divide(ratios, counts)
        gap = per_token[:, 0] - per_token[:, 1]
        if loss_type == "ipo":
            return (gap - 1 / (2 * beta)) ** 2
        return -F.logsigmoid(beta * gap)
    if loss_type == "exo_pair":
        return torch.sigmoid(d) * (F.logsigmoid(d) - math.log1p(-eps)) + torch.sigmoid(-d) * (
            F.logsigmoid(-d) - math.log(eps)
        )
    if loss_type == "nca_pair":
        return -F.logsigmoid(beta * c) - 0.5 * F.logsigmoid(-beta * c) - 0.5 * F.logsigmoid(-beta * r)
    if loss_type == "robust":
        return (-(1 - eps) * F.logsigmoid(d) + eps * F.logsigmoid(-d)) / (1 - 2 * eps)
    if loss_type == "bco_pair":
        return -F.logsigmoid(beta * c) - F.logsigmoid(-beta * r)
    if loss_type == "sppo_hard":
        return (c - 0.5 / beta) ** 2 + (r + 0.5 / beta) ** 2
    if loss_type == "aot":
        policy = _sorted_valid(sums[:, 0] - sums[:, 1], valid)
        reference = _sorted_valid(ref[:, 0] - ref[:, 1], valid)
        return _smoothed_sigmoid(beta * (policy - reference), eps)
    if loss_type == "aot_unpaired":
        return _smoothed_sigmoid(beta * (_sorted_valid(c, valid) - _sorted_valid(r, valid)), eps)
    if loss_type == "apo_zero":
        return 1 - torch.sigmoid(beta * c) + torch.sigmoid(beta * r)
    if loss_type == "apo_down":
        return torch.sigmoid(beta * c) + 1 - torch.sigmoid(d)
    if loss_type == "discopop":
        modulation = torch.sigmoid(d / tau)
        return -F.logsigmoid(d) * (1 - modulation) + torch.exp(F.logsigmoid(d / tau) - d)
    raise AssertionError(loss_type)
