"""The built-in losses of losses-core: ``mse``, ``token_ce``, ``focal``,
``margin_ranking`` and ``contrastive``.

Each is a protocol function ``loss(model_output, targets, **params)`` that
declares its inputs; import them to call them directly, or use them by name
through ``LOSSES``/``resolve_loss``. ``loss.compute`` is the function of
tensors behind each. They are declared in
``losses_core/losses/entry_points.txt`` as plugins declare their losses in
their entry points, with their summaries in ``losses_core/losses/losses.json``:
each loss's module, which registers the loss when imported, is imported when
the loss is first looked up or when its name is first accessed on this
package (PEP 562); importing the package imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily

if TYPE_CHECKING:
    from losses_core.losses.contrastive import contrastive
    from losses_core.losses.focal import focal
    from losses_core.losses.margin_ranking import margin_ranking
    from losses_core.losses.mse import mse
    from losses_core.losses.token_ce import token_ce

_EXPORTS = {
    "contrastive": "contrastive",
    "focal": "focal",
    "margin_ranking": "margin_ranking",
    "mse": "mse",
    "token_ce": "token_ce",
}

__all__ = ["contrastive", "focal", "margin_ranking", "mse", "token_ce"]


export_lazily(__name__, _EXPORTS)
