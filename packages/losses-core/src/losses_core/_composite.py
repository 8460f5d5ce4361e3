"""A weighted sum of several losses, built from config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from losses_core._errors import LossParameterError
from losses_core._resolve import ResolvedLoss
from losses_core._signature import LossSignature
from losses_core._types import LossReturn


class CompositeLoss:
    r"""A weighted sum of losses: :math:`L = \sum_i w_i L_i`.

    Each term is a :class:`ResolvedLoss` with its weight and a label. The
    result's ``metrics`` hold each term's (unweighted, detached) value as
    ``"<label>/loss"`` and its metrics as ``"<label>/<metric>"``; its
    ``auxiliary`` maps each label to the term's auxiliary dict. Per-call
    keyword arguments go to every term that accepts them; one that no term
    accepts raises.
    """

    def __init__(self, terms: Sequence[tuple[str, float, ResolvedLoss]]) -> None:
        if not terms:
            raise ValueError("a composite loss needs at least one term")
        self.terms = tuple(terms)

    def __call__(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **overrides: Any
    ) -> LossReturn:
        if overrides:
            self._check_overrides(overrides)
        total: torch.Tensor | None = None
        metrics: dict[str, Any] = {}
        auxiliary: dict[str, Any] = {}
        for label, weight, term in self.terms:
            accepted = {k: v for k, v in overrides.items() if _accepts(term.entry.signature, k)}
            result = term(model_output, targets, **accepted)
            weighted = weight * result["loss"]
            total = weighted if total is None else total + weighted
            metrics[f"{label}/loss"] = result["loss"].detach()
            for key, value in result["metrics"].items():
                metrics[f"{label}/{key}"] = value
            auxiliary[label] = result["auxiliary"]
        assert total is not None
        return {"loss": total, "metrics": metrics, "auxiliary": auxiliary}

    def _check_overrides(self, overrides: Mapping[str, Any]) -> None:
        for key in overrides:
            if not any(_accepts(term.entry.signature, key) for _, _, term in self.terms):
                accepted = sorted({p for _, _, term in self.terms for p in term.entry.signature.parameters})
                labels = ", ".join(label for label, _, _ in self.terms)
                raise LossParameterError(
                    f"composite loss ({labels}): no term accepts parameter {key!r}; "
                    f"the terms accept: {', '.join(accepted) or 'no parameters'}"
                )

    def __repr__(self) -> str:
        inner = ", ".join(f"{w} * {label}" for label, w, _ in self.terms)
        return f"CompositeLoss({inner})"


def _accepts(signature: LossSignature, key: str) -> bool:
    return key in signature.parameters or not signature.checks_names
