"""Distillation losses written straight from the papers' definitions, one
token at a time, as the reference of the ``distillation`` tests.

Probabilities, not log-probabilities, and the JSD mixture formed in
probability space (the loss forms it in log space), so the two computations
share no code:

- forward KL, Hinton et al. 2015: :math:`\\sum_v p_T \\log(p_T / p_S)`;
- reverse KL, Gu et al. 2024 (MiniLLM): :math:`\\sum_v p_S \\log(p_S / p_T)`;
- generalised JSD, Agarwal et al. 2024 (GKD), Eq. 1 with P the teacher and
  Q the student: :math:`\\beta\\,KL(P \\| M) + (1-\\beta)\\,KL(Q \\| M)`,
  :math:`M = \\beta P + (1-\\beta) Q`, with TRL's end points (``beta`` 0 the
  forward KL, 1 the reverse KL);
- TVD, Wen et al. 2023: :math:`\\tfrac12 \\sum_v |p_S - p_T|`.

The loss is the divergence (times ``scale``) plus ``hard_weight`` times the
cross-entropy of the untempered student on the label, summed over target
tokens and divided by their count, by ``num_items``, or by nothing (sum).
"""

from __future__ import annotations

import torch


def token_divergence(
    p_student: torch.Tensor, p_teacher: torch.Tensor, divergence: str, beta: float
) -> torch.Tensor:
    """One token's divergence from its two ``[V]`` probability vectors."""
    if divergence == "forward_kl" or (divergence == "jsd" and beta == 0):
        return (p_teacher * (p_teacher / p_student).log()).sum()
    if divergence == "reverse_kl" or (divergence == "jsd" and beta == 1):
        return (p_student * (p_student / p_teacher).log()).sum()
    if divergence == "jsd":
        m = beta * p_teacher + (1 - beta) * p_student
        kl_teacher = (p_teacher * (p_teacher / m).log()).sum()
        kl_student = (p_student * (p_student / m).log()).sum()
        return beta * kl_teacher + (1 - beta) * kl_student
    if divergence == "tvd":
        return 0.5 * (p_student - p_teacher).abs().sum()
    raise ValueError(divergence)


def paper_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    divergence: str,
    beta: float = 0.5,
    temperature: float = 1.0,
    scale: float = 1.0,
    hard_weight: float = 0.0,
    ignore_index: int = -100,
    shift: bool = True,
    reduction: str = "mean",
    num_items: float | None = None,
) -> torch.Tensor:
    """The loss of ``[B, T, V]`` logits and ``[B, T]`` labels, token by token
    (with ``shift``, position ``t`` is scored when ``labels[b, t + 1]`` is a
    target)."""
    batch, length, _ = student_logits.shape
    total = student_logits.new_zeros(())
    count = 0
    for b in range(batch):
        for t in range(length):
            if shift:
                if t + 1 >= length:
                    continue
                label = int(labels[b, t + 1])
            else:
                label = int(labels[b, t])
            if label == ignore_index:
                continue
            count += 1
            z_s, z_t = student_logits[b, t], teacher_logits[b, t]
            p_s = (z_s / temperature).exp() / (z_s / temperature).exp().sum()
            p_t = (z_t / temperature).exp() / (z_t / temperature).exp().sum()
            total = total + scale * token_divergence(p_s, p_t, divergence, beta)
            if hard_weight:
                total = total - hard_weight * (z_s.exp()[label] / z_s.exp().sum()).log()
    if reduction == "sum":
        return total
    if num_items is not None:
        return total / num_items
    return total / count if count else total * 0
