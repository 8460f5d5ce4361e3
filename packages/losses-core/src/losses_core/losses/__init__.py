"""The built-in losses of losses-core: ``mse``, ``token_ce`` and ``focal``.

Each is a plain function following the loss protocol; import them to call
them directly, or use them by name through ``LOSSES``/``resolve_loss``.
"""

from __future__ import annotations

from losses_core._registry import LossRegistrar
from losses_core.losses.focal import focal
from losses_core.losses.mse import mse
from losses_core.losses.token_ce import token_ce

__all__ = ["focal", "mse", "register_builtin_losses", "token_ce"]


def register_builtin_losses(register: LossRegistrar) -> None:
    """Register the built-in losses with ``register``."""
    from losses_core.losses._examples import focal_example, mse_example, token_ce_example

    register("mse", mse, aliases=("MSE",), example_inputs=mse_example)
    register("token_ce", token_ce, aliases=("cross_entropy",), example_inputs=token_ce_example)
    register("focal", focal, aliases=("focal_loss",), example_inputs=focal_example)
