"""The reconstruction-error conventions, as per-token terms.

With :math:`e_t = \\sum_j (\\hat x_{tj} - x_{tj})^2` the squared error of token
:math:`t` (of :math:`T`) over the :math:`d` input features:

- ``"sum_mean"`` (SAELens, dictionary_learning, Anthropic): :math:`\\ell_t = e_t`;
  its token mean is :math:`\\frac1T\\sum_t \\lVert\\hat x_t - x_t\\rVert^2`.
- ``"mean"`` (``F.mse_loss``): :math:`\\ell_t = e_t / d`; its token mean is the
  per-element mean squared error.
- ``"normalized"`` (OpenAI ``normalized_mean_squared_error``):
  :math:`\\ell_t = e_t / \\lVert x_t\\rVert^2` (0 for an all-zero :math:`x_t`).
- ``"fvu"`` (EleutherAI sparsify): :math:`\\ell_t = T e_t / \\sum_{s}\\lVert x_s -
  \\bar x\\rVert^2`, so that the token mean is the fraction of variance
  unexplained :math:`\\sum_t e_t / \\sum_t \\lVert x_t - \\bar x\\rVert^2`
  (:math:`\\bar x` the per-feature batch mean).

Zero total variance under ``"fvu"``: when every token of the batch is the
same vector (a batch of one token, or a constant batch), the denominator is 0
and the fraction is undefined (:math:`0/0`, or :math:`e/0` for a wrong
reconstruction). The term is then 0, still connected to the autograd graph,
with a zero gradient: such a batch adds nothing to the loss and trains
nothing, instead of making the loss NaN or infinite (sparsify divides
unguarded). Use ``"sum_mean"`` where single-token batches are expected.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import torch

from losses_core.reduction import safe_divide

__all__ = [
    "ReconstructionConvention",
    "reconstruction_per_token",
    "squared_error",
    "total_variance",
]

ReconstructionConvention: TypeAlias = Literal["sum_mean", "mean", "normalized", "fvu"]
"""The ``reconstruction`` parameter of the SAE losses."""


def total_variance(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_t \\lVert x_t - \\bar x\\rVert^2` of ``x`` ``[tokens, d]``."""
    return (x - x.mean(dim=0)).square().sum()


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-token :math:`\\lVert \\hat x_t - x_t\\rVert^2`, shape ``[tokens]``."""
    return (x_hat - x).square().sum(dim=-1)


def reconstruction_per_token(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    convention: ReconstructionConvention,
    *,
    error: torch.Tensor | None = None,
) -> torch.Tensor:
    """The per-token reconstruction term :math:`\\ell_t` (``[tokens]``) of ``convention``.

    :param error: the per-token squared error, if already computed.
    """
    sq = squared_error(x, x_hat) if error is None else error
    if convention == "sum_mean":
        return sq
    if convention == "mean":
        return sq / x.shape[-1]
    if convention == "normalized":
        return safe_divide(sq, x.square().sum(dim=-1))
    return safe_divide(sq * x.shape[0], total_variance(x))
