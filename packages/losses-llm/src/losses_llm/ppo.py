"""``ppo``: the clipped PPO loss of RLHF, with the clipped value loss."""

from __future__ import annotations

from typing import Annotated, Any

import torch

from losses_core import Input, LossParameterError, LossReturn, MissingInputError, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_core.tensors import as_float, at_least_float32
from losses_llm._policy_gradient import PolicyObjective, policy_batch, token_weights
from losses_llm._policy_gradient_paths import policy_inputs, policy_loss
from losses_llm._sources import POLICY_INPUTS

__all__ = ["ppo"]

_VF_COEF = 0.1
_CLIP_RANGE_VALUE = 0.2


def ppo_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B, 6]`` per-token
    log-probabilities and values of the current policy, old log-probs and
    values that differ from them (so that some ratios and values are
    clipped), returns, per-token advantages and a completion mask with
    padding."""
    steps = 6
    log_probs = torch.empty(batch_size, steps, dtype=dtype).uniform_(-3.0, -0.1).requires_grad_(True)
    values = torch.randn(batch_size, steps, dtype=dtype).requires_grad_(True)
    mask = torch.ones(batch_size, steps, dtype=torch.bool)
    mask[0, -2:] = False
    targets = {
        "completion_mask": mask,
        "advantages": torch.randn(batch_size, steps, dtype=dtype),
        "old_log_probs": log_probs.detach() + 0.3 * torch.randn(batch_size, steps, dtype=dtype),
        "old_values": values.detach() + 0.3 * torch.randn(batch_size, steps, dtype=dtype),
        "returns": torch.randn(batch_size, steps, dtype=dtype),
    }
    return {"log_probs": log_probs, "values": values}, targets, {}


@register_loss(
    inputs=[
        Input(
            "completion_mask",
            "targets",
            shape="B T",
            doc="1 (or True) at the response tokens the loss scores, 0 at padding; bool, int or float",
        ),
        Input(
            "advantages",
            "targets",
            shape="B T | B",
            dtype="float",
            doc="per-token advantages (GAE), or one per response",
        ),
        *POLICY_INPUTS,
        Input(
            "completion_ids",
            "targets",
            shape="B T",
            dtype="int",
            optional=True,
            doc="the sampled tokens, aligned: logits[:, t] score completion_ids[:, t]; "
            "with logits or hidden_states",
        ),
        Input(
            "old_log_probs",
            "targets",
            shape="B T",
            dtype="float",
            optional=True,
            doc="log-probs under the policy that sampled the responses; absent: on-policy",
        ),
        Input(
            "values",
            "model_output",
            shape="B T",
            dtype="float",
            optional=True,
            doc="the value head's predictions; with them the loss adds the value loss",
        ),
        Input(
            "old_values",
            "targets",
            shape="B T",
            dtype="float",
            optional=True,
            doc="the values at sampling time, the centre of the value clip",
        ),
        Input("returns", "targets", shape="B T", dtype="float", optional=True, doc="the value targets"),
        Input(
            "value_mask",
            "targets",
            shape="B T",
            optional=True,
            doc="the tokens the value loss scores; completion_mask when absent",
        ),
    ],
    example_inputs=ppo_example,
)
def ppo(
    completion_mask: torch.Tensor,
    advantages: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    completion_ids: torch.Tensor | None = None,
    old_log_probs: torch.Tensor | None = None,
    values: torch.Tensor | None = None,
    old_values: torch.Tensor | None = None,
    returns: torch.Tensor | None = None,
    value_mask: torch.Tensor | None = None,
    *,
    clip_range: Annotated[float, Range(ge=0, le=1)] = 0.2,
    vf_coef: Annotated[float, Range(ge=0)] = _VF_COEF,
    clip_range_value: Annotated[float, Range(gt=0)] | None = _CLIP_RANGE_VALUE,
    temperature: Annotated[float, Range(gt=0)] = 1.0,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""PPO's clipped surrogate loss over response tokens, plus the clipped value loss.

    Per response token :math:`t` (mask :math:`m_t`), with the ratio
    :math:`\rho_t = \exp(\log\pi_t - \log\pi_{old,t})` and advantage
    :math:`A_t` (Schulman et al. 2017, "Proximal Policy Optimization
    Algorithms", arXiv:1707.06347):

    .. math::
        L^{\mathrm{pg}} = \frac{\sum_t m_t\,
            \big(-\min(\rho_t A_t,\ \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon) A_t)\big)}{\sum_t m_t}

    the masked mean over the batch's response tokens, the surrogate shared
    with :func:`losses_llm.grpo`. With ``values`` :math:`v_t` (and their
    sampling-time ``old_values`` :math:`v^{old}_t`, ``returns`` :math:`R_t`)
    the loss adds :math:`c_{vf} L^{\mathrm{vf}}`, the clipped value loss of
    OpenAI's PPO implementations (baselines ``ppo2``; Ziegler et al. 2019,
    arXiv:1909.08593), over the value mask :math:`m^v` (``value_mask``, or
    the completion mask):

    .. math::
        L^{\mathrm{vf}} = \frac{1}{2}\,\frac{\sum_t m^v_t \max\big((v_t - R_t)^2,\
            (\mathrm{clip}(v_t, v^{old}_t - c, v^{old}_t + c) - R_t)^2\big)}{\sum_t m^v_t}

    (:math:`(v_t - R_t)^2` alone with ``clip_range_value=None``). This is
    TRL's ``PPOTrainer`` loss (``trl.experimental.ppo``), whose defaults these
    are; TRL computes the value mask one token longer than the response mask,
    which ``value_mask`` expresses.

    Without ``old_log_probs`` the responses were sampled by the current
    policy: :math:`\log\pi_{old} = \mathrm{sg}(\log\pi)`, :math:`\rho = 1`,
    and the gradient is :math:`-A\,\nabla\log\pi` averaged over tokens. A
    batch without response tokens gives 0 connected to the graph, never NaN.

    Parameters:

    - ``clip_range=0.2``: :math:`\epsilon` (TRL's ``cliprange``).
    - ``vf_coef=0.1``: :math:`c_{vf}`, the value loss's weight; only with
      ``values``.
    - ``clip_range_value=0.2``: :math:`c` (TRL's ``cliprange_value``), or
      ``None`` for the unclipped value loss; only with ``values``.
    - ``temperature=1.0``: logits and hidden states are scored at
      :math:`z / \tau`, the sampling temperature (TRL divides the logits by
      it); not with ``log_probs``.
    - ``chunk_size=None``: tokens per chunk on the hidden-states path; by
      default a chunk's logits hold about :math:`2^{23}` floats.

    Inputs: ``completion_mask`` ``[B, T]``; ``advantages`` ``[B, T]`` (or
    ``[B]``); the policy as exactly one of ``logits`` ``[B, T, V]``,
    ``hidden_states`` ``[B, T, H]`` with ``lm_head_weight`` (and
    ``lm_head_bias``), fused chunk by chunk, or ``log_probs`` ``[B, T]``;
    ``completion_ids`` ``[B, T]`` with logits or hidden states, aligned as in
    :func:`losses_llm.grpo` (position ``t`` scores ``completion_ids[:, t]``);
    optional ``old_log_probs``; optional ``values`` (``model_output``) with
    ``returns`` and, when clipped, ``old_values``. Half-precision inputs are
    computed in float32.

    :returns: ``{"loss", "metrics"}``; metrics: ``num_tokens``,
        ``policy_loss`` (:math:`L^{\mathrm{pg}}`), ``clip_ratio_low``,
        ``clip_ratio_high``, ``clip_ratio_region`` (fractions of response
        tokens whose gradient the clip removes, as in :func:`losses_llm.grpo`;
        the region fraction is TRL's ``pg_clipfrac``), ``ratio`` (mean),
        ``approx_kl`` (mean k3 estimate of :math:`\mathrm{KL}(\pi_{old}\|\pi)`,
        :math:`\rho - 1 - \log\rho`; TRL logs :math:`\frac12(\log\rho)^2`),
        ``entropy`` (mean, with logits or hidden states) and, with
        ``values``, ``value_loss`` (:math:`L^{\mathrm{vf}}`) and
        ``value_clip_ratio`` (the fraction of value-mask tokens where the
        clipped term is the larger, TRL's ``vf_clipfrac``).
    """
    name = "ppo"
    if values is None:
        for parameter, value, default in (
            ("vf_coef", vf_coef, _VF_COEF),
            ("clip_range_value", clip_range_value, _CLIP_RANGE_VALUE),
        ):
            if value != default:
                raise LossParameterError(
                    f"loss 'ppo': parameter {parameter!r} ({value}) applies to the value loss, which needs "
                    f"input 'values' (model_output['values'])"
                )
    else:
        if returns is None:
            raise MissingInputError(
                f"{name}: input 'returns' (targets['returns'], [B, T]) is required with 'values'"
            )
        if old_values is None and clip_range_value is not None:
            raise MissingInputError(
                f"{name}: input 'old_values' (targets['old_values'], [B, T]) is required with 'values' "
                f"when clip_range_value is set ({clip_range_value}); or set clip_range_value=None"
            )
    inputs = policy_inputs(
        name, logits, hidden_states, lm_head_weight, lm_head_bias, log_probs, completion_ids,
        temperature=temperature, chunk_size=chunk_size,
    )  # fmt: skip
    batch = policy_batch(
        completion_mask,
        advantages,
        old_log_probs,
        None,
        lambda mask: token_weights(mask, "bnpo"),
        inputs.dtype,
    )
    objective = PolicyObjective(batch, cispo=False, epsilon_low=clip_range, epsilon_high=clip_range)
    loss, stats = policy_loss(inputs, objective, temperature=temperature, chunk_size=chunk_size)
    tokens = stats["tokens"]
    metrics = {"num_tokens": tokens, "policy_loss": loss}
    for key, metric in (
        ("clip_low", "clip_ratio_low"),
        ("clip_high", "clip_ratio_high"),
        ("clip_region", "clip_ratio_region"),
        ("ratio", "ratio"),
        ("approx_kl", "approx_kl"),
        ("entropy", "entropy"),
    ):
        if key in stats:
            metrics[metric] = safe_divide(stats[key], tokens)
    if values is not None:
        assert returns is not None
        mask = completion_mask if value_mask is None else value_mask
        value_loss, clipped = _value_loss(values, old_values, returns, mask, clip_range_value)
        metrics["value_loss"] = value_loss
        metrics["value_clip_ratio"] = clipped
        loss = loss + vf_coef * value_loss
    return loss_result(loss, metrics=metrics)


def _value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor | None,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped value loss (a masked mean, halved) and the fraction of
    masked tokens where the clipped term is the larger."""
    v = at_least_float32(values)
    target = returns.to(v.dtype)
    weights = as_float(mask, v.dtype)
    on = weights != 0
    zero = torch.zeros_like(v)
    unclipped = torch.where(on, (v - target).square(), zero)
    if clip_range is None:
        per_token = unclipped
        clipped = torch.zeros_like(on)
    else:
        assert old_values is not None
        old = old_values.to(v.dtype)
        in_range = torch.clamp(v, old - clip_range, old + clip_range)
        clipped_error = torch.where(on, (in_range - target).square(), zero)
        per_token = torch.maximum(unclipped, clipped_error)
        clipped = clipped_error > unclipped
    count = weights.sum()
    loss = 0.5 * safe_divide((per_token * weights).sum(), count)
    with torch.no_grad():
        fraction = safe_divide((clipped * weights).sum(), count)
    return loss, fraction
