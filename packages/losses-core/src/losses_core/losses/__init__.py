"""The built-in losses of losses-core: ``mse``, ``token_ce``, ``focal``,
``margin_ranking`` and ``contrastive``.

Each is a protocol function ``loss(model_output, targets, **params)`` that
declares its inputs; import them to call them directly, or use them by name
through ``LOSSES``/``resolve_loss``. ``loss.compute`` is the function of
tensors behind each.
"""

from __future__ import annotations

from losses_core.losses.focal import focal
from losses_core.losses.mse import mse
from losses_core.losses.token_ce import token_ce

__all__ = ["focal", "mse", "token_ce"]

# (transitional: token_ce and focal move to declared inputs)
from losses_core._runtime import register_loss as _register  # noqa: E402
from losses_core.losses._examples import focal_example, token_ce_example  # noqa: E402

_register("token_ce", token_ce, aliases=("cross_entropy",), example_inputs=token_ce_example)
_register("focal", focal, aliases=("focal_loss",), example_inputs=focal_example)
