"""Exception types raised by losses-core.

Every error names the loss it concerns and says what was expected, so that a
typo in a config file or a missing model output is found from the message
alone.
"""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdict = 6
_REPR.maxlevel = 2
REPR_LIMIT = 100
"""The longest value :func:`capped_repr` shows, in characters."""


def capped_repr(value: object) -> str:
    """``repr(value)`` for an error message, at most :data:`REPR_LIMIT`
    characters (``'aaa...aaa'``, ``[1, 2, 3, 4, 5, 6, ...]``): a huge value
    never floods a message, and a container is not walked beyond the few
    items shown (a nested-alias config stands for 10^9 items)."""
    text = _REPR.repr(value)
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


class LossError(Exception):
    """Base class of every error raised by losses-core."""


class _MessageKeyError(KeyError):
    """A ``KeyError`` whose ``str()`` is its message, not the repr of its key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownLossError(LossError, _MessageKeyError):
    """No loss is registered under the requested name.

    The message lists close matches, plugins that failed to load, and how to
    list what is installed.
    """


class LossConflictError(LossError, LookupError):
    """A bare loss name is provided by more than one provider.

    Not a ``KeyError``, so ``LOSSES.get(name)`` does not swallow it.
    """


class LossRegistrationError(LossError, TypeError):
    """A loss cannot be registered: bad name, not callable, or a signature
    that cannot accept ``(model_output, targets, **params)``."""


class LossParameterError(LossError, TypeError):
    """A keyword parameter passed to a loss is not one it accepts, or has the
    wrong type."""


class LossInputError(LossError, ValueError):
    """A loss received a ``model_output`` or ``targets`` entry of the wrong
    kind, dtype or shape."""


class MissingInputError(LossInputError, _MessageKeyError):
    """A loss needs a key that is missing from ``model_output`` or ``targets``."""


class LossResultError(LossError, TypeError):
    """A loss returned something other than a 0-dim floating tensor or a valid
    ``{"loss", "metrics", "auxiliary"}`` mapping."""


class NonFiniteLossError(LossError, FloatingPointError):
    """Raised by :class:`losses_core.NonFiniteGuard` when a loss is NaN or inf."""


class HookError(LossError, RuntimeError):
    """A hook implementation raised; the message names the plugin and the hook."""


class ConfigError(LossError, ValueError):
    """A loss configuration is invalid; the message names the file and key path."""


class LossEnvironmentError(LossError, ValueError):
    """A ``LOSSES_*`` environment variable has a value losses-core does not
    accept; the message names the variable and the accepted values."""
