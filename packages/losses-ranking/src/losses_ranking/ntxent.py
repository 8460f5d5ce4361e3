"""NT-Xent (SimCLR) and InfoNCE on paired views, optionally over all processes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import (
    Input,
    LossInputError,
    LossParameterError,
    LossReturn,
    MissingInputError,
    Range,
    register_loss,
)
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32
from losses_ranking._distributed import all_gather_with_grad, local_rows, world
from losses_ranking._embeddings import maybe_normalize, paired_views

__all__ = ["ntxent"]

Negatives = Literal["all", "cross", "explicit"]


def ntxent_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: two paired ``[B, 8]`` views."""
    a, b = paired_views(batch_size, dtype)
    return {"embeddings_a": a, "embeddings_b": b}, {}, {"temperature": 0.1}


@register_loss(
    aliases=("infonce",),
    inputs=[
        Input("embeddings_a", "model_output", shape="N D", dtype="float", doc="the first view"),
        Input(
            "embeddings_b",
            "model_output",
            like="embeddings_a",
            dtype="float",
            doc="the second view; its row i is the positive of row i of the first",
        ),
        Input(
            "negative_embeddings",
            "model_output",
            optional=True,
            shape="M D | N M D",
            dtype="float",
            doc="extra negatives, shared by every anchor or (negatives='explicit') per anchor",
        ),
    ],
    example_inputs=ntxent_example,
)
def ntxent(
    embeddings_a: torch.Tensor,
    embeddings_b: torch.Tensor,
    negative_embeddings: torch.Tensor | None = None,
    *,
    temperature: Annotated[float, Range(gt=0)] = 0.07,
    negatives: Negatives = "all",
    symmetric: bool = True,
    normalize: bool = True,
    distributed: bool = False,
    local_loss: bool = False,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""NT-Xent (SimCLR) or InfoNCE contrastive loss over two paired views.

    ``model_output["embeddings_a"]`` and ``model_output["embeddings_b"]`` are
    ``[N, D]`` views with row :math:`i` of one the positive of row :math:`i`
    of the other; ``targets`` is not used. With cosine similarities :math:`s`
    (dot products if ``normalize=False``) and temperature :math:`\tau`
    (default 0.07, as pytorch-metric-learning), each anchor :math:`u` with
    positive :math:`u^+` and negatives :math:`\mathcal N(u)`:

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
    - ``"explicit"``: only the given negatives
      ``model_output["negative_embeddings"]``, ``[M, D]`` shared by every
      anchor or ``[N, M, D]`` per anchor (info-nce-pytorch's
      ``negative_mode="unpaired"`` / ``"paired"`` with ``symmetric=False``;
      ``symmetric=True`` adds view b's anchors against the same negatives).

    With ``"all"`` or ``"cross"``, shared ``[M, D]`` negatives in
    ``model_output["negative_embeddings"]``, when present, join every
    anchor's negatives (they are absent by default). Other keys through
    ``keys=``, for example ``keys={"embeddings_a": "z1", "embeddings_b": "z2"}``.

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
    explicit = negatives == "explicit"
    if explicit:
        if distributed:
            raise LossParameterError(
                f"loss {name!r}: parameter 'distributed' must be False with negatives='explicit', which "
                f"uses no in-batch negatives to gather; use negatives='all' or 'cross' to gather negatives"
            )
        if negative_embeddings is None:
            raise MissingInputError(
                f"{name}: input 'negative_embeddings' (model_output, [M, D] or [N, M, D]) is required with "
                f"negatives='explicit' but is missing; if it lives under another key, pass "
                f"keys={{'negative_embeddings': '<your key>'}}"
            )
    elif negative_embeddings is not None and negative_embeddings.ndim == 3:
        raise LossInputError(
            f"{name}: input 'negative_embeddings' has shape {tuple(negative_embeddings.shape)}: per-anchor "
            f"negatives [N, M, D] need negatives='explicit' (with negatives={negatives!r} extra negatives "
            f"are [M, D], shared by every anchor)"
        )
    a = maybe_normalize(at_least_float32(embeddings_a), normalize)
    b = maybe_normalize(at_least_float32(embeddings_b), normalize)
    extra = None
    if negative_embeddings is not None:
        extra = maybe_normalize(at_least_float32(negative_embeddings), normalize)
    if explicit:
        assert extra is not None
        per_anchor, logits, target = _explicit(a, b, extra, temperature, symmetric)
    else:
        per_anchor, logits, target = _in_batch(
            a, b, extra, temperature, negatives, symmetric, world(distributed), local_loss
        )
    if reduction == "none":
        return per_anchor
    with torch.no_grad():
        pos_logit = torch.gather(logits, -1, target.unsqueeze(-1)).squeeze(-1)
        accuracy = (pos_logit >= logits.amax(dim=-1)).to(logits.dtype).mean()
    return loss_result(
        reduce(per_anchor, reduction),
        metrics={"accuracy": accuracy, "mean_pos_similarity": pos_logit.mean() * temperature},
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
    negatives: Negatives,
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
    ``length`` queries meet themselves; those entries are excluded (filled in
    place with about ``-finfo.max / 4``, a finite value). Returns the
    per-query losses and logits."""
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
