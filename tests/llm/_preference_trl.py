"""Comparison functions transcribed from the trainers that define the
preference losses (their losses live inside trainer methods, so there is
nothing to import): TRL 1.13.0 (``/opt/pypi/files/trl-1.13.0-py3-none-any.whl``),
the authors' SimPO trainer and the original DPO implementation. Each takes
per-sequence log-probabilities (computed by the tests with
``_preference_data.loop_logps``) and returns the loss exactly as the named
method computes it; the comment of each function names the file and method
it transcribes."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def trl_dpo(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    chosen_counts: torch.Tensor,
    rejected_counts: torch.Tensor,
    *,
    beta: float,
    loss_type: str,
    label_smoothing: float = 0.0,
    discopop_tau: float = 0.05,
) -> torch.Tensor:
    """trl/trainer/dpo_trainer.py, ``DPOTrainer._compute_loss`` (TRL 1.13.0):
    the per-sequence losses for one loss type with ``f_divergence_type=
    "reverse_kl"``, no WPO weighting and ``ld_alpha=None``, then
    ``per_sequence_loss.mean()``. ``chosen_counts``/``rejected_counts`` are
    ``completion_mask.chunk(2)[i].sum(dim=1)`` (ipo, sigmoid_norm). ``"sigmoid"``
    with ``label_smoothing > 0`` is the conservative DPO of the original DPO
    implementation (eric-mitchell/direct-preference-optimization,
    trainers.py, ``preference_loss``), which TRL 1.13 dropped."""
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    chosen_scores = chosen_logratios
    rejected_scores = rejected_logratios
    delta_score = chosen_scores - rejected_scores
    if loss_type == "sigmoid":
        # eric-mitchell/direct-preference-optimization trainers.py preference_loss
        logits = delta_score
        per_sequence_loss = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "hinge":
        per_sequence_loss = torch.relu(1 - beta * delta_score)
    elif loss_type == "ipo":
        chosen_avg_score = chosen_scores / chosen_counts.clamp(min=1.0)
        rejected_avg_score = rejected_scores / rejected_counts.clamp(min=1.0)
        ipo_delta = chosen_avg_score - rejected_avg_score
        per_sequence_loss = (ipo_delta - 1 / (2 * beta)) ** 2
    elif loss_type == "exo_pair":
        epsilon = torch.tensor(label_smoothing, dtype=delta_score.dtype)
        qw = torch.sigmoid(beta * delta_score)
        log_qw = F.logsigmoid(beta * delta_score)
        log_pw = torch.log1p(-epsilon)
        ql = torch.sigmoid(-beta * delta_score)
        log_ql = F.logsigmoid(-beta * delta_score)
        log_pl = torch.log(epsilon)
        per_sequence_loss = qw * (log_qw - log_pw) + ql * (log_ql - log_pl)
    elif loss_type == "nca_pair":
        chosen_rewards = beta * chosen_logratios
        rejected_rewards = beta * rejected_logratios
        per_sequence_loss = (
            -F.logsigmoid(chosen_rewards)
            - 0.5 * F.logsigmoid(-chosen_rewards)
            - 0.5 * F.logsigmoid(-rejected_rewards)
        )
    elif loss_type == "robust":
        clean_loss_term = -(1 - label_smoothing) * F.logsigmoid(beta * delta_score)
        flipped_loss_term = -label_smoothing * F.logsigmoid(-beta * delta_score)
        per_sequence_loss = (clean_loss_term - flipped_loss_term) / (1 - 2 * label_smoothing)
    elif loss_type == "bco_pair":
        chosen_rewards = beta * chosen_logratios
        rejected_rewards = beta * rejected_logratios
        per_sequence_loss = -F.logsigmoid(chosen_rewards) - F.logsigmoid(-rejected_rewards)
    elif loss_type == "sppo_hard":
        winner_margin_error = (chosen_logratios - 0.5 / beta) ** 2
        loser_margin_error = (rejected_logratios + 0.5 / beta) ** 2
        per_sequence_loss = winner_margin_error + loser_margin_error
    elif loss_type == "aot":
        logratios = chosen_logps - rejected_logps
        ref_logratios = ref_chosen_logps - ref_rejected_logps
        logratios_sorted, _ = torch.sort(logratios, dim=0)
        ref_logratios_sorted, _ = torch.sort(ref_logratios, dim=0)
        delta = logratios_sorted - ref_logratios_sorted
        per_sequence_loss = (
            -F.logsigmoid(beta * delta) * (1 - label_smoothing)
            - F.logsigmoid(-beta * delta) * label_smoothing
        )
    elif loss_type == "aot_unpaired":
        chosen_logratios_sorted, _ = torch.sort(chosen_logratios, dim=0)
        rejected_logratios_sorted, _ = torch.sort(rejected_logratios, dim=0)
        delta = chosen_logratios_sorted - rejected_logratios_sorted
        per_sequence_loss = (
            -F.logsigmoid(beta * delta) * (1 - label_smoothing)
            - F.logsigmoid(-beta * delta) * label_smoothing
        )
    elif loss_type == "apo_zero":
        losses_chosen = 1 - torch.sigmoid(beta * chosen_logratios)
        losses_rejected = torch.sigmoid(beta * rejected_logratios)
        per_sequence_loss = losses_chosen + losses_rejected
    elif loss_type == "apo_down":
        losses_chosen = torch.sigmoid(beta * chosen_logratios)
        losses_rejected = 1 - torch.sigmoid(beta * (chosen_logratios - rejected_logratios))
        per_sequence_loss = losses_chosen + losses_rejected
    elif loss_type == "discopop":
        logits = delta_score * beta
        log_ratio_modulation = torch.sigmoid(logits / discopop_tau)
        logistic_component = -F.logsigmoid(logits)
        exp_component = torch.exp(-logits)
        per_sequence_loss = (
            logistic_component * (1 - log_ratio_modulation) + exp_component * log_ratio_modulation
        )
    elif loss_type == "sigmoid_norm":
        chosen_avg_score = chosen_scores / chosen_counts.clamp(min=1.0)
        rejected_avg_score = rejected_scores / rejected_counts.clamp(min=1.0)
        delta = chosen_avg_score - rejected_avg_score
        per_sequence_loss = -F.logsigmoid(beta * delta)
    else:
        raise ValueError(loss_type)
    return per_sequence_loss.mean()


def trl_dpo_metrics(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> dict[str, torch.Tensor]:
    """trl/trainer/dpo_trainer.py, ``DPOTrainer._compute_loss``, the logged
    rewards and log-probs (single process: ``gather`` is the identity)."""
    chosen_rewards = beta * (chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps).detach()
    return {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
        "logps/chosen": chosen_logps.detach().mean(),
        "logps/rejected": rejected_logps.detach().mean(),
    }


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """trl/experimental/orpo/orpo_trainer.py, ``log1mexp``."""
    t = -0.6931471805599453
    return torch.where(x < t, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def trl_orpo(
    chosen_mean_logps: torch.Tensor, rejected_mean_logps: torch.Tensor, nll: torch.Tensor, *, beta: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """trl/experimental/orpo/orpo_trainer.py, ``ORPOTrainer.odds_ratio_loss``
    and ``get_batch_loss_metrics`` (``loss = policy_nll_loss - losses.mean()``);
    ``nll`` is ``concatenated_forward``'s ``chosen_nll_loss`` (a token mean)."""
    log_odds = (chosen_mean_logps - rejected_mean_logps) - (
        log1mexp(chosen_mean_logps) - log1mexp(rejected_mean_logps)
    )
    ratio = F.logsigmoid(log_odds)
    losses = beta * ratio
    chosen_rewards = beta * chosen_mean_logps.detach()
    rejected_rewards = beta * rejected_mean_logps.detach()
    metrics = {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
        "logps/chosen": chosen_mean_logps.detach().mean(),
        "logps/rejected": rejected_mean_logps.detach().mean(),
        "nll_loss": nll.detach(),
        "log_odds_ratio": torch.mean(ratio).detach(),
        "log_odds_chosen": torch.mean(log_odds).detach(),
    }
    return nll - losses.mean(), metrics


def trl_cpo(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    nll: torch.Tensor,
    *,
    beta: float,
    loss_type: str,
    label_smoothing: float = 0.0,
    simpo_gamma: float = 0.5,
    cpo_alpha: float = 1.0,
) -> torch.Tensor:
    """trl/experimental/cpo/cpo_trainer.py, ``CPOTrainer.cpo_loss`` (AlphaPO
    ``alpha=0``) and ``get_batch_loss_metrics`` (``losses.mean() + cpo_alpha
    * policy_nll_loss``); the log-probs are averaged per token for ipo and
    simpo (``concatenated_forward``), summed otherwise."""
    logits = chosen_logps - rejected_logps
    if loss_type == "simpo":
        gamma_logratios = simpo_gamma / beta
        logits = logits - gamma_logratios
        losses = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "sigmoid":
        losses = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(loss_type)
    return losses.mean() + cpo_alpha * nll


def simpo_trainer(
    chosen_mean_logps: torch.Tensor,
    rejected_mean_logps: torch.Tensor,
    sft_loss: torch.Tensor,
    *,
    beta: float,
    gamma_beta_ratio: float,
    loss_type: str,
    label_smoothing: float = 0.0,
    sft_weight: float = 0.0,
) -> torch.Tensor:
    """princeton-nlp/SimPO, scripts/simpo_trainer.py, ``SimPOTrainer.simpo_loss``
    and ``get_batch_loss_metrics`` (``loss = losses.mean()`` plus
    ``sft_weight * sft_loss`` when ``sft_weight > 0``)."""
    pi_logratios = chosen_mean_logps - rejected_mean_logps
    logits = pi_logratios - gamma_beta_ratio
    if loss_type == "sigmoid":
        losses = (
            -F.logsigmoid(beta * logits) * (1 - label_smoothing)
            - F.logsigmoid(-beta * logits) * label_smoothing
        )
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    else:
        raise ValueError(loss_type)
    loss = losses.mean()
    if sft_weight > 0.0:
        loss = sft_weight * sft_loss + loss
    return loss


def trl_kto(
    completion_logps: torch.Tensor,
    ref_completion_logps: torch.Tensor,
    label: torch.Tensor,
    kl_logps: torch.Tensor | None,
    ref_kl_logps: torch.Tensor | None,
    *,
    beta: float,
    loss_type: str = "kto",
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """trl/trainer/kto_trainer.py, ``KTOTrainer._compute_loss`` (TRL 1.13.0,
    one process): the KL term, the chosen/rejected losses, ``losses.nanmean()``.
    Returns the loss and the KL term."""
    bool_labels = label.bool()
    chosen_idx = torch.nonzero(bool_labels, as_tuple=False).view(-1)
    rejected_idx = torch.nonzero(~bool_labels, as_tuple=False).view(-1)
    chosen_logps = completion_logps.index_select(0, chosen_idx)
    rejected_logps = completion_logps.index_select(0, rejected_idx)
    ref_chosen_logps = ref_completion_logps.index_select(0, chosen_idx)
    ref_rejected_logps = ref_completion_logps.index_select(0, rejected_idx)
    if loss_type == "kto":
        assert kl_logps is not None and ref_kl_logps is not None
        kl = (kl_logps - ref_kl_logps).mean().detach()
        kl = kl.mean().clamp(min=0)
    else:
        kl = torch.zeros(1, dtype=completion_logps.dtype)
    chosen_logratios = chosen_logps - ref_chosen_logps
    if loss_type == "kto":
        chosen_losses = 1 - F.sigmoid(beta * (chosen_logratios - kl))
    else:
        chosen_losses = 1 - F.sigmoid(beta * chosen_logratios)
    rejected_logratios = rejected_logps - ref_rejected_logps
    if loss_type == "kto":
        rejected_losses = 1 - F.sigmoid(beta * (kl - rejected_logratios))
    else:
        rejected_losses = F.sigmoid(beta * rejected_logratios)
    losses = torch.cat((desirable_weight * chosen_losses, undesirable_weight * rejected_losses), 0)
    return losses.nanmean(), kl
