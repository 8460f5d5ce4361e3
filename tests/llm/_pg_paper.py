"""The policy-gradient objectives written as loops, straight from the papers.

Each function walks the completions ``i`` and their tokens ``t`` one scalar
at a time (``m[i][t]`` the completion mask, ``lp`` the policy's log-probs,
``old``/``ref`` the old and reference log-probs, ``A[i]`` the advantage) and
returns the loss (the negated objective) as a differentiable 0-dim tensor.

- GRPO, Shao et al. 2024 (DeepSeekMath, arXiv:2402.03300), eq. 3:
  ``-1/G sum_i 1/|o_i| sum_t [min(r A, clip(r, 1-eps, 1+eps) A) - beta KL]``
  with the KL estimator of eq. 4, ``pi_ref/pi - log(pi_ref/pi) - 1``.
- DAPO, Yu et al. 2025 (arXiv:2503.14476), eq. 8: the token sum over all
  completions divided by the number of tokens, ``sum_i |o_i|`` (here any
  given count ``N``), with decoupled ``eps_low``/``eps_high``.
- Dr. GRPO, Liu et al. 2025 (arXiv:2503.20783): GRPO without ``1/|o_i|``,
  divided by a constant ``G * L_max`` (the paper's implementation).
- BNPO (TRL): the token sum divided by the batch's token count.
- CISPO, MiniMax 2025 (MiniMax-M1, arXiv:2506.13585), eq. 4:
  ``-1/sum|o_i| sum_i sum_t sg(r_hat) A log pi`` with ``r_hat`` the ratio
  clipped from above (``eps_max``, the bound itself as TRL and Liger write it).
- GSPO, Zheng et al. 2025 (arXiv:2507.18071), eqs. 5-7: the sequence ratio
  ``s_i = (pi(y_i) / pi_old(y_i)) ** (1 / |y_i|)`` (the product of the
  token ratios), ``-1/G sum_i min(s_i A_i, clip(s_i) A_i)``.
- Two-sided clipping, INTELLECT-2 (arXiv:2505.07291), eq. 3: the unclipped
  term uses ``min(r, delta)``.
- DeepSeek-V3.2 (arXiv:2512.02556) KL: the per-token KL estimate weighted by
  the ratio ``pi / pi_old``.
- PPO, Schulman et al. 2017 (arXiv:1707.06347), eq. 7: the token mean of
  ``-min(r A, clip(r, 1-eps, 1+eps) A)``.
"""

from __future__ import annotations

import math

import torch


def _clip(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return torch.clamp(x, low, high)


def _token_objective(
    r: torch.Tensor,
    a: float,
    eps_low: float,
    eps_high: float,
    delta: float | None,
) -> torch.Tensor:
    first = (r if delta is None else torch.clamp(r, max=delta)) * a
    return torch.minimum(first, _clip(r, 1 - eps_low, 1 + eps_high) * a)


def paper_grpo_family(
    lp: torch.Tensor,
    m: list[list[int]],
    A: list[float],
    *,
    loss_type: str,
    old: torch.Tensor | None = None,
    ref: torch.Tensor | None = None,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    delta: float | None = None,
    beta: float = 0.0,
    kl_ratio_weight: bool = False,
    num_items: float | None = None,
    max_length: int | None = None,
    eps_max: float | None = None,
) -> torch.Tensor:
    """GRPO, DAPO, Dr. GRPO, BNPO and CISPO with token ratios."""
    G, T = len(m), len(m[0])
    lengths = [sum(row) for row in m]
    total_tokens = sum(lengths)
    objective = lp.new_zeros(())
    for i in range(G):
        per_sequence = lp.new_zeros(())
        for t in range(T):
            if not m[i][t]:
                continue
            old_lp = lp[i, t].detach() if old is None else old[i, t]
            r = torch.exp(lp[i, t] - old_lp)
            if loss_type == "cispo":
                r_hat = torch.clamp(r, max=eps_max).detach()
                term = r_hat * A[i] * lp[i, t]
            else:
                term = _token_objective(r, A[i], eps_low, eps_high, delta)
            if beta:
                ratio_ref = torch.exp(ref[i, t] - lp[i, t])
                kl = ratio_ref - torch.log(ratio_ref) - 1
                if kl_ratio_weight:
                    kl = kl * r
                term = term - beta * kl
            per_sequence = per_sequence + term
        if loss_type == "grpo":
            objective = objective + (per_sequence / lengths[i] if lengths[i] else per_sequence * 0) / G
        else:
            objective = objective + per_sequence
    if loss_type in ("dapo", "cispo"):
        objective = objective / (total_tokens if num_items is None else num_items)
    elif loss_type == "bnpo":
        objective = objective / total_tokens
    elif loss_type == "dr_grpo":
        objective = objective / (G * (T if max_length is None else max_length))
    return -objective


def paper_gspo(
    lp: torch.Tensor,
    m: list[list[int]],
    A: list[float],
    old: torch.Tensor,
    *,
    eps_low: float,
    eps_high: float,
) -> torch.Tensor:
    """GSPO's objective (eqs. 5-7): one clipped sequence ratio per response."""
    G, T = len(m), len(m[0])
    objective = lp.new_zeros(())
    for i in range(G):
        tokens = [t for t in range(T) if m[i][t]]
        ratio = lp.new_ones(())
        for t in tokens:
            ratio = ratio * torch.exp(lp[i, t] - old[i, t])  # pi(y_i | x) / pi_old(y_i | x)
        s = ratio ** (1.0 / len(tokens))
        objective = objective + torch.minimum(s * A[i], _clip(s, 1 - eps_low, 1 + eps_high) * A[i]) / G
    return -objective


def paper_ppo(
    lp: torch.Tensor,
    old: torch.Tensor,
    A: list[list[float]],
    m: list[list[int]],
    *,
    eps: float,
) -> torch.Tensor:
    """PPO's L^CLIP (eq. 7) as the mean over the masked tokens."""
    total = lp.new_zeros(())
    count = 0
    for i in range(len(m)):
        for t in range(len(m[0])):
            if not m[i][t]:
                continue
            r = torch.exp(lp[i, t] - old[i, t])
            total = total + torch.minimum(r * A[i][t], _clip(r, 1 - eps, 1 + eps) * A[i][t])
            count += 1
    return -total / count


def paper_value_loss(
    v: torch.Tensor,
    v_old: torch.Tensor,
    R: torch.Tensor,
    m: list[list[int]],
    *,
    clip: float | None,
) -> torch.Tensor:
    """The clipped value loss of OpenAI's PPO code, ``0.5 max((v-R)^2, (clip(v) - R)^2)``, token mean."""
    total = v.new_zeros(())
    count = 0
    for i in range(len(m)):
        for t in range(len(m[0])):
            if not m[i][t]:
                continue
            loss = (v[i, t] - R[i, t]) ** 2
            if clip is not None:
                clipped = v_old[i, t] + torch.clamp(v[i, t] - v_old[i, t], -clip, clip)
                loss = torch.maximum(loss, (clipped - R[i, t]) ** 2)
            total = total + 0.5 * loss
            count += 1
    return total / count


def paper_group_advantages(
    rewards: list[float], group_size: int, scale: str, eps: float = 1e-4
) -> list[float]:
    """GRPO's outcome advantages (DeepSeekMath sec. 4.1.2), ``(r - mean(group)) / std(group)``
    with the unbiased standard deviation, Dr. GRPO's ``r - mean(group)``, or the batch std."""
    out = []
    for start in range(0, len(rewards), group_size):
        group = rewards[start : start + group_size]
        mean = sum(group) / len(group)
        for r in group:
            if scale == "none":
                out.append(r - mean)
                continue
            values = group if scale == "group" else rewards
            centre = sum(values) / len(values)
            n = len(values)
            std = math.sqrt(sum((x - centre) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
            out.append((r - mean) / (std + eps))
    return out
