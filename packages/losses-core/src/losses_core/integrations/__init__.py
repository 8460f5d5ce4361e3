"""Adapters between losses and the training tools researchers use.

- :mod:`losses_core.integrations.transformers`: :class:`TrainerLoss`, the
  Hugging Face ``Trainer``'s ``compute_loss_func`` from any loss.

PyTorch Lightning and Hydra need no adapter: a
:class:`~losses_core.LossModule` sits in a ``LightningModule``, its metrics go
to ``log_dict``, and ``hydra.utils.instantiate`` builds
:func:`~losses_core.resolve_loss`, :class:`~losses_core.LossModule` or
:func:`~losses_core.loss_from_config` from a ``_target_`` node (losses-core
reads a ``DictConfig`` as a dict). The guide "Using losses with Lightning,
Transformers and Hydra" shows each. Nothing here imports those libraries.
"""

from __future__ import annotations

__all__: list[str] = []
