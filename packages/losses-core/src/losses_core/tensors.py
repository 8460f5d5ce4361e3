"""Tensor helpers for loss authors: the working precision, bool masks as
floats, and the pairwise geometry of embedding losses.

Every first-party loss family needs these; they live here once so that each
package uses the same, tested code (plugins import only public losses_core
modules).
"""

from __future__ import annotations

import torch

__all__ = ["MIN_SQUARED_DISTANCE", "as_float", "at_least_float32", "euclidean_distances", "label_masks"]

LOW_PRECISION = (torch.float16, torch.bfloat16)

MIN_SQUARED_DISTANCE = 1e-12
"""The floor of squared distances in :func:`euclidean_distances`."""


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` upcast to float32 when it is float16 or bfloat16, else ``x`` itself.

    Log-sum-exps, sorting, cumulative sums and distances lose too much in half
    precision. The gradient flows back to ``x`` in its own dtype.
    """
    return x.float() if x.dtype in LOW_PRECISION else x


def as_float(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A mask as values of ``dtype``: a bool mask as 0/1, any other mask cast.

    A bool mask goes through a ``uint8`` view, several times faster on CPU
    than converting the bool tensor directly.
    """
    if mask.dtype == torch.bool:
        return mask.view(torch.uint8).to(dtype)
    return mask.to(dtype)


def euclidean_distances(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    r"""``[N, M]`` Euclidean distances between the rows of ``x`` and of ``y``
    (``y = x`` by default), from the Gram matrix:
    :math:`d_{ij} = \sqrt{\max(\|x_i\|^2 + \|y_j\|^2 - 2 x_i \cdot y_j,\ 10^{-12})}`.

    The floor makes the distance of coinciding rows (the diagonal included)
    ``1e-6`` with a zero gradient: never NaN or inf, and below the rounding
    noise of the Gram form in float32 (about ``3e-4`` near 0).
    """
    other = x if y is None else y
    sq_x = x.square().sum(dim=-1)
    sq_y = sq_x if y is None else other.square().sum(dim=-1)
    d2 = torch.addmm(sq_x.unsqueeze(-1) + sq_y.unsqueeze(-2), x, other.transpose(-1, -2), alpha=-2.0)
    return d2.clamp_min(MIN_SQUARED_DISTANCE).sqrt()


def label_masks(
    labels: torch.Tensor,
    ref_labels: torch.Tensor | None = None,
    offset: int = 0,
    *,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` 0/1 masks ``[N, M]`` between query rows and
    reference rows: positive = same label and not the same sample, negative =
    different label.

    :param labels: ``[N]`` labels of the query rows.
    :param ref_labels: ``[M]`` labels of the reference rows (``labels`` by
        default).
    :param offset: query row ``i`` is reference row ``offset + i`` (the rank's
        slice of an all-gathered batch); 0 when the two are the same rows.
    :param dtype: the masks' dtype.
    """
    ref = labels if ref_labels is None else ref_labels
    same = as_float(labels.unsqueeze(-1) == ref.unsqueeze(-2), dtype)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(-1) + offset
    cols = torch.arange(ref.shape[0], device=labels.device).unsqueeze(-2)
    return same - as_float(rows == cols, dtype), 1.0 - same
