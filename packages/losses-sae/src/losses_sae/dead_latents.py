"""Tracking dead latents with explicit state, outside the losses.

A latent is *dead* when it has not fired (been non-zero) for ``window``
tokens. The default window of 10,000,000 tokens is that of OpenAI (Gao et al.
2024), EleutherAI sparsify and dictionary_learning (SAELens counts steps
instead). The tracker is a small ``nn.Module`` whose only state is the buffer
``tokens_since_fired``; it moves with ``.to()``, is saved in ``state_dict`` and
never synchronises with the host. Feed its mask to the losses that need one::

    tracker = DeadLatentTracker(n_latents)
    out = model(x)
    tracker.update(out["latents"])
    loss = LOSSES["topk_auxk"](out, {"activations": x, "dead_mask": tracker.dead_mask})

Update before computing the loss to count the current batch (as OpenAI and
dictionary_learning do), or after it to use the mask of the previous batches.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DEFAULT_WINDOW", "DeadLatentTracker"]

DEFAULT_WINDOW = 10_000_000


class DeadLatentTracker(nn.Module):
    """Tokens since each latent last fired, and the resulting dead mask.

    :param n_latents: the number of latents.
    :param window: a latent is dead once ``tokens_since_fired >= window``.
    :param fire_threshold: a latent fires on a token when its absolute
        activation exceeds this (0: any non-zero activation; OpenAI used 1e-3).
    """

    tokens_since_fired: torch.Tensor

    def __init__(
        self,
        n_latents: int,
        *,
        window: int = DEFAULT_WINDOW,
        fire_threshold: float = 0.0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(n_latents, bool) or not isinstance(n_latents, int) or n_latents < 1:
            raise ValueError(f"DeadLatentTracker: n_latents must be an int >= 1, got {n_latents!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"DeadLatentTracker: window must be an int >= 1 (tokens), got {window!r}")
        if (
            isinstance(fire_threshold, bool)
            or not isinstance(fire_threshold, (int, float))
            or fire_threshold < 0
        ):
            raise ValueError(
                f"DeadLatentTracker: fire_threshold must be a number >= 0, got {fire_threshold!r}"
            )
        self.n_latents = n_latents
        self.window = window
        self.fire_threshold = float(fire_threshold)
        self.register_buffer("tokens_since_fired", torch.zeros(n_latents, dtype=torch.long, device=device))

    @torch.no_grad()
    def update(self, latents: torch.Tensor) -> None:
        """Count the tokens of ``latents`` (``[..., n_latents]``): reset the
        counter of every latent that fired on at least one token, add the
        number of tokens to the others."""
        if latents.ndim < 1 or latents.shape[-1] != self.n_latents:
            raise ValueError(
                f"DeadLatentTracker.update: expected latents of shape [..., {self.n_latents}], "
                f"got {tuple(latents.shape)}"
            )
        flat = latents.detach().reshape(-1, self.n_latents)
        fired = (
            (flat.abs() > self.fire_threshold).any(dim=0)
            if self.fire_threshold > 0
            else flat.ne(0).any(dim=0)
        )
        counter = self.tokens_since_fired
        counter.add_(flat.shape[0])
        counter.masked_fill_(fired.to(counter.device), 0)

    @property
    def dead_mask(self) -> torch.Tensor:
        """Bool ``[n_latents]``: ``True`` where the latent has not fired for ``window`` tokens."""
        return self.tokens_since_fired >= self.window

    @property
    def dead_fraction(self) -> torch.Tensor:
        """The fraction of dead latents, a 0-dim float tensor."""
        return self.dead_mask.float().mean()

    @torch.no_grad()
    def reset(self) -> None:
        """Forget all history (every latent alive, counters at 0)."""
        self.tokens_since_fired.zero_()

    def extra_repr(self) -> str:
        return f"n_latents={self.n_latents}, window={self.window}, fire_threshold={self.fire_threshold}"
