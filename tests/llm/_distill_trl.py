"""TRL's generalised JSD loss, transcribed as the reference of the ``distillation`` tests.

TRL's loss lives inside a trainer (importing it pulls in accelerate, datasets
and the rest), so its formula is transcribed here from TRL 1.13.0,
``trl/experimental/gkd/gkd_trainer.py``, ``GKDTrainer.generalized_jsd_loss``
(a static method), line for line: temperature on both logits, ``beta == 0`` the
forward KL and ``beta == 1`` the reverse KL through ``F.kl_div(...,
log_target=True)``, otherwise the mixture formed with ``logsumexp`` over
``log1p(-beta)`` and ``log(beta)``; the labels' ``-100`` tokens masked out;
``num_items_in_batch`` divides the sum, else ``"batchmean"`` divides it by
the number of unmasked tokens, clamped to at least 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def generalized_jsd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    reduction: str = "batchmean",
    num_items_in_batch: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """``GKDTrainer.generalized_jsd_loss`` of TRL 1.13.0 (see the module docs)."""
    student_logits = student_logits / temperature
    teacher_logits = teacher_logits / temperature

    student_log_probs = F.log_softmax(student_logits, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits, dim=-1)

    if beta == 0:
        jsd = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True)
    elif beta == 1:
        jsd = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True)
    else:
        beta_t = torch.tensor(beta, dtype=student_log_probs.dtype, device=student_log_probs.device)
        mixture_log_probs = torch.logsumexp(
            torch.stack([student_log_probs + torch.log1p(-beta_t), teacher_log_probs + torch.log(beta_t)]),
            dim=0,
        )
        kl_teacher = F.kl_div(mixture_log_probs, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture_log_probs, student_log_probs, reduction="none", log_target=True)
        jsd = beta_t * kl_teacher + (1 - beta_t) * kl_student

    if labels is not None:
        mask = labels != -100
        jsd = jsd[mask]

    if num_items_in_batch is not None:
        jsd_sum = jsd.sum()
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(jsd_sum.device)
        return jsd_sum / num_items_in_batch
    if reduction == "batchmean":
        denom = mask.sum().clamp_min(1) if labels is not None else max(jsd.size(0), 1)
        return jsd.sum() / denom
    if reduction == "sum":
        return jsd.sum()
    if reduction == "mean":
        return jsd.mean()
    return jsd
