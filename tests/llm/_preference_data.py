"""Batches and helpers shared by the preference-loss tests (dpo, orpo, simpo,
cpo, kto): a policy given as hidden states and an LM head (with its logits
and per-token log-probs derived from them), a reference head, labels with
prompts and padding of varying length, and the per-sequence log-probabilities
computed by a loop over tokens written from the papers' definition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

IGNORE = -100


@dataclass
class Batch:
    """``rows`` sequences (``2P`` for pairs: the chosen first) of ``T`` tokens.

    ``labels`` are the input ids with ``IGNORE`` at the prompt and the
    padding (unshifted: position ``t`` of the model scores ``labels[:, t +
    1]``); ``hidden``, ``weight``, ``bias`` the policy (leaves that require
    grad); ``ref_hidden``, ``ref_weight``, ``ref_bias`` a reference model.
    """

    labels: torch.Tensor
    hidden: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None
    ref_hidden: torch.Tensor
    ref_weight: torch.Tensor
    ref_bias: torch.Tensor | None

    @property
    def rows(self) -> int:
        return self.labels.shape[0]

    def leaves(self) -> list[torch.Tensor]:
        return [t for t in (self.hidden, self.weight, self.bias) if t is not None]

    def logits(self) -> torch.Tensor:
        z = self.hidden @ self.weight.t()
        return z if self.bias is None else z + self.bias

    def ref_logits(self) -> torch.Tensor:
        z = self.ref_hidden @ self.ref_weight.t()
        return z if self.ref_bias is None else z + self.ref_bias

    def shifted(self) -> torch.Tensor:
        """The labels each position scores (what Liger-Kernel takes)."""
        return torch.cat([self.labels[:, 1:], torch.full_like(self.labels[:, :1], IGNORE)], dim=1)

    def token_log_probs(self) -> torch.Tensor:
        """``[rows, T]`` per-token log-probs aligned with :meth:`shifted`
        (0 where nothing is scored), differentiable."""
        target = self.shifted()
        mask = target != IGNORE
        logp = torch.log_softmax(self.logits(), dim=-1)
        picked = logp.gather(-1, torch.where(mask, target, 0).unsqueeze(-1)).squeeze(-1)
        return torch.where(mask, picked, torch.zeros_like(picked))

    def ref_logps(self) -> torch.Tensor:
        """``[rows]`` summed completion log-probs under the reference model."""
        with torch.no_grad():
            return loop_logps(self.ref_logits(), self.labels)[0]

    def model_output(self, path: str) -> dict[str, Any]:
        if path == "hidden_states":
            out = {"hidden_states": self.hidden, "lm_head_weight": self.weight}
            if self.bias is not None:
                out["lm_head_bias"] = self.bias
            return out
        if path == "logits":
            return {"logits": self.logits()}
        return {"log_probs": self.token_log_probs()}

    def path_params(self, path: str) -> dict[str, Any]:
        """``shift=True`` reads log-probs at the logits' positions."""
        return {"shift": True} if path == "log_probs" else {}


def make_batch(
    rows: int = 6,
    seq: int = 7,
    hidden: int = 8,
    vocab: int = 13,
    *,
    dtype: torch.dtype = torch.float32,
    bias: bool = True,
    seed: int = 0,
    scale: float = 1.0,
) -> Batch:
    """A random batch; row ``i`` has a prompt of ``1 + i % 3`` tokens and
    ``i % 2`` padding tokens at the end, so completion lengths differ."""
    g = torch.Generator().manual_seed(seed)

    def leaf(*shape: int, s: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=dtype) * s).requires_grad_()

    labels = torch.randint(0, vocab, (rows, seq), generator=g)
    for i in range(rows):
        labels[i, : 1 + i % 3] = IGNORE
        if i % 2:
            labels[i, seq - 1 :] = IGNORE
    return Batch(
        labels=labels,
        hidden=leaf(rows, seq, hidden, s=scale),
        weight=leaf(vocab, hidden, s=scale),
        bias=leaf(vocab, s=scale) if bias else None,
        ref_hidden=torch.randn(rows, seq, hidden, generator=g, dtype=dtype) * scale,
        ref_weight=torch.randn(vocab, hidden, generator=g, dtype=dtype) * scale,
        ref_bias=torch.randn(vocab, generator=g, dtype=dtype) * scale if bias else None,
    )


def loop_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs and token counts of each sequence's completion,
    straight from the definition: for every position ``t >= 1`` whose input id
    ``y_t`` is a completion token, add ``log softmax(logits[t - 1])[y_t]``."""
    sums, counts = [], []
    for b in range(labels.shape[0]):
        total = logits.new_zeros(())
        n = 0
        for t in range(1, labels.shape[1]):
            y = int(labels[b, t])
            if y == IGNORE:
                continue
            total = total + torch.log_softmax(logits[b, t - 1], dim=-1)[y]
            n += 1
        sums.append(total)
        counts.append(n)
    return torch.stack(sums), torch.tensor(counts, dtype=logits.dtype)


def assert_grads_close(got: list[torch.Tensor | None], want: list[torch.Tensor | None], tol: float) -> float:
    """Assert elementwise closeness (``atol = rtol = tol``); the largest abs difference."""
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
        worst = max(worst, float((a - b).abs().max()))
    return worst


def grads(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor | None]:
    return list(torch.autograd.grad(loss, leaves, allow_unused=True))
