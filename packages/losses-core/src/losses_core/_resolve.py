"""``resolve_loss``: from a name, callable or dotted path to a callable that
always returns a :class:`LossReturn`; and the weighted sum of several
resolved losses that config builds."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from losses_core._call import call_resolved
from losses_core._errors import LossParameterError, UnknownLossError, capped_repr
from losses_core._plugins import lookup
from losses_core._registry import REGISTRY, RUNTIME_PROVIDER, LossEntry
from losses_core._signature import LossSignature
from losses_core._types import LossReturn
from losses_core._yaml import plain_data


def import_object(spec: str) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted)."""
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise UnknownLossError(f"invalid dotted path {spec!r}: expected 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownLossError(f"cannot import module {module_name!r} for loss {spec!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownLossError(
                f"module {module_name!r} has no attribute {attr_path!r} (loss {spec!r})"
            ) from None
    return obj


def entry_for_spec(spec: str | Callable[..., Any]) -> LossEntry:
    """The registry entry for a name, or an unregistered entry for a callable
    or a ``"module:attr"`` path."""
    if isinstance(spec, str):
        if ":" in spec:
            fn = import_object(spec)
            return REGISTRY.create_entry(spec.replace(":", "."), fn, provider=RUNTIME_PROVIDER, version=None)
        return lookup(spec)
    if callable(spec):
        name = getattr(spec, "__name__", None) or type(spec).__name__
        return REGISTRY.create_entry(name, spec, provider=RUNTIME_PROVIDER, version=None)
    raise UnknownLossError(
        f"cannot resolve a loss from {type(spec).__name__} {spec!r}: expected a registered name, "
        f"a 'package.module:attr' path or a callable"
    )


class ResolvedLoss:
    """A loss with default parameters bound; calls return a :class:`LossReturn`.

    ``resolved(model_output, targets, **overrides)`` merges ``overrides`` over
    the bound defaults, runs the hooks and the loss, and returns
    ``{"loss", "metrics", "auxiliary"}`` whatever the loss returned.
    Instances pickle (by name for registered losses, by reference for
    callables) and so work in spawned DataLoader workers and DDP.
    """

    __slots__ = ("_check_names", "_entry", "_spec", "defaults")

    def __init__(
        self,
        spec: str | Callable[..., Any],
        entry: LossEntry,
        defaults: dict[str, Any],
        check_names: bool = True,
    ) -> None:
        self._spec = spec
        self._entry = entry
        self.defaults = defaults
        self._check_names = check_names

    @property
    def name(self) -> str:
        return self._entry.name

    @property
    def provider(self) -> str:
        return self._entry.provider

    @property
    def function(self) -> Callable[..., Any]:
        return self._entry.function

    @property
    def entry(self) -> LossEntry:
        return self._entry

    def __call__(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **overrides: Any
    ) -> LossReturn:
        params = {**self.defaults, **overrides} if overrides else dict(self.defaults)
        return call_resolved(self._entry, model_output, targets, params, self._check_names)

    def _call_as_term(
        self,
        label: str,
        model_output: Mapping[str, Any],
        targets: Mapping[str, Any],
        overrides: dict[str, Any],
    ) -> LossReturn:
        """The call of a composite's term: hooks see ``label`` as ``call.label``."""
        params = {**self.defaults, **overrides} if overrides else dict(self.defaults)
        return call_resolved(self._entry, model_output, targets, params, self._check_names, label)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={capped_repr(v)}" for k, v in self.defaults.items())
        return f"ResolvedLoss({self._entry.qualified_name}{', ' if params else ''}{params})"

    def __reduce__(self) -> tuple[Any, ...]:
        spec = self._spec if isinstance(self._spec, str) else self._entry.function
        return (resolve, (spec, self.defaults, self._check_names))


def resolve(
    spec: str | Callable[..., Any], defaults: dict[str, Any], check_names: bool = True
) -> ResolvedLoss:
    """:func:`resolve_loss`, with the check of parameter names optional (for
    configs loaded with ``strict=False``: unknown names go to ``**kwargs``)."""
    entry = entry_for_spec(spec)
    defaults = {name: plain_data(value) for name, value in defaults.items()}
    entry.signature.check(entry.name, defaults, check_names=check_names)
    return ResolvedLoss(spec, entry, defaults, check_names)


def resolve_loss(spec: str | Callable[..., Any], /, **defaults: Any) -> ResolvedLoss:
    """Resolve ``spec`` to a callable loss with ``defaults`` bound.

    :param spec: a registered name or alias (``"token_ce"``), a qualified
        name (``"focal@losses-foo"``), a dotted path
        (``"my_package.losses:custom_loss"``, imported now), or a callable.
    :param defaults: keyword parameters bound now; per-call keyword arguments
        override them. Names are checked against the loss's named parameters
        (names, required parameters, annotations and validators). Mappings
        and sequences in them (OmegaConf's ``DictConfig`` and ``ListConfig``
        from Hydra's ``instantiate``, say) are bound as dicts and lists.
    :returns: a :class:`ResolvedLoss` whose calls return
        ``{"loss": tensor, "metrics": {...}, "auxiliary": {...}}``.
    :raises UnknownLossError: unknown name or unimportable path.
    :raises LossParameterError: a default the loss does not accept.
    """
    return resolve(spec, defaults)


class CompositeLoss:
    r"""A weighted sum of losses: :math:`L = \sum_i w_i L_i`.

    Each term is a :class:`ResolvedLoss` with its weight and a label. The
    result's ``metrics`` hold each term's (unweighted, detached) value as
    ``"<label>/loss"`` and its metrics as ``"<label>/<metric>"``; its
    ``auxiliary`` maps each label to the term's auxiliary dict. Per-call
    keyword arguments go to every term that accepts them; one that no term
    accepts raises. The pre- and post-loss hooks run around each term's call
    and see its label as ``call.label``.
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
            result = term._call_as_term(label, model_output, targets, accepted)
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
