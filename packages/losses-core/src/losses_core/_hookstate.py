"""Whether any pre- or post-loss hook implementation is registered."""

from __future__ import annotations


class HookState:
    """Read on every loss call; refreshed by the plugin manager on every
    register/unregister, so the hot path costs one attribute read while no
    hook is in use."""

    __slots__ = ("active", "post", "pre")

    def __init__(self) -> None:
        self.pre = False
        self.post = False
        self.active = False


HOOKS = HookState()
