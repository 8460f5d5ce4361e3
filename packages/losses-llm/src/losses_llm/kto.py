"""Kahneman-Tversky Optimization (Ethayarajh et al. 2024)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch

from losses_core import Input, LossInputError, LossReturn, MissingInputError, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_llm._preference import check_chunk_size, mean_over, score_sequences, targets_for, work_dtype
from losses_llm._sources import POLICY_INPUTS, policy_source

__all__ = ["kto"]

KTO_INPUTS = (
    Input(
        "labels",
        "targets",
        shape="B T",
        dtype="int",
        doc="token ids of the B completions; ignore_index marks the prompt and the padding",
    ),
    Input(
        "desirable",
        "targets",
        shape="B",
        dtype="int_or_bool",
        doc="true (nonzero) for a desirable completion",
    ),
)
KTO_REFERENCE_INPUTS = (
    Input(
        "ref_logps",
        "targets",
        shape="B",
        dtype="float",
        optional=True,
        doc="the reference model's summed completion log-probabilities",
    ),
    Input(
        "kl",
        "targets",
        shape="1 |",
        dtype="float",
        optional=True,
        doc="the KL reference point z_ref (clamped at 0); or give kl_logps and ref_kl_logps",
    ),
    Input(
        "kl_logps",
        "targets",
        shape="K",
        dtype="float",
        optional=True,
        doc="the policy's summed log-probabilities of mismatched completions (computed without gradient)",
    ),
    Input(
        "ref_kl_logps",
        "targets",
        shape="K",
        dtype="float",
        optional=True,
        doc="the reference model's summed log-probabilities of the same mismatched completions",
    ),
)


def kto_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> tuple[dict[str, Any], ...]:
    """Example inputs for the conformance checker: ``batch_size`` completions
    as ``[5, 7]`` logits, labels whose first two positions are the prompt,
    alternating desirability, reference log-probs and the KL completions'
    log-probs."""
    logits = torch.randn(batch_size, 5, 7, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, 7, (batch_size, 5))
    labels[:, :2] = -100
    targets = {
        "labels": labels,
        "desirable": torch.arange(batch_size) % 2 == 0,
        "ref_logps": -3.0 - torch.rand(batch_size, dtype=dtype),
        "kl_logps": -3.0 - torch.rand(batch_size, dtype=dtype),
        "ref_kl_logps": -3.5 - torch.rand(batch_size, dtype=dtype),
    }
    return {"logits": logits}, targets, {}


@register_loss(inputs=[*KTO_INPUTS, *POLICY_INPUTS, *KTO_REFERENCE_INPUTS], example_inputs=kto_example)
def kto(
    labels: torch.Tensor,
    desirable: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    log_probs: torch.Tensor | None = None,
    ref_logps: torch.Tensor | None = None,
    kl: torch.Tensor | None = None,
    kl_logps: torch.Tensor | None = None,
    ref_kl_logps: torch.Tensor | None = None,
    *,
    beta: Annotated[float, Range(gt=0)] = 0.1,
    desirable_weight: Annotated[float, Range(ge=0)] = 1.0,
    undesirable_weight: Annotated[float, Range(ge=0)] = 1.0,
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto",
    reference_free: bool = False,
    ignore_index: int = -100,
    shift: bool | None = None,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
) -> LossReturn:
    r"""KTO: a prospect-theoretic loss on unpaired desirable and undesirable completions.

    Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect
    Theoretic Optimization", arXiv:2402.01306, as TRL's ``KTOTrainer``
    computes it.

    **Batch.** :math:`B` completions, each desirable or not (``desirable``
    ``[B]``, bool or 0/1); the policy as ``logits`` ``[B, T, V]``,
    ``hidden_states`` ``[B, T, H]`` with ``lm_head_weight`` (chunked over
    sequences) or per-token ``log_probs``; ``labels`` ``[B, T]`` with
    ``ignore_index`` at the prompt and the padding (``shift`` as for
    :func:`losses_llm.dpo`); ``ref_logps`` ``[B]``, the reference model's
    summed completion log-probabilities.

    **KL reference point.** :math:`z_\mathrm{ref}` estimates
    :math:`\mathrm{KL}(\pi\,\|\,\pi_\mathrm{ref})` from mismatched
    (prompt, completion) pairs, as TRL: give ``kl_logps`` and
    ``ref_kl_logps`` ``[K]``, the summed log-probabilities of those
    completions under the policy (computed without gradient) and the
    reference model, for :math:`z_\mathrm{ref} = \max(0,
    \mathrm{mean}(\texttt{kl\_logps} - \texttt{ref\_kl\_logps}))`; or give
    ``kl``, the value itself (e.g. averaged over data-parallel ranks first,
    as TRL does), clamped at 0. Either way it is detached. ``loss_type="kto"``
    needs one of them; ``"apo_zero_unpaired"`` takes none.

    **Formula.** With :math:`r = \log\pi(y) - \log\pi_\mathrm{ref}(y)` (0
    reference with ``reference_free``) and :math:`\lambda_D,\lambda_U` =
    ``desirable_weight``, ``undesirable_weight``, the loss of a completion is

    - ``"kto"`` (the paper's Eq. 7 less the constant):
      :math:`\lambda_D(1 - \sigma(\beta(r - z_\mathrm{ref})))` if desirable,
      :math:`\lambda_U(1 - \sigma(\beta(z_\mathrm{ref} - r)))` otherwise;
    - ``"apo_zero_unpaired"`` (D'Oosterlinck et al. 2024,
      arXiv:2408.06266): :math:`\lambda_D(1 - \sigma(\beta r))` and
      :math:`\lambda_U\sigma(\beta r)`;

    averaged over the :math:`B'` sequences that have a completion token
    (others are left out; none gives 0 connected to the graph), as TRL's mean
    over the batch:

    .. math:: \mathcal{L} = \frac{1}{B'}\sum_{i=1}^{B'} \lambda_{y_i}
              \big(1 - \sigma(\beta\,s_i (r_i - z_\mathrm{ref}))\big)

    for ``"kto"``, with :math:`s_i = +1` for a desirable completion and
    :math:`-1` otherwise.

    :param beta: :math:`\beta`, default 0.1.
    :param desirable_weight: :math:`\lambda_D`, default 1.0.
    :param undesirable_weight: :math:`\lambda_U`, default 1.0.
    :param loss_type: ``"kto"`` (default) or ``"apo_zero_unpaired"``.
    :param reference_free: default ``False``; ``True`` takes no
        ``ref_logps`` (they count as 0) and rejects them if given.
    :param ignore_index: the label of unscored positions, default -100.
    :param shift: as for :func:`losses_llm.dpo`.
    :param chunk_size: sequences per chunk on the ``hidden_states`` path.
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics: ``kl``
        (:math:`z_\mathrm{ref}`, 0 for ``apo_zero_unpaired``),
        ``rewards_chosen`` and ``rewards_rejected`` (the mean :math:`\beta r`
        of the desirable and the undesirable completions), ``rewards_margins``
        (their difference), ``logps_chosen`` and ``logps_rejected`` (mean
        summed log-probs), ``num_desirable`` and ``num_undesirable``;
        auxiliary ``logps``, the ``[B]`` summed policy log-probs.
    """
    source = policy_source("kto", logits, hidden_states, lm_head_weight, lm_head_bias, log_probs)
    check_chunk_size("kto", "chunk_size", chunk_size, source)
    dtype = work_dtype(source, logits, hidden_states, lm_head_weight, log_probs)
    targets = targets_for(
        "kto", source, labels, ignore_index=ignore_index, shift=shift, dtype=dtype, paired=False
    )
    ref = _reference(ref_logps, reference_free, labels.shape[0], dtype, labels.device)
    z = _reference_point(loss_type, kl, kl_logps, ref_kl_logps, dtype, labels.device)
    wanted = (desirable != 0).unsqueeze(1)
    valid = (targets.counts > 0).to(dtype)
    scored = valid.sum()
    weight = torch.where(
        wanted, torch.full_like(valid, desirable_weight), torch.full_like(valid, undesirable_weight)
    )

    def terms(sums: torch.Tensor, rows: slice) -> torch.Tensor:
        r = sums - ref[rows]
        if loss_type == "kto":
            gain = torch.where(wanted[rows], r - z, z - r)
            losses = 1 - torch.sigmoid(beta * gain)
        else:
            s = torch.sigmoid(beta * r)
            losses = torch.where(wanted[rows], 1 - s, s)
        kept = torch.where(valid[rows] > 0, weight[rows] * losses, torch.zeros_like(losses))
        return safe_divide(kept.sum(), scored)

    result = score_sequences(
        source,
        (logits, hidden_states, lm_head_weight, lm_head_bias),
        log_probs,
        targets,
        terms,
        chunk_rows=chunk_size,
    )
    sums = result.sums
    rewards = (beta * (sums - ref)).squeeze(1)
    chosen = (valid * wanted).squeeze(1)
    rejected = (valid * ~wanted).squeeze(1)
    rewards_chosen = mean_over(rewards, chosen)
    rewards_rejected = mean_over(rewards, rejected)
    metrics = {
        "kl": z,
        "rewards_chosen": rewards_chosen,
        "rewards_rejected": rewards_rejected,
        "rewards_margins": rewards_chosen - rewards_rejected,
        "logps_chosen": mean_over(sums.squeeze(1), chosen),
        "logps_rejected": mean_over(sums.squeeze(1), rejected),
        "num_desirable": chosen.sum(),
        "num_undesirable": rejected.sum(),
    }
    return loss_result(result.loss, metrics=metrics, auxiliary={"logps": sums.squeeze(1)})


def _reference(
    ref_logps: torch.Tensor | None, reference_free: bool, rows: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    if reference_free:
        if ref_logps is not None:
            raise LossInputError(
                "kto: reference_free=True uses no reference model, but input 'ref_logps' is given; drop it "
                "or set reference_free=False"
            )
        return torch.zeros(rows, 1, dtype=dtype, device=device)
    if ref_logps is None:
        raise MissingInputError(
            "kto: input 'ref_logps' (targets['ref_logps'], [B] summed completion log-probabilities of the "
            "reference model) is required unless reference_free=True"
        )
    return ref_logps.detach().to(dtype).unsqueeze(1)


def _reference_point(
    loss_type: str,
    kl: torch.Tensor | None,
    kl_logps: torch.Tensor | None,
    ref_kl_logps: torch.Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """:math:`z_\\mathrm{ref}`, detached, 0-dim (0 for ``apo_zero_unpaired``)."""
    given = [
        n for n, v in (("kl", kl), ("kl_logps", kl_logps), ("ref_kl_logps", ref_kl_logps)) if v is not None
    ]
    if loss_type != "kto":
        if given:
            raise LossInputError(
                f"kto: loss_type={loss_type!r} uses no KL reference point, but input "
                f"{' and '.join(repr(g) for g in given)} is given"
            )
        return torch.zeros((), dtype=dtype, device=device)
    if kl is not None:
        if kl_logps is not None or ref_kl_logps is not None:
            raise LossInputError(
                "kto: give the KL reference point either as input 'kl' or as inputs 'kl_logps' and "
                "'ref_kl_logps', not both"
            )
        return kl.detach().to(dtype).reshape(()).clamp(min=0)
    if kl_logps is None or ref_kl_logps is None:
        missing = "kl_logps" if kl_logps is None else "ref_kl_logps"
        raise MissingInputError(
            f"kto: input {missing!r} is missing: loss_type='kto' needs the KL reference point, as input 'kl' "
            f"or as inputs 'kl_logps' and 'ref_kl_logps' (summed log-probabilities of mismatched completions "
            f"under the policy and the reference model)"
        )
    return (kl_logps.detach().to(dtype) - ref_kl_logps.detach().to(dtype)).mean().clamp(min=0)
