"""Temperature-scaled pair terms shared by ``contrastive`` (with a
temperature), ``ntxent`` and ``supcon``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logsumexp of x over the 0/1 float mask, number of selected entries)``
    along ``dim``. Masked-out entries are pushed to about ``-finfo.max / 4``
    (finite: no ``-inf`` arithmetic in the backward), so a row with an empty
    selection gets a very negative finite value; callers zero those rows."""
    big = torch.finfo(x.dtype).max / 4
    return torch.logsumexp(x * mask + (mask - 1.0) * big, dim=dim), mask.sum(dim=dim)


def pair_infonce(
    logits: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    r"""Per positive pair :math:`(i, p)` (``[N, M]``, 0 off the pairs; masks
    are 0/1 floats):

    .. math:: -\log \frac{e^{x_{ip} - m}}{e^{x_{ip} - m} + \sum_{n \in N(i)} e^{x_{in}}}
              = \mathrm{softplus}\Bigl(\log\sum_{n \in N(i)} e^{x_{in}} - (x_{ip} - m)\Bigr)

    ``logits`` are already divided by the temperature (``margin`` too). Other
    positives of the anchor are not in the denominator (pytorch-metric-learning's
    ``NTXentLoss``). An anchor without a negative has loss 0 (its
    log-sum-exp is about ``-finfo.max / 4``, whose softplus is exactly 0).
    """
    neg_lse, _ = masked_logsumexp(logits, negative)
    return F.softplus(neg_lse.unsqueeze(-1) - (logits - margin)) * positive
