"""Small random rollouts for the policy-gradient tests: an LM head, hidden
states, sampled tokens, a completion mask with ragged lengths, advantages,
and old and reference log-probs near the current policy's."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from losses_llm._tokens import label_log_probs


@dataclass
class Rollout:
    hidden: torch.Tensor  # [B, T, H], requires grad
    weight: torch.Tensor  # [V, H], requires grad
    bias: torch.Tensor  # [V], requires grad
    ids: torch.Tensor  # [B, T]
    mask: torch.Tensor  # [B, T] int64, ragged
    advantages: torch.Tensor  # [B]
    old: torch.Tensor  # [B, T], near the current log-probs
    ref: torch.Tensor  # [B, T]

    def logits(self, temperature: float = 1.0) -> torch.Tensor:
        return (self.hidden @ self.weight.t() + self.bias) / temperature

    def log_probs(self, temperature: float = 1.0) -> torch.Tensor:
        """The current policy's log-probs of the sampled tokens, differentiable, 0 off the mask."""
        return label_log_probs(self.logits(temperature), self.ids, self.mask.bool())

    def leaves(self) -> list[torch.Tensor]:
        return [self.hidden, self.weight, self.bias]


def rollout(
    batch: int = 4,
    steps: int = 7,
    hidden_size: int = 16,
    vocab: int = 40,
    *,
    dtype: torch.dtype = torch.float32,
    temperature: float = 1.0,
    spread: float = 0.3,
    stream: int = 0,
) -> Rollout:
    """A rollout whose old and reference log-probs differ from the current
    policy's by ``spread`` (standard deviation), so that ratios are clipped
    on both sides; row 0 is the longest, row 1 has two padded tokens, the
    last row three."""
    g = torch.Generator().manual_seed(stream)
    hidden = torch.randn(batch, steps, hidden_size, generator=g, dtype=dtype).requires_grad_(True)
    weight = (0.5 * torch.randn(vocab, hidden_size, generator=g, dtype=dtype)).requires_grad_(True)
    bias = (0.1 * torch.randn(vocab, generator=g, dtype=dtype)).requires_grad_(True)
    ids = torch.randint(0, vocab, (batch, steps), generator=g)
    mask = torch.ones(batch, steps, dtype=torch.long)
    if batch > 1:
        mask[1, -2:] = 0
        mask[-1, -3:] = 0
    advantages = torch.randn(batch, generator=g, dtype=dtype)
    data = Rollout(hidden, weight, bias, ids, mask, advantages, hidden.new_zeros(()), hidden.new_zeros(()))
    with torch.no_grad():
        current = data.log_probs(temperature)
    data.old = current + spread * torch.randn(batch, steps, generator=g, dtype=dtype)
    data.ref = current + spread * torch.randn(batch, steps, generator=g, dtype=dtype)
    return data
