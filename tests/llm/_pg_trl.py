"""TRL's policy-gradient losses, transcribed as comparison functions.

TRL keeps these losses inside trainer methods, so they are copied here
statement by statement (single process, no gradient accumulation, no vLLM
correction, no entropy masking, no off-policy mask, no entropy bonus):

- :func:`trl_grpo_loss`: ``GRPOTrainer._compute_loss`` in
  ``trl/trainer/grpo_trainer.py`` of TRL 1.13.0 (the loss and its logged
  metrics: ``global_masked_mean`` of the clip masks, ``kl`` and ``entropy``);
- :func:`trl_group_advantages`: the ``"sum_then_normalize"`` branch of
  ``GRPOTrainer._generate_and_score_completions`` with ``nanstd`` from
  ``trl/trainer/utils.py`` (TRL 1.13.0);
- :func:`trl_selective_log_softmax` and :func:`trl_entropy_from_logits`:
  ``trl/trainer/utils.py`` (TRL 1.13.0);
- :func:`trl_ppo_loss`: the loss block of ``PPOTrainer.train`` in
  ``trl/experimental/ppo/ppo_trainer.py`` (TRL main, 2026), with its
  ``masked_mean``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def trl_selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # trl/trainer/utils.py: selective_log_softmax (float32/float64 branch)
    selected_logits = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
    logsumexp_values = torch.stack([torch.logsumexp(lg, dim=-1) for lg in logits])
    return selected_logits - logsumexp_values


def trl_entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    # trl/trainer/utils.py: entropy_from_logits (one chunk)
    logps = F.log_softmax(logits, dim=-1)
    return -(torch.exp(logps) * logps).sum(-1)


def trl_nanstd(tensor: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    # trl/trainer/utils.py: nanstd
    mean = torch.nanmean(tensor, dim=dim, keepdim=True)
    variance = torch.nanmean((tensor - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(tensor), dim=dim, keepdim=True)
    correction = count / (count - 1)
    correction = torch.where(count > 1, correction, torch.full_like(correction, float("nan")))
    variance *= correction
    std = torch.sqrt(variance)
    return std if dim is None else std.squeeze(dim)


def trl_group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str) -> torch.Tensor:
    # GRPOTrainer._generate_and_score_completions, multi_objective_aggregation="sum_then_normalize"
    rewards = rewards.clone()
    mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    if scale_rewards in ["group", "none"]:
        if num_generations > 1:
            std_rewards = trl_nanstd(rewards.view(-1, num_generations), dim=1)
            std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
        else:
            std_rewards = torch.zeros_like(rewards)
    elif scale_rewards == "batch":
        if rewards.numel() > 1:
            std_rewards = trl_nanstd(rewards).expand_as(rewards)
        else:
            std_rewards = torch.zeros_like(rewards)
    advantages = rewards - mean_grouped_rewards
    if scale_rewards != "none":
        advantages = advantages / (std_rewards + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0)


def trl_grpo_loss(
    per_token_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    old_per_token_logps: torch.Tensor | None = None,
    ref_per_token_logps: torch.Tensor | None = None,
    entropies: torch.Tensor | None = None,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    beta: float = 0.0,
    use_bias_correction_kl: bool = True,
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
    num_items_in_batch: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GRPOTrainer._compute_loss (TRL 1.13.0) from the per-token log-probs on."""
    epsilon_low = epsilon
    epsilon_high = epsilon_high if epsilon_high is not None else epsilon
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    old_per_token_logps = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps

    log_ratio = per_token_logps - old_per_token_logps
    if importance_sampling_level == "token":
        log_importance_weights = log_ratio
    elif importance_sampling_level == "sequence":
        log_importance_weights = (log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        log_importance_weights = log_importance_weights.unsqueeze(-1)

    coef_1 = torch.exp(log_importance_weights)

    if beta != 0.0:
        per_token_kl = (
            torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
        )
        if use_bias_correction_kl:
            per_token_kl = per_token_kl * coef_1

    if loss_type == "cispo":
        clamped_ratios = torch.clamp(coef_1, max=epsilon_high).detach()
        per_token_loss = -clamped_ratios * advantages * per_token_logps
    elif loss_type in ["grpo", "bnpo", "dr_grpo", "dapo"]:
        coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)
        if delta is not None:
            coef_1 = torch.clamp(coef_1, max=delta)
        per_token_loss1 = coef_1 * advantages
        per_token_loss2 = coef_2 * advantages
        per_token_loss = -torch.min(per_token_loss1, per_token_loss2)

    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl

    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)
    elif loss_type in ["cispo", "dapo"]:
        normalizer = num_items_in_batch.clamp(min=1.0) / 1  # accelerator.num_processes
        loss = (per_token_loss * mask).sum() / normalizer

    def global_masked_mean(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            local_sum, local_count = x.sum(), torch.tensor(float(x.shape[0]), device=x.device)
        else:
            local_sum, local_count = (x * mask).sum(), mask.sum().float()
        return local_sum / local_count.clamp(min=1.0)

    metrics: dict[str, torch.Tensor] = {}
    if beta != 0.0:
        metrics["kl"] = global_masked_mean(per_token_kl)
    if entropies is not None:
        metrics["entropy"] = global_masked_mean(entropies)
    if loss_type in ["grpo", "bnpo", "dr_grpo", "dapo"]:
        is_low_clipped = (coef_1 < 1 - epsilon_low) & (advantages < 0)
        is_high_clipped = (coef_1 > 1 + epsilon_high) & (advantages > 0)
        is_region_clipped = is_low_clipped | is_high_clipped
        metrics["clip_ratio/low_mean"] = global_masked_mean(is_low_clipped.float())
        metrics["clip_ratio/high_mean"] = global_masked_mean(is_high_clipped.float())
        metrics["clip_ratio/region_mean"] = global_masked_mean(is_region_clipped.float())
    elif loss_type == "cispo":
        is_cispo_clipped = (coef_1 > epsilon_high) & (advantages > 0)
        metrics["cispo_clip_ratio"] = global_masked_mean(is_cispo_clipped.float())
    return loss, metrics


def trl_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # trl/experimental/ppo/ppo_trainer.py: masked_mean (axis=None)
    return (values * mask).sum() / mask.sum()


def trl_ppo_loss(
    new_logprobs: torch.Tensor,
    mb_logprobs: torch.Tensor,
    mb_advantage: torch.Tensor,
    padding_mask: torch.Tensor,
    vpred: torch.Tensor,
    mb_values: torch.Tensor,
    mb_return: torch.Tensor,
    padding_mask_p1: torch.Tensor,
    *,
    cliprange: float = 0.2,
    cliprange_value: float = 0.2,
    vf_coef: float = 0.1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPOTrainer.train's loss (trl/experimental/ppo/ppo_trainer.py); the masks
    are TRL's padding masks (True = padding)."""
    vpredclipped = torch.clamp(
        vpred,
        mb_values - cliprange_value,
        mb_values + cliprange_value,
    )
    vf_losses1 = torch.square(vpred - mb_return)
    vf_losses2 = torch.square(vpredclipped - mb_return)
    vf_loss_max = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * trl_masked_mean(vf_loss_max, ~padding_mask_p1)
    vf_clipfrac = trl_masked_mean((vf_losses2 > vf_losses1).float(), ~padding_mask_p1)
    logprobs_diff = new_logprobs - mb_logprobs
    ratio = torch.exp(logprobs_diff)
    pg_losses = -mb_advantage * ratio
    pg_losses2 = -mb_advantage * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss_max = torch.max(pg_losses, pg_losses2)
    pg_loss = trl_masked_mean(pg_loss_max, ~padding_mask)
    loss = pg_loss + vf_coef * vf_loss
    with torch.no_grad():
        pg_clipfrac = trl_masked_mean((pg_losses2 > pg_losses).float(), ~padding_mask)
    return loss, {
        "pg_loss": pg_loss,
        "vf_loss": vf_loss,
        "vf_clipfrac": vf_clipfrac,
        "pg_clipfrac": pg_clipfrac,
    }
