"""Focal loss (Lin et al. 2017), sigmoid and softmax forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from losses_core._errors import LossInputError, LossParameterError
from losses_core.inputs import check_same_shape, require_tensor
from losses_core.reduction import check_reduction, safe_divide

__all__ = ["focal"]

MODES = ("sigmoid", "softmax")


def focal(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    mode: str = "sigmoid",
    alpha: float | Sequence[float] | None = 0.25,
    gamma: float = 2.0,
    ignore_index: int = -100,
    reduction: str = "mean",
    logits_key: str = "logits",
    labels_key: str = "labels",
) -> torch.Tensor:
    r"""Focal loss, registered as ``focal``:
    :math:`\mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^{\gamma} \log p_t`.

    ``mode="sigmoid"`` (binary and multi-label; torchvision's
    ``sigmoid_focal_loss``): logits and labels of the same shape, labels in
    [0, 1]; :math:`p_t = p y + (1-p)(1-y)`, :math:`\alpha_t = \alpha y +
    (1-\alpha)(1-y)`, and the log term is binary cross-entropy from logits.
    ``reduction="mean"`` averages over every element.

    ``mode="softmax"`` (multiclass): logits ``[N, C]`` or ``[B, T, C]``
    (classes last), integer labels of the logits' shape without the class
    dimension; :math:`p_t` is the softmax probability of the true class.
    ``alpha`` is a scalar factor or a per-class sequence :math:`\alpha_{y}`.
    Labels equal to ``ignore_index`` contribute nothing; ``"mean"`` divides by
    the number of non-ignored labels (0, connected to the graph, if none).

    ``alpha=None`` disables weighting. With ``gamma=0`` and ``alpha=None``
    this is exactly binary cross-entropy (sigmoid) or cross-entropy (softmax).
    ``reduction="sum"`` sums; ``"none"`` returns the per-element (sigmoid) or
    per-label (softmax) losses.
    """
    check_reduction("focal", reduction)
    if mode not in MODES:
        raise LossParameterError(f"loss 'focal': mode must be one of {', '.join(MODES)}, got {mode!r}")
    if gamma < 0:
        raise LossParameterError(f"loss 'focal': gamma must be >= 0, got {gamma!r}")
    logits = require_tensor(model_output, logits_key, loss="focal", source="model_output", floating=True)
    if mode == "sigmoid":
        labels = require_tensor(targets, labels_key, loss="focal", source="targets")
        check_same_shape(
            logits, labels, loss="focal", names=(f"model_output[{logits_key!r}]", f"targets[{labels_key!r}]")
        )
        per_element = _sigmoid_focal(logits, labels.to(logits.dtype), alpha, gamma)
        if reduction == "none":
            return per_element
        return per_element.mean() if reduction == "mean" else per_element.sum()
    labels = require_tensor(targets, labels_key, loss="focal", source="targets", floating=False)
    if logits.ndim not in (2, 3) or labels.shape != logits.shape[:-1]:
        raise LossInputError(
            f"focal (softmax): model_output[{logits_key!r}] must be [N, C] or [B, T, C] and "
            f"targets[{labels_key!r}] its shape without the class dimension; got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    per_label, valid = _softmax_focal(logits, labels, alpha, gamma, ignore_index)
    if reduction == "none":
        return per_label
    total = per_label.sum()
    if reduction == "sum":
        return total
    return safe_divide(total, valid.sum().to(total.dtype))


def _modulate(p_t: torch.Tensor, gamma: float) -> torch.Tensor:
    if gamma == 0:
        return torch.ones_like(p_t)
    return (1 - p_t).clamp_min(0).pow(gamma)


def _sigmoid_focal(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float | Sequence[float] | None, gamma: float
) -> torch.Tensor:
    if alpha is not None and not isinstance(alpha, (int, float)):
        raise LossParameterError("loss 'focal': in sigmoid mode alpha must be a number in [0, 1] or None")
    if alpha is not None and not 0 <= alpha <= 1:
        raise LossParameterError(f"loss 'focal': alpha must be in [0, 1] or None, got {alpha!r}")
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * labels + (1 - p) * (1 - labels)
    loss = ce * _modulate(p_t, gamma)
    if alpha is not None:
        loss = (alpha * labels + (1 - alpha) * (1 - labels)) * loss
    return loss


def _softmax_focal(
    logits: torch.Tensor,
    labels: torch.Tensor,
    alpha: float | Sequence[float] | None,
    gamma: float,
    ignore_index: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    num_classes = logits.shape[-1]
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels)).long().clamp(0, num_classes - 1)
    log_p = F.log_softmax(logits, dim=-1)
    log_p_t = log_p.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    loss = -_modulate(log_p_t.exp(), gamma) * log_p_t
    if alpha is not None:
        if isinstance(alpha, (int, float)):
            loss = alpha * loss
        else:
            weights = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
            if weights.shape != (num_classes,):
                raise LossParameterError(
                    f"loss 'focal': per-class alpha needs {num_classes} values, "
                    f"got shape {tuple(weights.shape)}"
                )
            loss = weights[safe_labels] * loss
    return torch.where(valid, loss, torch.zeros_like(loss)), valid
