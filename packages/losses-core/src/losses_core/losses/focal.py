"""Focal loss (Lin et al. 2017), sigmoid and softmax forms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import LossInputError, LossParameterError
from losses_core._registry import register_loss
from losses_core.inputs import Input
from losses_core.params import Range
from losses_core.reduction import Reduction, reduce

__all__ = ["focal"]


def focal_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B, 3]`` logits and
    multi-label 0/1 labels (sigmoid mode)."""
    logits = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    labels = (torch.rand(batch_size, 3) > 0.5).to(dtype)
    return {"logits": logits}, {"labels": labels}, {}


def check_alpha(alpha: Any) -> None:
    """Validator of ``alpha``: a number >= 0, a non-empty sequence of numbers
    >= 0 (one per class), or ``None``."""
    if alpha is None:
        return
    values = [alpha] if isinstance(alpha, (int, float)) else list(alpha)
    if not values:
        raise ValueError("must be a number, a non-empty per-class sequence or None, got an empty sequence")
    negative = [v for v in values if v < 0]
    if negative:
        raise ValueError(f"must be >= 0 (a per-class weight or factor), got {alpha!r}")


@register_loss(
    inputs=[
        Input(
            "logits",
            "model_output",
            dtype="float",
            doc="sigmoid: any shape; softmax: [N C] or [B T C], classes last",
        ),
        Input(
            "labels",
            "targets",
            doc="sigmoid: the logits' shape, in [0, 1]; softmax: class ids, the logits' shape without C",
        ),
    ],
    example_inputs=focal_example,
    validators={"alpha": check_alpha},
)
def focal(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    mode: Literal["sigmoid", "softmax"] = "sigmoid",
    alpha: float | Sequence[float] | None = 0.25,
    gamma: Annotated[float, Range(ge=0)] = 2.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    r"""Focal loss, sigmoid (binary and multi-label) or softmax (multiclass).

    .. math:: \mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^{\gamma} \log p_t

    (Lin et al. 2017, "Focal Loss for Dense Object Detection"). Defaults:
    ``mode="sigmoid"``, ``alpha=0.25``, ``gamma=2.0``, ``ignore_index=-100``,
    ``reduction="mean"``.

    ``mode="sigmoid"`` (torchvision's ``sigmoid_focal_loss``): logits and
    labels of the same shape, labels in [0, 1]; with :math:`p = \sigma(x)`,
    :math:`p_t = p y + (1-p)(1-y)` and :math:`\alpha_t = \alpha y +
    (1-\alpha)(1-y)`; the log term is binary cross-entropy from logits.
    ``alpha`` must be a number in [0, 1] or ``None`` here.

    ``mode="softmax"``: logits ``[N, C]`` or ``[B, T, C]`` (classes last),
    integer labels of the logits' shape without ``C``; :math:`p_t` is the
    softmax probability of the true class. ``alpha`` is a scalar factor
    :math:`\alpha_t = \alpha` or a per-class sequence of ``C`` weights
    :math:`\alpha_t = \alpha_{y}` (``alpha=[0.1, 0.2, 0.3, 0.4]`` for four
    classes).

    ``alpha=None`` disables the weighting: with ``gamma=0`` and ``alpha=None``
    the loss is exactly binary cross-entropy (sigmoid) or cross-entropy
    (softmax). In both modes labels equal to ``ignore_index`` contribute
    nothing.

    Reduction: ``"mean"`` (default) averages over the non-ignored elements
    (sigmoid) or labels (softmax), unweighted by ``alpha``; 0 connected to
    the graph when every label is ignored. ``"sum"`` sums; ``"none"`` returns
    the per-element (sigmoid) or per-label (softmax) losses, 0 where ignored.
    """
    if mode == "sigmoid":
        if labels.shape != logits.shape:
            raise LossInputError(
                f"focal: input 'labels' has shape {tuple(labels.shape)} but input 'logits' has shape "
                f"{tuple(logits.shape)}; in sigmoid mode they must match"
            )
        if alpha is not None and (not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1):
            raise LossParameterError(
                f"loss 'focal': parameter 'alpha' must be a number in [0, 1] or None in sigmoid mode, "
                f"got {alpha!r} (per-class alpha is for mode='softmax')"
            )
        valid = labels != ignore_index
        targets = torch.where(valid, labels, torch.zeros_like(labels)).to(logits.dtype)
        return reduce(_sigmoid_focal(logits, targets, alpha, gamma), reduction, valid)
    if logits.ndim not in (2, 3) or labels.shape != logits.shape[:-1]:
        raise LossInputError(
            f"focal: in softmax mode input 'logits' must be [N C] or [B T C] and input 'labels' its shape "
            f"without the class dimension; got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex():
        raise LossInputError(
            f"focal: in softmax mode input 'labels' must have an integer dtype (class ids), "
            f"got {labels.dtype}"
        )
    valid = labels != ignore_index
    per_label = _softmax_focal(logits, labels, valid, alpha, gamma)
    return reduce(per_label, reduction, valid)


def _modulate(p_t: torch.Tensor, gamma: float) -> torch.Tensor:
    r""":math:`(1 - p_t)^\gamma`. The base is floored at the dtype's smallest
    normal number, so a saturated :math:`p_t = 1` gives a finite gradient for
    :math:`\gamma < 1` too (the factor changes by at most ``tiny**gamma``)."""
    if gamma == 0:
        return torch.ones_like(p_t)
    return (1 - p_t).clamp_min(torch.finfo(p_t.dtype).tiny).pow(gamma)


def _sigmoid_focal(
    logits: torch.Tensor, labels: torch.Tensor, alpha: float | None, gamma: float
) -> torch.Tensor:
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
    valid: torch.Tensor,
    alpha: float | Sequence[float] | None,
    gamma: float,
) -> torch.Tensor:
    num_classes = logits.shape[-1]
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels)).long()
    log_p_t = F.log_softmax(logits, dim=-1).gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    loss = -_modulate(log_p_t.exp(), gamma) * log_p_t
    if alpha is None:
        return loss
    if isinstance(alpha, (int, float)):
        return alpha * loss
    if len(alpha) != num_classes:
        raise LossParameterError(
            f"loss 'focal': parameter 'alpha' (per-class) needs one value per class ({num_classes}), "
            f"got {len(alpha)}"
        )
    weights = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
    return weights[safe_labels] * loss
