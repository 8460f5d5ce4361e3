"""Token-level cross-entropy for classification and language modelling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from losses_core import LossInputError, LossParameterError, LossReturn
from losses_core._registry import register_loss
from losses_core.inputs import Input
from losses_core.params import Range
from losses_core.reduction import Reduction, safe_divide
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32

__all__ = ["token_ce"]


def token_ce_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B, 5, 7]`` logits and
    ``[B, 5]`` labels with one ignored token."""
    logits = torch.randn(batch_size, 5, 7, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 7, (batch_size, 5))
    labels[:, -1] = -100
    return {"logits": logits}, {"labels": labels}, {}


@register_loss(
    aliases=("cross_entropy",),
    inputs=[
        Input(
            "logits",
            "model_output",
            shape="B T V | N V",
            dtype="float",
            doc="unnormalised scores, classes last",
        ),
        Input(
            "labels", "targets", shape="B T | N", dtype="int", doc="class ids, the logits' shape without V"
        ),
    ],
    example_inputs=token_ce_example,
)
def token_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    ignore_index: int = -100,
    label_smoothing: Annotated[float, Range(ge=0, le=1)] = 0.0,
    # tensor alternatives first: a tensor that fails an earlier alternative is formatted into
    # that alternative's message (a graph break under torch.compile)
    class_weights: torch.Tensor | Sequence[float] | None = None,
    shift: bool = False,
    z_loss: Annotated[float, Range(ge=0)] = 0.0,
    logit_softcap: Annotated[float, Range(gt=0)] | None = None,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Cross-entropy over tokens, with the options causal-LM training needs.

    Logits ``[B, T, V]`` or ``[N, V]`` (classes last) and integer labels of
    the logits' shape without ``V``. For every token :math:`i` whose label
    :math:`y_i` is not ``ignore_index`` (a *target token*), with logits
    :math:`z_i` (soft-capped if asked), :math:`\mathrm{lse}_i = \log \sum_c
    e^{z_{i,c}}`, class weights :math:`w` (all 1 by default), smoothing
    :math:`\varepsilon` and :math:`V` classes:

    .. math:: \ell_i = (1-\varepsilon)\, w_{y_i} (\mathrm{lse}_i - z_{i,y_i})
              + \frac{\varepsilon}{V} \sum_c w_c (\mathrm{lse}_i - z_{i,c})

    exactly ``torch.nn.functional.cross_entropy`` per token. Options, applied
    in this order:

    - ``shift=False``: with ``shift=True`` the labels are the unshifted input
      ids, as Hugging Face causal-LM models receive them: ``logits[:, t]``
      predicts ``labels[:, t + 1]`` and the last position predicts nothing
      (equal to transformers' ``ForCausalLMLoss``). Needs ``[B, T, V]``
      logits.
    - low precision: float16 and bfloat16 logits are upcast to float32 for the
      log-sum-exp and every sum, so the loss is float32 for them; float32 and
      float64 logits keep their dtype.
    - ``logit_softcap=None``: with a cap :math:`c` the logits become
      :math:`c \tanh(z / c)` before everything else (Gemma 2 uses 30).
    - ``z_loss=0.0``: with a weight :math:`\lambda > 0` the loss adds
      :math:`\lambda\, \mathrm{lse}_i^2` per target token (PaLM, Chowdhery
      et al. 2022, used :math:`10^{-4}`), unweighted by the class weights and
      reduced like the cross-entropy (a mean over target tokens with
      ``"mean"``); the added term is the metric ``z_loss``.
    - ``label_smoothing=0.0`` (:math:`\varepsilon`), ``class_weights=None``
      (:math:`w`, one per class), ``ignore_index=-100``.

    Reduction:

    - ``reduction="mean"`` (default): :math:`\sum_i \ell_i / \sum_i w_{y_i}`
      over target tokens (the plain token mean without class weights). A batch
      with no target token gives 0 connected to the graph, where torch returns
      NaN.
    - ``num_items_in_batch`` (with ``"mean"`` only): the summed loss divided by
      this global count of target tokens instead, so that micro-batches of a
      gradient-accumulation step add up to the gradient of the whole batch.
    - ``reduction="sum"``: :math:`\sum_i \ell_i`.
    - ``reduction="none"``: :math:`\ell_i` (plus the z-loss term) shaped like
      the labels, 0 at ignored tokens (and at the last position with
      ``shift``), returned as a bare tensor; like every ``"none"`` result it is
      for direct calls, not for registry calls.

    :returns: ``{"loss", "metrics"}`` with the metrics ``num_tokens`` (target
        tokens), ``accuracy`` (the fraction of target tokens whose label is
        the logits' argmax) and, when ``z_loss > 0``, ``z_loss``.
    """
    if num_items_in_batch is not None and reduction != "mean":
        raise LossParameterError(
            f"loss 'token_ce': parameter 'num_items_in_batch' only applies to reduction='mean', "
            f"got reduction={reduction!r}"
        )
    if labels.shape != logits.shape[:-1]:
        raise LossInputError(
            f"token_ce: input 'labels' has shape {tuple(labels.shape)} but input 'logits' has shape "
            f"{tuple(logits.shape)}; the labels must have the logits' shape without the class dimension"
        )
    if shift:
        if logits.ndim != 3:
            raise LossInputError(
                f"token_ce: shift=True needs input 'logits' of shape [B T V] (labels shifted along T), "
                f"got {tuple(logits.shape)}"
            )
        labels = F.pad(labels[:, 1:], (0, 1), value=ignore_index)
    z = at_least_float32(logits)
    if logit_softcap is not None:
        z = torch.tanh(z / logit_softcap) * logit_softcap
    num_classes = z.shape[-1]
    flat = z.reshape(-1, num_classes)
    flat_labels = labels.reshape(-1)
    valid = flat_labels != ignore_index
    safe_labels = torch.where(valid, flat_labels, torch.zeros_like(flat_labels)).long()
    mask = valid.to(z.dtype)

    lse = torch.logsumexp(flat, dim=-1)
    nll = lse - flat.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    weight = _class_weights(class_weights, num_classes, z)
    token_weight = mask if weight is None else weight[safe_labels] * mask
    per_token = nll * token_weight
    if label_smoothing > 0:
        if weight is None:
            smooth = lse - flat.mean(dim=-1)
        else:
            smooth = lse * weight.mean() - (flat @ weight) / num_classes
        per_token = (1 - label_smoothing) * per_token + label_smoothing * smooth * mask
    z_term = z_loss * lse.square() * mask if z_loss > 0 else None

    if reduction == "none":
        values = per_token if z_term is None else per_token + z_term
        return values.reshape(labels.shape)
    with torch.no_grad():
        count = valid.sum()
        correct = ((flat.argmax(dim=-1) == flat_labels) & valid).sum()
        accuracy = safe_divide(correct.to(z.dtype), count.to(z.dtype))
    metrics: dict[str, torch.Tensor] = {"num_tokens": count, "accuracy": accuracy}
    loss = _reduce(per_token, token_weight, reduction, num_items_in_batch)
    if z_term is not None:
        z_value = _reduce(z_term, mask, reduction, num_items_in_batch)
        metrics["z_loss"] = z_value
        loss = loss + z_value
    return loss_result(loss, metrics=metrics)


def _reduce(
    values: torch.Tensor,
    weights: torch.Tensor,
    reduction: Reduction,
    num_items_in_batch: int | torch.Tensor | None,
) -> torch.Tensor:
    """Sum ``values`` (already 0 off the target tokens) and divide as the
    reduction says: by ``num_items_in_batch`` when given, else by the summed
    ``weights`` (``"mean"``); a zero divisor gives a graph-connected 0."""
    total = values.sum()
    if reduction == "sum":
        return total
    if num_items_in_batch is None:
        return safe_divide(total, weights.sum())
    if isinstance(num_items_in_batch, torch.Tensor):
        return safe_divide(total, num_items_in_batch.to(device=total.device, dtype=total.dtype))
    return total / num_items_in_batch


def _class_weights(
    class_weights: torch.Tensor | Sequence[float] | None, num_classes: int, like: torch.Tensor
) -> torch.Tensor | None:
    if class_weights is None:
        return None
    weight = torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)
    if weight.shape != (num_classes,):
        raise LossParameterError(
            f"loss 'token_ce': parameter 'class_weights' needs one weight per class ({num_classes}), "
            f"got shape {tuple(weight.shape)}"
        )
    return weight
