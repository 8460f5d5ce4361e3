"""Token-level cross-entropy for classification and language modelling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError, LossParameterError
from losses_core.inputs import require_tensor
from losses_core.reduction import check_reduction, safe_divide

__all__ = ["token_ce"]


def token_ce(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_weights: Sequence[float] | torch.Tensor | None = None,
    reduction: str = "mean",
    num_items_in_batch: int | torch.Tensor | None = None,
    logits_key: str = "logits",
    labels_key: str = "labels",
) -> dict[str, Any] | torch.Tensor:
    r"""Cross-entropy over tokens, registered as ``token_ce``.

    Per token :math:`i` with label :math:`y_i \ne` ``ignore_index``, class
    weights :math:`w` (all 1 by default), smoothing :math:`\varepsilon` and
    :math:`C` classes:

    .. math:: \ell_i = (1-\varepsilon)\, w_{y_i} (-\log p_{i,y_i})
              + \frac{\varepsilon}{C} \sum_c w_c (-\log p_{i,c})

    - ``reduction="mean"``: :math:`\sum_i \ell_i / \sum_i w_{y_i}` over
      non-ignored tokens, exactly ``F.cross_entropy``. When every token is
      ignored the result is a zero connected to the graph, where torch returns
      NaN.
    - ``num_items_in_batch`` (with ``"mean"``): divide the summed loss by this
      global count of target tokens instead, so that gradient accumulation over
      micro-batches gives the same gradient as one large batch.
    - ``reduction="sum"``: :math:`\sum_i \ell_i`; ``"none"``: :math:`\ell_i`
      shaped like the labels (0 at ignored tokens), returned as a bare tensor.
      Like every ``reduction="none"`` result it is not a valid registry result
      (the protocol needs a scalar): call the function directly for it.

    :param model_output: ``model_output[logits_key]``: ``[N, V]`` or ``[B, T, V]``.
    :param targets: ``targets[labels_key]``: integer ``[N]`` or ``[B, T]``.
    :returns: ``{"loss", "metrics": {"num_tokens", "accuracy"}}``; the metrics
        are detached and count non-ignored tokens.
    """
    check_reduction("token_ce", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise LossParameterError(
            f"loss 'token_ce': label_smoothing must be in [0, 1], got {label_smoothing!r}"
        )
    logits = require_tensor(
        model_output, logits_key, loss="token_ce", source="model_output", ndim=(2, 3), floating=True
    )
    labels = require_tensor(targets, labels_key, loss="token_ce", source="targets", floating=False)
    if labels.shape != logits.shape[:-1]:
        raise LossInputError(
            f"token_ce: targets[{labels_key!r}] has shape {tuple(labels.shape)} but "
            f"model_output[{logits_key!r}] has shape {tuple(logits.shape)}; labels must have the "
            f"logits' shape without the class dimension"
        )
    if num_items_in_batch is not None and reduction != "mean":
        raise LossParameterError(
            f"loss 'token_ce': num_items_in_batch only applies to reduction='mean', got {reduction!r}"
        )
    num_classes = logits.shape[-1]
    flat_logits = logits.reshape(-1, num_classes)
    flat_labels = labels.reshape(-1).long()
    weight = _class_weights(class_weights, num_classes, flat_logits)
    per_token = F.cross_entropy(
        flat_logits,
        flat_labels,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction="none",
    )
    valid = flat_labels != ignore_index
    if reduction == "none":
        loss = per_token.reshape(labels.shape)
    elif reduction == "sum":
        loss = per_token.sum()
    elif num_items_in_batch is not None:
        loss = per_token.sum() / num_items_in_batch
    else:
        if weight is None:
            denominator = valid.sum().to(per_token.dtype)
        else:
            safe_labels = flat_labels.clamp(0, num_classes - 1)
            denominator = (weight[safe_labels] * valid).sum()
        loss = safe_divide(per_token.sum(), denominator)
    with torch.no_grad():
        count = valid.sum()
        correct = ((flat_logits.argmax(-1) == flat_labels) & valid).sum()
        accuracy = safe_divide(correct.to(flat_logits.dtype), count.to(flat_logits.dtype))
    if reduction == "none":
        return loss
    return {"loss": loss, "metrics": {"num_tokens": count, "accuracy": accuracy}}


def _class_weights(
    class_weights: Sequence[float] | torch.Tensor | None, num_classes: int, like: torch.Tensor
) -> torch.Tensor | None:
    if class_weights is None:
        return None
    weight = torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)
    if weight.shape != (num_classes,):
        raise LossParameterError(
            f"loss 'token_ce': class_weights must have one weight per class ({num_classes}), "
            f"got shape {tuple(weight.shape)}"
        )
    return weight
