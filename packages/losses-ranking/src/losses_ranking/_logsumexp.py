"""The masked log-sum-exp of the pair-based metric-learning losses."""

from __future__ import annotations

import torch

__all__ = ["masked_logsumexp"]


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logsumexp of x over the 0/1 float mask, number of selected entries)``
    along ``dim``. Masked-out entries are pushed to about ``-finfo.max / 4``
    (finite: no ``-inf`` arithmetic in the backward), so a row with an empty
    selection gets a very negative finite value; callers zero those rows."""
    big = torch.finfo(x.dtype).max / 4
    return torch.logsumexp(x * mask + (mask - 1.0) * big, dim=dim), mask.sum(dim=dim)
