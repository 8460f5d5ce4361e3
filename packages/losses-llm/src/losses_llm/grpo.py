"""``grpo``: group relative policy optimisation and its loss types (DAPO,
Dr. GRPO, BNPO, CISPO, GSPO)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch

from losses_core import Input, LossParameterError, LossReturn, MissingInputError, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._policy_gradient import LossType, PolicyObjective, policy_batch, token_weights
from losses_llm._policy_gradient_paths import policy_inputs, policy_loss
from losses_llm._sources import POLICY_INPUTS

__all__ = ["grpo"]

_EPSILON = 0.2


def grpo_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``[B, 6]`` per-token
    log-probabilities of the current policy, old and reference log-probs that
    differ from them (so that some ratios are clipped), a completion mask with
    padding, and one advantage per completion; ``beta=0.04`` turns the KL term on."""
    steps = 6
    log_probs = torch.empty(batch_size, steps, dtype=dtype).uniform_(-3.0, -0.1).requires_grad_(True)
    old = log_probs.detach() + 0.3 * torch.randn(batch_size, steps, dtype=dtype)
    ref = log_probs.detach() + 0.3 * torch.randn(batch_size, steps, dtype=dtype)
    mask = torch.ones(batch_size, steps, dtype=torch.bool)
    mask[0, -2:] = False
    targets = {
        "completion_mask": mask,
        "advantages": torch.randn(batch_size, dtype=dtype),
        "old_log_probs": old,
        "ref_log_probs": ref,
    }
    return {"log_probs": log_probs}, targets, {"beta": 0.04}


@register_loss(
    inputs=[
        Input(
            "completion_mask",
            "targets",
            shape="B T",
            doc="1 (or True) at the completion tokens the loss scores, 0 at padding; bool, int or float",
        ),
        Input(
            "advantages",
            "targets",
            shape="B | B T",
            dtype="float",
            doc="one advantage per completion (group_advantages), or one per token",
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
            doc="log-probs under the policy that sampled the completions; absent: on-policy",
        ),
        Input(
            "ref_log_probs",
            "targets",
            shape="B T",
            dtype="float",
            optional=True,
            doc="log-probs under the reference policy; needed when beta > 0",
        ),
    ],
    example_inputs=grpo_example,
)
def grpo(
    completion_mask: torch.Tensor,
    advantages: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    completion_ids: torch.Tensor | None = None,
    old_log_probs: torch.Tensor | None = None,
    ref_log_probs: torch.Tensor | None = None,
    *,
    loss_type: LossType = "dapo",
    epsilon: Annotated[float, Range(ge=0, le=1)] = _EPSILON,
    epsilon_high: Annotated[float, Range(ge=0)] | None = None,
    delta: Annotated[float, Range(gt=0)] | None = None,
    beta: Annotated[float, Range(ge=0)] = 0.0,
    use_bias_correction_kl: bool = True,
    importance_sampling_level: Literal["token", "sequence"] = "token",
    temperature: Annotated[float, Range(gt=0)] = 1.0,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    max_completion_length: Annotated[int, Range(ge=1)] | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""GRPO's clipped policy-gradient loss, with the loss types of its successors.

    For completion :math:`i` of the batch (``B`` completions, ``G`` per prompt
    in practice) and its completion tokens :math:`t` (mask :math:`m_{i,t}`,
    :math:`|o_i| = \sum_t m_{i,t}`), with advantage :math:`A_i` (or
    :math:`A_{i,t}`; :func:`losses_llm.group_advantages` computes GRPO's):

    .. math::
        \rho_{i,t} = \exp(\log\pi_{i,t} - \log\pi_{old,i,t}), \qquad
        \ell_{i,t} = -\min\big(\rho_{i,t} A_i,\
            \mathrm{clip}(\rho_{i,t}, 1-\varepsilon_{low}, 1+\varepsilon_{high}) A_i\big)
            + \beta\, k3_{i,t}

    with the k3 estimator of :math:`\mathrm{KL}(\pi\|\pi_{ref})`,
    :math:`k3 = e^{d} - d - 1`, :math:`d = \log\pi_{ref} - \log\pi`
    (multiplied by :math:`\rho_{i,t}` with ``use_bias_correction_kl``). Without
    ``old_log_probs`` the completions were sampled by the current policy (one
    update per generation): :math:`\log\pi_{old} = \mathrm{sg}(\log\pi)`, so
    :math:`\rho = 1` and the gradient is the policy gradient
    :math:`-A\,\nabla\log\pi` (normalised as below), as TRL computes it.

    Normalisation, ``loss_type``:

    - ``"dapo"`` (default, TRL 1.13's): :math:`\sum_{i,t} m\,\ell / N`, with
      :math:`N` = ``num_items_in_batch``, the completion tokens of the whole
      (gradient-accumulated, all-rank) batch, or the local :math:`\sum m`
      when not given (Yu et al. 2025, DAPO, arXiv:2503.14476: token-level
      averaging, no length bias);
    - ``"grpo"``: :math:`\frac1B \sum_i \frac{1}{|o_i|} \sum_t m\,\ell`, the
      mean over sequences of each sequence's token mean (Shao et al. 2024,
      DeepSeekMath, arXiv:2402.03300); a sequence without completion tokens
      adds 0 and still counts in :math:`B`;
    - ``"bnpo"``: :math:`\sum m\,\ell / \sum m` over the local batch (TRL's
      batch-normalised variant);
    - ``"dr_grpo"``: :math:`\sum m\,\ell / (B\,L_{max})` with :math:`L_{max}`
      = ``max_completion_length``, or ``T`` when not given (Liu et al. 2025,
      Dr. GRPO, arXiv:2503.20783: a constant, so no length bias);
    - ``"cispo"``: :math:`\ell = -\mathrm{sg}(\min(\rho, \varepsilon_{max}))
      A \log\pi + \beta\,k3`, normalised as ``"dapo"`` (MiniMax 2025,
      MiniMax-M1, arXiv:2506.13585: the importance weight is clipped and its
      gradient stopped, so every token keeps a gradient);
      :math:`\varepsilon_{max}` = ``epsilon_high``, the ratio's upper bound
      itself, as TRL and Liger define it (ScaleRL recommends 5.0).

    A batch without completion tokens gives 0 connected to the graph (zero
    gradients), never NaN; masked positions are never read, whatever they
    hold.

    GSPO, ``importance_sampling_level="sequence"`` (Zheng et al. 2025,
    arXiv:2507.18071): one ratio per sequence,
    :math:`s_i = \exp\big(\frac{1}{|o_i|}\sum_t m_{i,t}(\log\pi_{i,t} -
    \log\pi_{old,i,t})\big)`, in place of :math:`\rho_{i,t}` at every token of
    the sequence (TRL 1.13's definition, without a stop-gradient: its
    gradient is the paper's). GSPO's objective is this with
    ``loss_type="grpo"``; the paper clips at
    :math:`\varepsilon = 3\cdot10^{-4}`, :math:`\varepsilon_{high} =
    4\cdot10^{-4}`. Not with ``"cispo"``.

    Parameters (defaults are TRL 1.13's ``GRPOConfig``):

    - ``loss_type="dapo"``: above.
    - ``epsilon=0.2``: :math:`\varepsilon_{low}`, the lower clip
      :math:`1 - \varepsilon`; not used by ``"cispo"``.
    - ``epsilon_high=None``: :math:`\varepsilon_{high}`, the upper clip
      :math:`1 + \varepsilon_{high}`; ``None`` means ``epsilon`` (DAPO's
      clip-higher uses 0.28). Required by ``"cispo"``, where it is
      :math:`\varepsilon_{max}`.
    - ``delta=None``: two-sided clipping (INTELLECT-2, arXiv:2505.07291): the
      unclipped term uses :math:`\min(\rho, \delta)`, bounding the loss of
      negative-advantage tokens whose ratio explodes; recommended above
      :math:`1 + \varepsilon_{high}`. Not with ``"cispo"``.
    - ``beta=0.0``: the KL weight; ``ref_log_probs`` needed when > 0
      (DeepSeek-R1 used 0.001; Liger's default is 0.04).
    - ``use_bias_correction_kl=True``: multiply the per-token KL by the
      importance ratio (DeepSeek-V3.2, arXiv:2512.02556: the unbiased
      reverse-KL gradient off-policy; it changes the gradient on-policy too,
      where :math:`\rho = 1` in value only). Only with ``beta > 0``.
    - ``importance_sampling_level="token"``: ``"token"`` or ``"sequence"``
      (GSPO).
    - ``temperature=1.0``: logits and hidden states are scored at
      :math:`z / \tau`, the sampling temperature (TRL divides the logits by
      it); not with ``log_probs``.
    - ``num_items_in_batch=None``: :math:`N` of ``"dapo"``/``"cispo"`` (an
      int, or a tensor such as :func:`losses_llm.global_num_items` returns).
    - ``max_completion_length=None``: :math:`L_{max}` of ``"dr_grpo"``.
    - ``chunk_size=None``: tokens per chunk on the hidden-states path
      (sequences with ``"sequence"``); by default a chunk's logits hold about
      :math:`2^{23}` floats.

    Inputs: ``completion_mask`` ``[B, T]``; ``advantages`` ``[B]`` or
    ``[B, T]``; the policy as exactly one of ``logits`` ``[B, T, V]``,
    ``hidden_states`` ``[B, T, H]`` with ``lm_head_weight`` ``[V, H]`` (and
    ``lm_head_bias``), computed chunk by chunk without materialising the
    logits, or ``log_probs`` ``[B, T]``; ``completion_ids`` ``[B, T]`` with
    logits or hidden states. Position ``t`` of the logits, hidden states and
    log-probs scores ``completion_ids[:, t]``: they are already shifted, as
    TRL and Liger feed them (for a model run on prompt and completion,
    ``logits[:, P - 1 : -1]`` with ``P`` the prompt length). Optional
    ``old_log_probs`` and ``ref_log_probs`` ``[B, T]``. Half-precision inputs
    are computed in float32.

    :returns: ``{"loss", "metrics"}``; metrics, means over completion tokens:
        ``num_tokens`` (:math:`\sum m`), ``clip_ratio_low``,
        ``clip_ratio_high``, ``clip_ratio_region`` (the fractions of tokens
        whose gradient the clip removes: :math:`\rho < 1-\varepsilon_{low}`
        with :math:`A < 0`, :math:`\rho > 1+\varepsilon_{high}` (``cispo``:
        :math:`> \varepsilon_{max}`) with :math:`A > 0`, either; a sequence
        ratio counts at each of its tokens), ``ratio`` (the mean importance
        ratio), ``approx_kl`` (the k3 estimate of
        :math:`\mathrm{KL}(\pi_{old}\|\pi)`, :math:`\rho_t - 1 - \log\rho_t`
        with the token ratio), ``entropy`` (the policy's mean entropy, with
        logits or hidden states) and, when ``beta > 0``, ``kl`` (the KL term
        as weighted in the loss).
    """
    name = "grpo"
    cispo = loss_type == "cispo"
    sequence_level = importance_sampling_level == "sequence"
    _check_parameters(
        loss_type, epsilon, epsilon_high, delta, beta, use_bias_correction_kl, sequence_level,
        num_items_in_batch, max_completion_length,
    )  # fmt: skip
    if beta > 0 and ref_log_probs is None:
        raise MissingInputError(
            f"{name}: input 'ref_log_probs' (targets['ref_log_probs'], [B, T]) is required when "
            f"beta > 0 (beta={beta}); or set beta=0.0"
        )
    inputs = policy_inputs(
        name, logits, hidden_states, lm_head_weight, lm_head_bias, log_probs, completion_ids,
        temperature=temperature, chunk_size=chunk_size,
    )  # fmt: skip
    batch = policy_batch(
        completion_mask,
        advantages,
        old_log_probs,
        ref_log_probs if beta > 0 else None,
        lambda mask: token_weights(mask, loss_type, num_items_in_batch, max_completion_length),
        inputs.dtype,
    )
    objective = PolicyObjective(
        batch,
        cispo=cispo,
        epsilon_low=epsilon,
        epsilon_high=epsilon if epsilon_high is None else epsilon_high,
        delta=delta,
        beta=beta,
        kl_importance_weight=use_bias_correction_kl,
        sequence_level=sequence_level,
    )
    loss, stats = policy_loss(inputs, objective, temperature=temperature, chunk_size=chunk_size)
    tokens = stats.pop("tokens")
    metrics = {"num_tokens": tokens}
    for key, metric in (
        ("clip_low", "clip_ratio_low"),
        ("clip_high", "clip_ratio_high"),
        ("clip_region", "clip_ratio_region"),
        ("ratio", "ratio"),
        ("approx_kl", "approx_kl"),
        ("entropy", "entropy"),
        ("kl", "kl"),
    ):
        if key in stats:
            metrics[metric] = safe_divide(stats[key], tokens)
    return loss_result(loss, metrics=metrics)


def _check_parameters(
    loss_type: LossType,
    epsilon: float,
    epsilon_high: float | None,
    delta: float | None,
    beta: float,
    use_bias_correction_kl: bool,
    sequence_level: bool,
    num_items_in_batch: torch.Tensor | int | None,
    max_completion_length: int | None,
) -> None:
    """Reject parameters that do not apply to the loss type or to each other."""

    def fail(parameter: str, why: str) -> None:
        raise LossParameterError(f"loss 'grpo': parameter {parameter!r} {why}")

    if loss_type == "cispo":
        if epsilon_high is None:
            fail(
                "epsilon_high",
                "is required with loss_type='cispo': it is epsilon_max, the upper bound of the clipped "
                "importance weight (ScaleRL recommends 5.0)",
            )
        if epsilon != _EPSILON:
            fail("epsilon", f"({epsilon}) is not used by loss_type='cispo', which clips only from above")
        if delta is not None:
            fail("delta", "applies to the clipped surrogate, not to loss_type='cispo'")
        if sequence_level:
            fail(
                "importance_sampling_level",
                "'sequence' does not combine with loss_type='cispo' (a per-token importance weight)",
            )
    if num_items_in_batch is not None and loss_type not in ("dapo", "cispo"):
        fail("num_items_in_batch", f"applies to loss_type 'dapo' and 'cispo', not {loss_type!r}")
    if max_completion_length is not None and loss_type != "dr_grpo":
        fail("max_completion_length", f"applies to loss_type 'dr_grpo', not {loss_type!r}")
    if beta == 0 and not use_bias_correction_kl:
        fail("use_bias_correction_kl", "weights the KL term, which beta=0.0 turns off")
