r"""Per-token divergences between a student's and a teacher's next-token
distributions, from their log-probabilities over the vocabulary.

With :math:`s = \log p_S` and :math:`t = \log p_T` (``[..., V]``), each
function returns one value per token (``[...]``), summed over the vocabulary:

- forward KL, :math:`\mathrm{KL}(p_T \| p_S) = \sum_v p_{T,v} (t_v - s_v)`
  (Hinton et al. 2015);
- reverse KL, :math:`\mathrm{KL}(p_S \| p_T) = \sum_v p_{S,v} (s_v - t_v)`
  (MiniLLM, Gu et al. 2024);
- generalised Jensen-Shannon with weight :math:`\beta` (GKD, Agarwal et al.
  2024, Eq. 1), mixture :math:`m = \beta p_T + (1 - \beta) p_S` formed in
  log space: :math:`\beta\,\mathrm{KL}(p_T \| m) + (1 - \beta)\,\mathrm{KL}(p_S \| m)`;
  :math:`\beta = 0` is the forward KL and :math:`\beta = 1` the reverse KL
  (the mixture formula itself tends to 0 at both ends), the convention of
  TRL 1.13's ``GKDTrainer.generalized_jsd_loss`` and Liger-Kernel 0.8.5's
  ``LigerFusedLinearJSDLoss``;
- total variation distance, :math:`\tfrac12 \sum_v |p_{S,v} - p_{T,v}|`
  (Wen et al. 2023).
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias

import torch

__all__ = ["DIVERGENCES", "Divergence", "token_divergence"]

Divergence: TypeAlias = Literal["forward_kl", "reverse_kl", "jsd", "tvd"]
"""The divergences :func:`token_divergence` computes."""

DIVERGENCES: tuple[Divergence, ...] = ("forward_kl", "reverse_kl", "jsd", "tvd")


def token_divergence(
    student_log_probs: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    divergence: Divergence,
    beta: float = 0.5,
) -> torch.Tensor:
    """The divergence of each token, ``[...]``, from ``[..., V]`` log-probabilities.

    :param student_log_probs: the student's log-softmax over the vocabulary.
    :param teacher_log_probs: the teacher's, same shape.
    :param divergence: ``"forward_kl"``, ``"reverse_kl"``, ``"jsd"`` or ``"tvd"``.
    :param beta: the generalised JSD's weight in ``[0, 1]`` (``"jsd"`` only).
    """
    if divergence == "forward_kl":
        return _kl(teacher_log_probs, student_log_probs)
    if divergence == "reverse_kl":
        return _kl(student_log_probs, teacher_log_probs)
    if divergence == "jsd":
        return _generalized_jsd(student_log_probs, teacher_log_probs, beta)
    if divergence == "tvd":
        return 0.5 * (student_log_probs.exp() - teacher_log_probs.exp()).abs().sum(dim=-1)
    raise ValueError(f"unknown divergence {divergence!r}; expected one of {', '.join(DIVERGENCES)}")


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathrm{KL}(p \\| q) = \\sum_v p_v (\\log p_v - \\log q_v)` per token."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _generalized_jsd(student: torch.Tensor, teacher: torch.Tensor, beta: float) -> torch.Tensor:
    if beta == 0:
        return _kl(teacher, student)
    if beta == 1:
        return _kl(student, teacher)
    log_mixture = torch.logaddexp(student + math.log1p(-beta), teacher + math.log(beta))
    return beta * _kl(teacher, log_mixture) + (1 - beta) * _kl(student, log_mixture)
