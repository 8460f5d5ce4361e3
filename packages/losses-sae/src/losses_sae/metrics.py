"""Evaluation metrics of sparse autoencoders.

Every function accepts ``[..., d]`` (or ``[..., n_latents]``) tensors whose
leading dimensions are flattened to tokens, runs under ``torch.no_grad()``,
returns a detached 0-dim tensor (float32 for half-precision inputs, else the
input's dtype) and never synchronises with the host. Ratios whose
denominator is 0 are 0, never NaN.

- :func:`l0`: :math:`\\frac1T \\sum_t \\lVert f_t\\rVert_0`, the mean number of
  non-zero latents per token.
- :func:`fvu`: fraction of variance unexplained, the ratio of batch sums
  :math:`\\sum_t \\lVert x_t - \\hat x_t\\rVert^2 / \\sum_t \\lVert x_t - \\bar
  x\\rVert^2` with :math:`\\bar x` the per-feature batch mean (not the mean of
  per-token ratios, not the variance about zero). 0 when the batch has zero
  total variance (see :func:`fvu`).
- :func:`explained_variance`: :math:`1 - \\mathrm{FVU}` (so 1 on a batch
  with zero total variance).
- :func:`cosine_similarity`: :math:`\\frac1T\\sum_t \\cos(x_t, \\hat x_t)`.
- :func:`l2_ratio`: :math:`\\frac1T\\sum_t \\lVert\\hat x_t\\rVert /
  \\lVert x_t\\rVert`.
- :func:`relative_reconstruction_bias`: :math:`\\mathbb E\\lVert\\hat
  x\\rVert^2 / \\mathbb E[x\\cdot\\hat x]` (Rajamanoharan et al. 2024a, eq. 10;
  1 means no shrinkage, < 1 shrinkage).
- :func:`min_positive_activation`: the smallest positive latent in the batch
  (BatchTopK's inference-threshold statistic); 0 if none is positive.
"""

from __future__ import annotations

import torch

from losses_core.reduction import safe_divide

__all__ = [
    "cosine_similarity",
    "explained_variance",
    "fvu",
    "l0",
    "l2_ratio",
    "min_positive_activation",
    "reconstruction_metrics",
    "relative_reconstruction_bias",
]


def _metric_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32) if t.is_floating_point() else torch.float32


def _tokens(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1, t.shape[-1])


def _pair(x: torch.Tensor, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.promote_types(_metric_dtype(x), _metric_dtype(x_hat))
    return _tokens(x).to(dtype), _tokens(x_hat).to(dtype)


@torch.no_grad()
def l0(latents: torch.Tensor) -> torch.Tensor:
    """Mean number of non-zero latents per token, :math:`\\frac1T\\sum_t\\lVert f_t\\rVert_0`."""
    flat = _tokens(latents)
    return torch.count_nonzero(flat).to(_metric_dtype(latents)) / flat.shape[0]


@torch.no_grad()
def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance unexplained: ratio of batch sums around the batch mean.

    Zero total variance: when every token of the batch is the same vector (a
    batch of one token, or a constant batch), the denominator is 0 and the
    fraction is undefined (:math:`0/0`, or :math:`e/0` for a wrong
    reconstruction). The result is then 0, never NaN or infinity, the value
    the ``"fvu"`` reconstruction convention of the losses also uses (so a
    loss never turns NaN on such a batch); read it as "no variance to
    explain", not as a perfect reconstruction, and compare the squared error
    itself on such batches.
    """
    x2, xh2 = _pair(x, x_hat)
    return safe_divide((xh2 - x2).square().sum(), (x2 - x2.mean(dim=0)).square().sum())


@torch.no_grad()
def explained_variance(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """:math:`1 - \\mathrm{FVU}` (see :func:`fvu`; 1 on a batch with zero total variance)."""
    return 1 - fvu(x, x_hat)


@torch.no_grad()
def cosine_similarity(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of :math:`\\cos(x_t, \\hat x_t)` (0 for a zero vector)."""
    x2, xh2 = _pair(x, x_hat)
    norms = torch.linalg.vector_norm(x2, dim=-1) * torch.linalg.vector_norm(xh2, dim=-1)
    return safe_divide((x2 * xh2).sum(dim=-1), norms).mean()


@torch.no_grad()
def l2_ratio(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of :math:`\\lVert\\hat x_t\\rVert/\\lVert x_t\\rVert` (0 where :math:`x_t=0`)."""
    x2, xh2 = _pair(x, x_hat)
    return safe_divide(torch.linalg.vector_norm(xh2, dim=-1), torch.linalg.vector_norm(x2, dim=-1)).mean()


@torch.no_grad()
def relative_reconstruction_bias(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbb E\\lVert\\hat x\\rVert^2 / \\mathbb E[x\\cdot\\hat x]` over the batch."""
    x2, xh2 = _pair(x, x_hat)
    return safe_divide(xh2.square().sum(), (x2 * xh2).sum())


@torch.no_grad()
def min_positive_activation(latents: torch.Tensor) -> torch.Tensor:
    """The smallest positive latent activation in the batch (0 if none is positive)."""
    flat = latents.detach()
    inf = torch.tensor(float("inf"), dtype=flat.dtype, device=flat.device)
    smallest = torch.where(flat > 0, flat, inf).amin()
    return torch.where(torch.isfinite(smallest), smallest, 0).to(_metric_dtype(latents))


@torch.no_grad()
def reconstruction_metrics(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    latents: torch.Tensor | None = None,
    *,
    squared_error: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """All the metrics above (but :func:`min_positive_activation`) in one pass,
    sharing intermediates: ``l0`` (when ``latents`` is given), ``fvu``,
    ``explained_variance``, ``cosine_similarity``, ``l2_ratio``,
    ``relative_reconstruction_bias``.

    :param squared_error: the per-token :math:`\\lVert\\hat x_t - x_t\\rVert^2`
        (``[tokens]``), if the caller has already computed it.
    """
    x2, xh2 = _pair(x, x_hat)
    x_norm = torch.linalg.vector_norm(x2, dim=-1)
    xh_norm = torch.linalg.vector_norm(xh2, dim=-1)
    dot = (x2 * xh2).sum(dim=-1)
    known = squared_error
    error = (xh2 - x2).square().sum() if known is None else known.detach().to(x2.dtype).sum()
    unexplained = safe_divide(error, (x2 - x2.mean(dim=0)).square().sum())
    out: dict[str, torch.Tensor] = {}
    if latents is not None:
        out["l0"] = l0(latents).to(x2.dtype)
    out["fvu"] = unexplained
    out["explained_variance"] = 1 - unexplained
    out["cosine_similarity"] = safe_divide(dot, x_norm * xh_norm).mean()
    out["l2_ratio"] = safe_divide(xh_norm, x_norm).mean()
    out["relative_reconstruction_bias"] = safe_divide(xh_norm.square().sum(), dot.sum())
    return out
