"""``LossModule``: a loss as a ``torch.nn.Module``.

A resolved or composite loss is a plain callable; a model that holds one as
an attribute does not show it in ``print(model)``, and ``model.to(device)``
leaves its tensor parameters (class weights, say) where they were.
:class:`LossModule` wraps the loss in a module so that it does both::

    from losses_core import LossModule

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(16, 3)
            self.loss = LossModule("token_ce", class_weights=torch.tensor([1.0, 2.0, 4.0]))

        def forward(self, x, labels):
            logits = self.net(x)
            return self.loss({"logits": logits}, {"labels": labels})  # {"loss", "metrics", "auxiliary"}

    print(Classifier())   # ... (loss): LossModule(token_ce, class_weights=Tensor(float32[3]))
    Classifier().to("cuda")  # the class weights move with the model

Tensors among the loss's parameters become the module's tensors: a plain
tensor is a buffer, which ``.to()``, ``.cuda()``, ``.double()`` and DDP's
buffer broadcast handle like any other; an ``nn.Parameter`` is a parameter
of the module, so the optimiser trains it. Each call passes the module's
current tensors to the loss.

``state_dict``: buffers are not saved by default (``persistent=False``): a
loss's tensors are configuration, rebuilt by the code or config that made
the loss, so a model checkpoint is the same with or without a loss in the
model and loads into either. ``persistent=True`` saves them (under
``<attribute>.<parameter>``, or ``<attribute>.terms.<label>.<parameter>``
for a composite's term) and ``load_state_dict`` restores them. Parameters
(``nn.Parameter``) are always saved, as trained state.

A composite loss keeps one child ``LossModule`` per term, under ``terms``
by label, so ``print`` shows each term's parameters. ``torch.compile``
traces a model holding a ``LossModule``: ``token_ce`` with class weights and
no hook registered compiles to one graph (``fullgraph=True``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Union

import torch
from torch import nn

from losses_core._errors import LossParameterError, capped_repr
from losses_core._resolve import CompositeLoss, ResolvedLoss, resolve
from losses_core._types import LossReturn
from losses_core.config import LossConfig, load_config

__all__ = ["LossModule"]

LossLike = Union[
    str, Callable[..., Any], ResolvedLoss, CompositeLoss, LossConfig, Mapping[str, Any], "LossModule"
]
"""What :class:`LossModule` wraps."""


class LossModule(nn.Module):
    """A loss as an ``nn.Module``: ``module(model_output, targets, **overrides)``
    returns the loss's ``{"loss", "metrics", "auxiliary"}`` dict.

    :param loss: a registered name, a dotted path or a callable (resolved
        with ``defaults``, as :func:`~losses_core.resolve_loss` does); a
        :class:`~losses_core.ResolvedLoss`, composite loss or ``LossModule``
        (copied: the module's tensors never change the caller's object); a
        :class:`~losses_core.config.LossConfig`; or a config mapping, either a
        whole config (with a ``loss`` key, as
        :func:`~losses_core.load_config` reads) or one loss node
        (``{"type": "token_ce", "kwargs": {...}}``, ``{"terms": [...]}``).
        Hydra's ``DictConfig`` is a mapping like any other.
    :param persistent: save the loss's tensor parameters in ``state_dict``
        (see the module's documentation).
    :param defaults: parameters bound now, with a name, dotted path or
        callable only (a loss parameter called ``loss`` or ``persistent`` is
        bound with :func:`~losses_core.resolve_loss` first). ``loss`` is not
        positional-only, so Hydra's ``instantiate`` can pass it by name.
    :raises LossParameterError: ``defaults`` with an already built loss, or a
        tensor parameter whose name is an attribute of ``nn.Module``.
    """

    def __init__(self, loss: LossLike, *, persistent: bool = False, **defaults: Any) -> None:
        super().__init__()
        built = _build(loss, defaults)
        self._persistent = persistent
        self._tensors: list[str] = []
        """The loss parameters held as the module's tensors (same names)."""
        self._resolved: ResolvedLoss | None = None
        self._composite: CompositeLoss | None = None
        if isinstance(built, ResolvedLoss):
            self._resolved = built
            for name, value in built.defaults.items():
                if isinstance(value, torch.Tensor):
                    self._register_tensor(name, value)
            return
        self.terms = nn.ModuleDict()
        children = []
        for index, (label, _, term) in enumerate(built.terms):
            child = LossModule(term, persistent=persistent)
            self.terms[_module_name(label, index, self.terms)] = child
            children.append(child)
        self._composite = CompositeLoss(
            [
                (label, weight, child._resolved)
                for (label, weight, _), child in zip(built.terms, children, strict=True)
                if child._resolved is not None  # a term is one resolved loss
            ]
        )

    def _register_tensor(self, name: str, value: torch.Tensor) -> None:
        if not name.isidentifier() or hasattr(self, name):
            raise LossParameterError(
                f"loss {self._name()!r}: tensor parameter {capped_repr(name)} cannot be an attribute of "
                f"a LossModule (nn.Module uses the name); resolve the loss without it and pass it per call"
            )
        if isinstance(value, nn.Parameter):
            self.register_parameter(name, value)
        else:
            self.register_buffer(name, value, persistent=self._persistent)
        self._tensors.append(name)

    def _name(self) -> str:
        return "composite" if self._resolved is None else self._resolved.name

    def _refresh(self) -> None:
        """Point the loss's tensor parameters at the module's current tensors
        (``.to()`` and ``load_state_dict(assign=True)`` replace them)."""
        if self._resolved is not None:
            defaults = self._resolved.defaults
            for name in self._tensors:
                defaults[name] = getattr(self, name)
            return
        for child in self.terms.values():
            assert isinstance(child, LossModule)
            child._refresh()

    @property
    def loss_fn(self) -> ResolvedLoss | CompositeLoss:
        """The wrapped loss (a :class:`~losses_core.ResolvedLoss` or composite
        loss), its tensor parameters the module's current tensors."""
        self._refresh()
        if self._resolved is not None:
            return self._resolved
        assert self._composite is not None
        return self._composite

    def forward(
        self, model_output: Mapping[str, Any], targets: Mapping[str, Any], /, **overrides: Any
    ) -> LossReturn:
        """The loss of ``model_output`` and ``targets``: ``{"loss", "metrics",
        "auxiliary"}``. ``overrides`` replace bound parameters for this call
        (a composite passes each to the terms that accept it)."""
        return self.loss_fn(model_output, targets, **overrides)

    def extra_repr(self) -> str:
        if self._resolved is None:
            assert self._composite is not None
            return " + ".join(f"{weight} * {label}" for label, weight, _ in self._composite.terms)
        shown = [self._resolved.name]
        for name, value in self._resolved.defaults.items():
            tensor = getattr(self, name) if name in self._tensors else None
            shown.append(f"{name}={capped_repr(value) if tensor is None else _describe_tensor(tensor)}")
        return ", ".join(shown)


def _build(loss: LossLike, defaults: dict[str, Any]) -> ResolvedLoss | CompositeLoss:
    """A fresh resolved or composite loss from what :class:`LossModule` accepts."""
    if isinstance(loss, LossModule):
        loss = loss.loss_fn
    if isinstance(loss, (ResolvedLoss, CompositeLoss, LossConfig, Mapping)) and defaults:
        raise LossParameterError(
            f"LossModule: parameters {sorted(defaults)} given with a loss that is already built "
            f"({type(loss).__name__}); bind them where the loss is made (resolve_loss, the config)"
        )
    if isinstance(loss, ResolvedLoss):
        return copy.copy(loss)  # a new ResolvedLoss with its own defaults (pickle's route)
    if isinstance(loss, CompositeLoss):
        return CompositeLoss([(label, weight, copy.copy(term)) for label, weight, term in loss.terms])
    if isinstance(loss, Mapping):
        config = load_config(loss if "loss" in loss else {"loss": loss})
        loss = config
    if isinstance(loss, LossConfig):
        built = loss.build()
        assert isinstance(built, (ResolvedLoss, CompositeLoss))
        return built
    return resolve(loss, defaults)


def _module_name(label: str, index: int, siblings: nn.ModuleDict) -> str:
    """``label``, or ``term<index>`` where the label cannot name a child
    module (it has a dot, or ``ModuleDict`` has an attribute of that name)."""
    name = label if label and "." not in label and not hasattr(siblings, label) else f"term{index}"
    while name in siblings:
        name += "_"
    return name


def _describe_tensor(tensor: torch.Tensor) -> str:
    dtype = str(tensor.dtype).removeprefix("torch.")
    shape = ", ".join(str(size) for size in tensor.shape)
    device = "" if tensor.device.type == "cpu" else f", {tensor.device}"
    kind = "Parameter" if isinstance(tensor, nn.Parameter) else "Tensor"
    return f"{kind}({dtype}[{shape}]{device})"
