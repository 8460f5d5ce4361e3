r"""Group-relative advantages for GRPO-style training (:func:`group_advantages`)."""

from __future__ import annotations

from typing import Literal

import torch

from losses_core import LossInputError, LossParameterError

__all__ = ["group_advantages"]


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    *,
    scale: Literal["group", "batch", "none"] = "group",
    eps: float = 1e-4,
) -> torch.Tensor:
    r"""Advantages of completions relative to the other completions of their prompt.

    ``rewards`` holds one reward per completion, ``[N]``, grouped by prompt:
    completions ``g*G ... g*G + G - 1`` answer prompt ``g`` (``G`` =
    ``group_size``, the completions per prompt, TRL's ``num_generations``).
    With :math:`\bar r_g` the mean reward of the group of completion
    :math:`i`:

    .. math:: A_i = \frac{r_i - \bar r_g}{\sigma + \varepsilon}

    - ``scale="group"`` (default): :math:`\sigma` is the standard deviation of
      the group's rewards (GRPO, Shao et al. 2024, DeepSeekMath,
      arXiv:2402.03300);
    - ``scale="batch"``: :math:`\sigma` is the standard deviation of all
      :math:`N` rewards, the centring staying per group (TRL's
      ``scale_rewards="batch"``; Liu et al. 2025, "Part I: Tricks or Traps?",
      arXiv:2508.08221);
    - ``scale="none"``: no division, :math:`A_i = r_i - \bar r_g` (Dr. GRPO,
      Liu et al. 2025, arXiv:2503.20783: the division by the group's standard
      deviation weights prompts by difficulty).

    Standard deviations are unbiased (Bessel's correction, divisor
    :math:`n - 1`), as TRL 1.13's ``GRPOTrainer`` computes them (``nanstd``);
    a group (or batch) of one has :math:`\sigma = 0`. ``eps=1e-4`` is TRL's.
    A group whose rewards are all equal gets advantages 0.

    A NaN reward marks an unscorable completion (TRL's convention): it is left
    out of its group's mean and standard deviation and gets advantage 0.

    :param rewards: ``[N]`` float rewards, ``N`` a multiple of ``group_size``.
    :param group_size: completions per prompt, at least 1.
    :param scale: ``"group"``, ``"batch"`` or ``"none"``.
    :param eps: added to the standard deviation, > 0 (not with ``scale="none"``).
    :returns: ``[N]`` advantages in the rewards' dtype (float32 for integer or
        half-precision rewards).
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise LossParameterError(
            f"group_advantages: parameter 'group_size' must be an int >= 1 (completions per prompt), "
            f"got {group_size!r}"
        )
    if scale not in ("group", "batch", "none"):
        raise LossParameterError(
            f"group_advantages: parameter 'scale' must be one of 'group', 'batch', 'none', got {scale!r}"
        )
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise LossParameterError(f"group_advantages: parameter 'eps' must be a number > 0, got {eps!r}")
    if scale == "none" and eps != 1e-4:
        raise LossParameterError(
            f"group_advantages: parameter 'eps' ({eps}) divides by the standard deviation, which "
            f"scale='none' does not do; drop it or choose scale='group' or 'batch'"
        )
    if not isinstance(rewards, torch.Tensor):
        raise LossInputError(
            f"group_advantages: 'rewards' must be a torch.Tensor, got {type(rewards).__name__}"
        )
    if rewards.ndim != 1:
        raise LossInputError(
            f"group_advantages: 'rewards' must have shape [N] (one reward per completion), "
            f"got {tuple(rewards.shape)}"
        )
    if rewards.shape[0] % group_size != 0:
        raise LossInputError(
            f"group_advantages: 'rewards' has {rewards.shape[0]} completions, not a multiple of "
            f"group_size={group_size}; each prompt needs exactly group_size completions, in order"
        )
    if rewards.is_complex() or rewards.dtype == torch.bool:
        raise LossInputError(f"group_advantages: 'rewards' must be real numbers, got {rewards.dtype}")
    values = rewards if rewards.dtype in (torch.float32, torch.float64) else rewards.float()
    grouped = values.view(-1, group_size)
    centred = (grouped - torch.nanmean(grouped, dim=-1, keepdim=True)).reshape(-1)
    if scale != "none":
        std = _nanstd(grouped, dim=-1).repeat_interleave(group_size) if scale == "group" else _nanstd(values)
        centred = centred / (std + eps)
    return torch.nan_to_num(centred, nan=0.0)


def _nanstd(values: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased standard deviation ignoring NaN; 0 where fewer than two values count."""
    keep = dim is not None
    mean = torch.nanmean(values, dim=dim, keepdim=True)
    count = (~torch.isnan(values)).sum(dim=dim, keepdim=keep)
    squares = torch.nansum((values - mean) ** 2, dim=dim, keepdim=keep)
    variance = squares / (count - 1).clamp_min(1)
    return torch.where(count > 1, variance.sqrt(), torch.zeros_like(variance))
