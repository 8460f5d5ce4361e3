"""The built-in losses of losses-core: ``mse``, ``token_ce``, ``focal``,
``margin_ranking`` and ``contrastive``.

Each is a protocol function ``loss(model_output, targets, **params)`` that
declares its inputs; import them to call them directly, or use them by name
through ``LOSSES``/``resolve_loss``. ``loss.compute`` is the function of
tensors behind each. Every module registers its loss when imported.
"""

from __future__ import annotations

from losses_core.losses.contrastive import contrastive
from losses_core.losses.focal import focal
from losses_core.losses.margin_ranking import margin_ranking
from losses_core.losses.mse import mse
from losses_core.losses.token_ce import token_ce

__all__ = ["contrastive", "focal", "margin_ranking", "mse", "token_ce"]
