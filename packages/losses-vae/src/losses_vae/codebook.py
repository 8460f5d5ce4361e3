"""Vector-quantisation helpers: codebook statistics and the functional EMA update."""

from __future__ import annotations

import torch

__all__ = ["code_counts", "ema_codebook_update", "perplexity"]


def code_counts(indices: torch.Tensor, num_embeddings: int, *, dtype: torch.dtype) -> torch.Tensor:
    """How often each of the ``num_embeddings`` codes occurs in ``indices`` (any
    shape), as a ``[K]`` tensor of ``dtype`` (a ``scatter_add``: no host sync)."""
    flat = indices.reshape(-1).long()
    counts = torch.zeros(num_embeddings, dtype=dtype, device=indices.device)
    return counts.scatter_add(0, flat, torch.ones_like(flat, dtype=dtype))


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    r"""Codebook perplexity :math:`\exp(-\sum_k p_k \log p_k)`, :math:`p_k` = ``counts``
    normalised; unused codes contribute 0. Between 1 (one code) and K (uniform)."""
    total = counts.sum().clamp_min(1)
    p = counts / total
    entropy = -torch.where(
        p > 0, p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), torch.zeros_like(p)
    ).sum()
    return torch.exp(entropy)


def ema_codebook_update(
    z_e: torch.Tensor,
    indices: torch.Tensor,
    cluster_size: torch.Tensor,
    embed_sum: torch.Tensor,
    *,
    decay: float = 0.99,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One exponential-moving-average codebook step (van den Oord et al. 2017,
    App. A.1; Sonnet's ``VectorQuantizerEMA``), as a pure function.

    With one-hot assignments :math:`E` (``[n, K]``) of the encoder outputs
    ``z_e`` (``[..., D]``, flattened to ``[n, D]``) given by ``indices``:

    .. math::
        N_k \leftarrow \gamma N_k + (1-\gamma)\textstyle\sum_i E_{ik},\quad
        m_k \leftarrow \gamma m_k + (1-\gamma)\textstyle\sum_i E_{ik} z_i,\quad
        e_k = m_k / \tilde N_k,\quad
        \tilde N_k = \frac{N_k + \epsilon}{\sum_l N_l + K\epsilon}\sum_l N_l

    (Laplace smoothing of the counts). Returns the new ``(cluster_size [K],
    embed_sum [K, D], codebook [K, D])``; nothing is modified in place and no
    gradient flows (inputs are detached). ``decay`` 0.99 and ``eps`` 1e-5 are
    the paper's/Sonnet's defaults.
    """
    num_embeddings, dim = embed_sum.shape
    flat = z_e.detach().reshape(-1, dim).to(embed_sum.dtype)
    onehot = torch.nn.functional.one_hot(indices.reshape(-1).long(), num_embeddings).to(embed_sum.dtype)
    new_size = decay * cluster_size.detach() + (1 - decay) * onehot.sum(0)
    new_sum = decay * embed_sum.detach() + (1 - decay) * (onehot.transpose(0, 1) @ flat)
    total = new_size.sum()
    smoothed = (new_size + eps) / (total + num_embeddings * eps) * total
    return new_size, new_sum, new_sum / smoothed.unsqueeze(1)
