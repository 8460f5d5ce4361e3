"""NT-Xent (SimCLR) and InfoNCE on paired views, optionally over all processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError, LossParameterError, MissingInputError
from losses_core.inputs import optional_tensor
from losses_ranking._common import (
    check_choice,
    check_positive,
    check_reduction,
    compute_dtype,
    detached,
)
from losses_ranking._distributed import all_gather_with_grad, local_rows, world
from losses_ranking._embeddings import maybe_normalize, read_pair

__all__ = ["ntxent"]

NEGATIVES = ("all", "cross", "explicit")


def ntxent(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    temperature: float = 0.07,
    negatives: str = "all",
    symmetric: bool = True,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: str = "mean",
    embeddings_a_key: str = "embeddings_a",
    embeddings_b_key: str = "embeddings_b",
    negatives_key: str | None = "negative_embeddings",
) -> dict[str, Any] | torch.Tensor:
    r"""NT-Xent / InfoNCE over paired views, registered as ``ntxent`` (alias ``infonce``).

    ``model_output[embeddings_a_key]`` and ``model_output[embeddings_b_key]``
    are ``[N, D]`` views with row :math:`i` of one the positive of row
    :math:`i` of the other; ``targets`` is not used. With cosine similarities
    :math:`s` (dot products if ``normalize=False``) and temperature
    :math:`\tau` (default 0.07, as pytorch-metric-learning), each anchor
    :math:`u` with positive :math:`u^+` and negatives :math:`\mathcal N(u)`:

    .. math:: \ell_u = -\log \frac{e^{s(u, u^+)/\tau}}{e^{s(u, u^+)/\tau}
              + \sum_{v \in \mathcal N(u)} e^{s(u, v)/\tau}}

    ``negatives`` chooses :math:`\mathcal N(u)`:

    - ``"all"`` (default, SimCLR's NT-Xent, Chen et al. 2020): the :math:`2N`
      embeddings of both views are anchors and each one's negatives are the
      other :math:`2N - 2`; equals PML's ``SelfSupervisedLoss(NTXentLoss(τ))``.
      ``symmetric=False`` keeps only the anchors of view a.
    - ``"cross"`` (InfoNCE, van den Oord et al. 2018, in-batch negatives): the
      anchors of view a against the :math:`N` embeddings of view b,
      :math:`\ell = \mathrm{CE}(a b^\top/\tau, \mathrm{arange}(N))`;
      ``symmetric=True`` (default) averages it with the b→a direction;
      ``symmetric=False`` is info-nce-pytorch's ``InfoNCE(τ)`` without
      negative keys.
    - ``"explicit"``: only the given negatives ``model_output[negatives_key]``,
      ``[M, D]`` shared by every anchor or ``[N, M, D]`` per anchor
      (info-nce-pytorch's ``negative_mode="unpaired"`` / ``"paired"`` with
      ``symmetric=False``; ``symmetric=True`` adds view b's anchors against
      the same negatives).

    With ``"all"`` or ``"cross"``, shared ``[M, D]`` negatives in
    ``model_output[negatives_key]``, when present, join every anchor's
    negatives (they are absent by default).

    - ``reduction="mean"`` (default): mean over anchors; ``"sum"``;
      ``"none"``: :math:`\ell_u` per (local) anchor, view a's anchors first.

    ``distributed=True`` (a no-op unless ``torch.distributed`` is initialised;
    the same ``N`` and ``M`` on every process), for ``"all"`` and ``"cross"``:
    both views (and shared extra negatives) are gathered with gradient, so the
    negatives come from the whole global batch. ``local_loss=False``: every
    process computes the global loss; ``local_loss=True``: only its own
    anchors (the mean over processes is the global loss). The gradient that
    reaches the local embeddings is ``world_size`` times the global loss's,
    which DistributedDataParallel's averaging turns back into exactly the
    global gradient. ``"explicit"`` has no in-batch negatives, so it rejects
    ``distributed=True``.

    Metrics: ``accuracy`` (fraction of anchors whose positive has the largest
    logit), ``mean_pos_similarity``.
    """
    name = "ntxent"
    check_reduction(name, reduction)
    check_positive(name, "temperature", temperature)
    check_choice(name, "negatives", negatives, NEGATIVES)
    a, b = read_pair(model_output, loss=name, keys=(embeddings_a_key, embeddings_b_key))
    extra = optional_tensor(
        model_output, negatives_key, loss=name, source="model_output", ndim=(2, 3), floating=True
    )
    if negatives == "explicit":
        if distributed:
            raise LossParameterError(
                f"loss {name!r}: negatives='explicit' uses no in-batch negatives, so distributed=True "
                f"would have no effect; use negatives='all' or 'cross' to gather negatives"
            )
        if extra is None:
            raise MissingInputError(
                f"{name}: negatives='explicit' needs model_output[{negatives_key!r}] ([M, D] or [N, M, D])"
            )
    _check_negatives(name, negatives_key, extra, a, explicit=negatives == "explicit")
    a, b = maybe_normalize(a, normalize), maybe_normalize(b, normalize)
    extra_keys = None if extra is None else maybe_normalize(compute_dtype(extra), normalize)
    if negatives == "explicit":
        assert extra_keys is not None
        per_anchor, logits, target = _explicit(a, b, extra_keys, temperature, symmetric)
    else:
        per_anchor, logits, target = _in_batch(
            a, b, extra_keys, temperature, negatives, symmetric, world(distributed), local_loss
        )
    if reduction == "none":
        return per_anchor
    value = per_anchor.mean() if reduction == "mean" else per_anchor.sum()
    with torch.no_grad():
        pos_logit = torch.gather(logits, -1, target.unsqueeze(-1)).squeeze(-1)
        accuracy = (pos_logit >= logits.amax(dim=-1)).to(logits.dtype).mean()
    return {
        "loss": value,
        "metrics": {
            "accuracy": detached(accuracy),
            "mean_pos_similarity": detached(pos_logit.mean() * temperature),
        },
        "auxiliary": {},
    }


def _check_negatives(
    name: str, key: str | None, extra: torch.Tensor | None, a: torch.Tensor, *, explicit: bool
) -> None:
    if extra is None:
        return
    if extra.shape[-1] != a.shape[-1]:
        raise LossInputError(
            f"{name}: model_output[{key!r}] has shape {tuple(extra.shape)}; its rows must have the "
            f"embeddings' width {a.shape[-1]}"
        )
    if extra.ndim == 3 and (not explicit or extra.shape[0] != a.shape[0]):
        raise LossInputError(
            f"{name}: per-anchor negatives model_output[{key!r}] of shape {tuple(extra.shape)} need "
            f"negatives='explicit' and one row of negatives per anchor ({a.shape[0]})"
        )


def _explicit(
    a: torch.Tensor, b: torch.Tensor, negs: torch.Tensor, temperature: float, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each anchor against its positive and the given negatives only."""

    def logits_for(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        query = query / temperature
        pos = (query * key).sum(dim=-1, keepdim=True)
        shared = negs.ndim == 2
        neg = query @ negs.transpose(0, 1) if shared else torch.einsum("nd,nmd->nm", query, negs)
        return torch.cat([pos, neg], dim=-1)

    logits = logits_for(a, b)
    if symmetric:
        logits = torch.cat([logits, logits_for(b, a)])
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target, reduction="none"), logits, target


def _in_batch(
    a: torch.Tensor,
    b: torch.Tensor,
    extra: torch.Tensor | None,
    temperature: float,
    negatives: str,
    symmetric: bool,
    rank_size: tuple[int, int],
    local_loss: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rank, size = rank_size
    n_local = a.shape[0]
    all_a, all_b = all_gather_with_grad(a, size), all_gather_with_grad(b, size)
    all_extra = None if extra is None else all_gather_with_grad(extra, size)
    n_global = all_a.shape[0]
    if local_loss and size > 1:
        offset, count = rank * n_local, n_local
    else:
        offset, count = 0, n_global
    query_a, query_b = local_rows(all_a, offset, count), local_rows(all_b, offset, count)
    rows = torch.arange(count, device=a.device) + offset
    if negatives == "all":
        keys = torch.cat([all_a, all_b], dim=0)
        queries = torch.cat([query_a, query_b], dim=0) if symmetric else query_a
        # the query itself sits at column offset + i (view a) or n_global + offset + i (view b)
        starts = [(0, offset), (count, n_global + offset)] if symmetric else [(0, offset)]
        self_diagonals = tuple((row, column, count) for row, column in starts)
        target = torch.cat([rows + n_global, rows]) if symmetric else rows + n_global
        per_anchor, logits = _anchor_losses(queries, keys, all_extra, target, self_diagonals, temperature)
        return per_anchor, logits, target
    per_anchor, logits = _anchor_losses(query_a, all_b, all_extra, rows, (), temperature)
    if not symmetric:
        return per_anchor, logits, rows
    back, back_logits = _anchor_losses(query_b, all_a, all_extra, rows, (), temperature)
    return torch.cat([per_anchor, back]), torch.cat([logits, back_logits]), torch.cat([rows, rows])


def _anchor_losses(
    queries: torch.Tensor,
    keys: torch.Tensor,
    extra: torch.Tensor | None,
    target: torch.Tensor,
    self_diagonals: tuple[tuple[int, int, int], ...],
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of each query against ``keys`` (plus shared ``extra``
    negatives) with the positive at column ``target``. Each ``(row, column,
    length)`` of ``self_diagonals`` is a diagonal of the logits where
    ``length`` queries meet themselves; those entries are excluded (filled in place with about
    ``-finfo.max / 4``, a finite value). Returns the per-query losses and
    logits."""
    scaled = queries / temperature  # [N, D]: cheaper than dividing the [N, M] logits
    logits = scaled @ keys.transpose(0, 1)
    if self_diagonals:
        logits = logits.clone()  # keep the matmul output intact for autograd views
        for row, column, length in self_diagonals:
            block = logits[row : row + length, column : column + length]
            block.diagonal().fill_(-torch.finfo(logits.dtype).max / 4)
    if extra is not None:
        logits = torch.cat([logits, scaled @ extra.transpose(0, 1)], dim=-1)
    return F.cross_entropy(logits, target, reduction="none"), logits
