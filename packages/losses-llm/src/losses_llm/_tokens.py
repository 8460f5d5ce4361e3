r"""Token-level helpers shared by the losses: label shifting and the
log-probability of each label token.

Hugging Face causal-LM models return logits aligned with their inputs, and
their ``labels`` equal the input ids: position ``t`` predicts token ``t + 1``.
:func:`shift_labels` moves the labels one step left (the last position
predicts nothing and gets ``ignore_index``), so the logits or hidden states
are never sliced or copied.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["label_log_probs", "shift_labels"]


def shift_labels(labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """``labels[:, 1:]`` padded at the end with ``ignore_index``: the target of
    each position of ``[B, T]`` labels that equal the input ids."""
    return F.pad(labels[:, 1:], (0, 1), value=ignore_index)


def label_log_probs(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""``log softmax(z)[y]`` per token, float32 (or float64), 0 where ``mask`` is false.

    Computed as :math:`z_y - \mathrm{logsumexp}(z)` without a ``[..., V]``
    log-softmax tensor; labels outside the mask (e.g. ``-100``) are never
    indexed.
    """
    z = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    safe = torch.where(mask, labels, torch.zeros_like(labels)).long()
    picked = z.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, picked - torch.logsumexp(z, dim=-1), torch.zeros_like(picked))
