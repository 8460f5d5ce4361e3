"""Temperature-scaled pair terms shared by ``contrastive`` (with a
temperature), ``ntxent`` and ``supcon``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logsumexp of x over mask, whether the mask selects anything)`` along
    ``dim``. Rows with an empty selection get 0 (not -inf) so that neither the
    value nor the gradient can be NaN; callers mask them out."""
    any_selected = mask.any(dim=dim)
    filled = torch.where(mask, x, torch.full_like(x, torch.finfo(x.dtype).min))
    filled = torch.where(any_selected.unsqueeze(dim), filled, torch.zeros_like(filled))
    return torch.logsumexp(filled, dim=dim), any_selected


def pair_infonce(
    logits: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    r"""Per positive pair :math:`(i, p)` (``[N, M]``, 0 off the pairs):

    .. math:: -\log \frac{e^{x_{ip} - m}}{e^{x_{ip} - m} + \sum_{n \in N(i)} e^{x_{in}}}
              = \mathrm{softplus}\Bigl(\log\sum_{n \in N(i)} e^{x_{in}} - (x_{ip} - m)\Bigr)

    ``logits`` are already divided by the temperature (``margin`` too). Other
    positives of the anchor are not in the denominator (pytorch-metric-learning's
    ``NTXentLoss``). An anchor without a negative has loss 0.
    """
    neg_lse, has_negative = masked_logsumexp(logits, negative)
    per_pair = F.softplus(neg_lse.unsqueeze(-1) - (logits - margin))
    keep = positive & has_negative.unsqueeze(-1)
    return torch.where(keep, per_pair, torch.zeros_like(per_pair))
