r"""The per-token terms of the clipped policy-gradient losses (``grpo``, ``ppo``).

Everything here is a function of per-token log-probabilities of the sampled
tokens, ``[B, T]`` (or flattened ``[B*T]`` when the fused path chunks over
tokens), so one formula serves the three input paths (logits, hidden states
through the LM head, given log-probabilities):

- :func:`log_ratio`: :math:`\log\pi - \log\pi_{old}` per token (0 off the
  mask), and :func:`sequence_log_ratio`, its masked mean per sequence (GSPO);
- :func:`clipped_surrogate`: PPO's :math:`-\min(\rho A, \mathrm{clip}(\rho,
  1-\varepsilon_{low}, 1+\varepsilon_{high}) A)` with the optional
  :math:`\delta` cap of two-sided clipping, and :func:`cispo_surrogate`;
- :func:`k3_kl`: the k3 estimator of the KL divergence to a reference policy;
- :func:`token_weights`: each loss type's normalisation as one weight per
  token, computed before any chunking;
- :class:`PolicyObjective`: the per-token loss of a call and its summed
  statistics, for one chunk of rows at a time.

A mask value of 0 marks a position that is never read: the log-ratios and KL
terms there are replaced by 0 before any ``exp``, so padding holding garbage
(``-inf``, large values) cannot turn the loss or its gradient into NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import torch

from losses_core.reduction import safe_divide
from losses_core.tensors import as_float

__all__ = [
    "LossType",
    "PolicyBatch",
    "PolicyObjective",
    "cispo_surrogate",
    "clipped_surrogate",
    "k3_kl",
    "log_ratio",
    "policy_batch",
    "sequence_log_ratio",
    "token_weights",
]

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo", "cispo"]


def log_ratio(log_probs: torch.Tensor, old_log_probs: torch.Tensor | None, on: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\pi - \log\pi_{old}` per token, 0 where ``on`` is false.

    Without old log-probabilities the policy is its own old policy (one
    optimisation step per generation): :math:`\log\pi - \mathrm{sg}(\log\pi)`,
    0 in value with the gradient of :math:`\log\pi`.
    """
    old = log_probs.detach() if old_log_probs is None else old_log_probs
    return torch.where(on, log_probs - old, torch.zeros_like(log_probs))


def sequence_log_ratio(token_log_ratio: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""``[rows, 1]``: the masked mean of the token log-ratios of each sequence,
    :math:`\frac{1}{|o_i|}\sum_t m_{i,t} (\log\pi - \log\pi_{old})` (GSPO's
    :math:`\log s_i`); 0 for a sequence without completion tokens."""
    return safe_divide((token_log_ratio * mask).sum(-1), mask.sum(-1)).unsqueeze(-1)


def clipped_surrogate(
    ratio: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float,
    delta: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""PPO's clipped surrogate per token and where each clip is active.

    .. math:: \ell = -\min\big(\min(\rho, \delta) A,\
              \mathrm{clip}(\rho, 1-\varepsilon_{low}, 1+\varepsilon_{high}) A\big)

    (:math:`\min(\rho,\delta)` only with a ``delta``: the upper bound of
    two-sided clipping, INTELLECT-2). Returns the loss and two bool masks:
    low-clipped (:math:`\rho < 1-\varepsilon_{low}` with :math:`A < 0`) and
    high-clipped (:math:`\rho > 1+\varepsilon_{high}` with :math:`A > 0`), the
    tokens whose gradient the clip removes.
    """
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    capped = ratio if delta is None else ratio.clamp(max=delta)
    loss = -torch.minimum(capped * advantages, clipped * advantages)
    low = (ratio < 1 - epsilon_low) & (advantages < 0)
    high = (ratio > 1 + epsilon_high) & (advantages > 0)
    return loss, low, high


def cispo_surrogate(
    ratio: torch.Tensor, advantages: torch.Tensor, log_probs: torch.Tensor, max_ratio: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""CISPO's per-token loss :math:`-\mathrm{sg}(\min(\rho, \varepsilon_{max}))
    A \log\pi` and where the clip is active (:math:`\rho > \varepsilon_{max}`
    with :math:`A > 0`)."""
    weight = ratio.clamp(max=max_ratio).detach()
    return -weight * advantages * log_probs, (ratio > max_ratio) & (advantages > 0)


def k3_kl(log_probs: torch.Tensor, ref_log_probs: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    r"""The k3 estimator of :math:`\mathrm{KL}(\pi \| \pi_{ref})` per sampled
    token, :math:`e^{d} - d - 1` with :math:`d = \log\pi_{ref} - \log\pi`
    (Schulman 2020, "Approximating KL divergence"); 0 where ``on`` is false."""
    d = torch.where(on, ref_log_probs - log_probs, torch.zeros_like(log_probs))
    return torch.exp(d) - d - 1


def token_weights(
    mask: torch.Tensor,
    loss_type: LossType,
    num_items_in_batch: torch.Tensor | int | None = None,
    max_completion_length: int | None = None,
) -> torch.Tensor:
    r"""``[B, T]`` weights :math:`w` such that the loss is
    :math:`\sum_{i,t} w_{i,t}\,\ell_{i,t}`: the mask divided by the loss
    type's normaliser.

    - ``grpo``: :math:`m_{i,t} / (B\,|o_i|)`, the mean over sequences of each
      sequence's token mean (a sequence without tokens counts, with 0);
    - ``bnpo``: :math:`m_{i,t} / \sum m`;
    - ``dr_grpo``: :math:`m_{i,t} / (B\,L_{max})`, ``max_completion_length``
      or ``T``;
    - ``dapo``, ``cispo``: :math:`m_{i,t} / N`, ``num_items_in_batch`` or
      :math:`\sum m`.

    A zero normaliser gives zero weights, never NaN.
    """
    batch = mask.shape[0]
    if loss_type == "grpo":
        return safe_divide(mask, mask.sum(-1, keepdim=True)) / batch
    if loss_type == "dr_grpo":
        length = mask.shape[-1] if max_completion_length is None else max_completion_length
        return mask / (batch * length)
    if loss_type in ("dapo", "cispo") and num_items_in_batch is not None:
        if isinstance(num_items_in_batch, torch.Tensor):
            count = num_items_in_batch.to(device=mask.device, dtype=mask.dtype)
            return safe_divide(mask, count)
        return mask / num_items_in_batch
    return safe_divide(mask, mask.sum())


@dataclass(frozen=True)
class PolicyBatch:
    """The per-token data of a call, in the layout of the log-probabilities
    the objective receives (``[B, T]``, or ``[B*T]`` for token chunks), so
    that ``tensor[rows]`` is a chunk's share.

    :param mask: float completion mask (0 = not a completion token).
    :param on: ``mask != 0``.
    :param weights: :func:`token_weights`.
    :param advantages: broadcast to the mask's shape.
    :param old_log_probs: :math:`\\log\\pi_{old}`, or ``None`` (on-policy).
    :param ref_log_probs: :math:`\\log\\pi_{ref}`, or ``None`` (no KL term).
    """

    mask: torch.Tensor
    on: torch.Tensor
    weights: torch.Tensor
    advantages: torch.Tensor
    old_log_probs: torch.Tensor | None
    ref_log_probs: torch.Tensor | None

    def flat(self) -> PolicyBatch:
        """The same data with the token dimensions flattened (chunks of tokens)."""
        return self._map(lambda t: t.reshape(-1))

    def rows(self, rows: slice) -> PolicyBatch:
        """The chunk ``rows`` of every tensor."""
        return self._map(lambda t: t[rows])

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> PolicyBatch:
        return PolicyBatch(
            fn(self.mask),
            fn(self.on),
            fn(self.weights),
            fn(self.advantages),
            None if self.old_log_probs is None else fn(self.old_log_probs),
            None if self.ref_log_probs is None else fn(self.ref_log_probs),
        )


def policy_batch(
    mask: torch.Tensor,
    advantages: torch.Tensor,
    old_log_probs: torch.Tensor | None,
    ref_log_probs: torch.Tensor | None,
    weights: Callable[[torch.Tensor], torch.Tensor],
    dtype: torch.dtype,
) -> PolicyBatch:
    """A :class:`PolicyBatch` in ``dtype`` from a ``[B, T]`` mask (bool, integer
    or float), ``[B]`` or ``[B, T]`` advantages and the optional ``[B, T]``
    log-probabilities; ``weights(mask)`` gives the per-token weights."""
    values = as_float(mask, dtype)
    adv = advantages.to(dtype)
    if adv.ndim == 1:
        adv = adv.unsqueeze(-1)
    return PolicyBatch(
        mask=values,
        on=values != 0,
        weights=weights(values),
        advantages=adv.expand_as(values),
        old_log_probs=None if old_log_probs is None else old_log_probs.to(dtype),
        ref_log_probs=None if ref_log_probs is None else ref_log_probs.to(dtype),
    )


@dataclass(frozen=True)
class PolicyObjective:
    r"""The per-token loss of a clipped policy-gradient call, summed with
    :func:`token_weights`, and its statistics.

    Per completion token, with :math:`\rho` the importance ratio (per token,
    or per sequence with ``sequence_level``):

    .. math:: \ell_t = \ell^{\mathrm{pg}}_t + \beta\, k3_t\,(\rho_t \text{ if }
              \text{kl\_importance\_weight})

    where :math:`\ell^{\mathrm{pg}}` is :func:`clipped_surrogate` or, for
    ``cispo``, :func:`cispo_surrogate` with
    :math:`\varepsilon_{max} = \varepsilon_{high}`.

    Calling it on the log-probabilities of a chunk of rows gives the chunk's
    share of the loss and 0-dim sums over its completion tokens (weighted by
    the mask): ``tokens``, ``clip_low``, ``clip_high``, ``clip_region``,
    ``ratio``, ``approx_kl`` (k3 of :math:`\mathrm{KL}(\pi_{old}\|\pi)`,
    :math:`\rho - 1 - \log\rho` per token) and, with a KL term, ``kl``.
    """

    batch: PolicyBatch
    cispo: bool
    epsilon_low: float
    epsilon_high: float
    delta: float | None = None
    beta: float = 0.0
    kl_importance_weight: bool = False
    sequence_level: bool = False

    def flat(self) -> PolicyObjective:
        """The objective over flattened tokens (for chunks of tokens)."""
        return replace(self, batch=self.batch.flat())

    def __call__(
        self, log_probs: torch.Tensor, rows: slice
    ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        data = self.batch.rows(rows)
        mask, on = data.mask, data.on
        log_probs = torch.where(on, log_probs, torch.zeros_like(log_probs))
        token_lr = log_ratio(log_probs, data.old_log_probs, on)
        lr = sequence_log_ratio(token_lr, mask) if self.sequence_level else token_lr
        ratio = torch.exp(lr)
        if self.cispo:
            per_token, high = cispo_surrogate(ratio, data.advantages, log_probs, self.epsilon_high)
            low = torch.zeros_like(high)
        else:
            per_token, low, high = clipped_surrogate(
                ratio, data.advantages, self.epsilon_low, self.epsilon_high, self.delta
            )
        kl = None
        if self.beta != 0.0:
            assert data.ref_log_probs is not None
            kl = k3_kl(log_probs, data.ref_log_probs, on)
            if self.kl_importance_weight:
                kl = kl * ratio
            per_token = per_token + self.beta * kl
        loss = (per_token * data.weights).sum()
        with torch.no_grad():
            token_ratio = torch.exp(token_lr)
            stats = {
                "tokens": mask.sum(),
                "clip_low": (low * mask).sum(),
                "clip_high": (high * mask).sum(),
                "clip_region": ((low | high) * mask).sum(),
                "ratio": (ratio.expand_as(mask) * mask).sum(),
                "approx_kl": ((token_ratio - 1 - token_lr) * mask).sum(),
            }
            if kl is not None:
                stats["kl"] = (kl.expand_as(mask) * mask).sum()
        return loss, stats
