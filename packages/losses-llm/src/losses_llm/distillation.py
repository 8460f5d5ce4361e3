"""Token-level knowledge distillation: forward KL, reverse KL, generalised JSD or
TVD between a teacher's and a student's next-token distributions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F

from losses_core import Input, LossParameterError, LossReturn, Range, register_loss
from losses_core.reduction import safe_divide
from losses_core.results import loss_result
from losses_core.tensors import at_least_float32
from losses_llm._chunked import ChunkTerms, autograd_chunk, default_chunk_rows, linear_chunked_loss
from losses_llm._divergence_teacher import TEACHER_INPUTS, TeacherRows, teacher_rows
from losses_llm._divergences import Divergence, token_divergence
from losses_llm._sources import BIAS, HIDDEN_STATES, LM_HEAD_WEIGHT, LOGITS, policy_source
from losses_llm._tokens import label_log_probs, shift_labels

__all__ = ["distillation"]

_NAME = "distillation"
_DEFAULT_BETA = 0.5

LABELS = Input(
    "labels",
    "targets",
    shape="B T",
    dtype="int",
    doc="token ids (the input ids with shift=True), ignore_index where nothing is distilled",
)


def distillation_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: student and teacher logits
    ``[B, 6, 11]``, labels whose first two positions (a prompt) are ignored;
    the generalised JSD at temperature 2 with a hard-label term."""
    logits = torch.randn(batch_size, 6, 11, dtype=dtype, requires_grad=True)
    teacher_logits = torch.randn(batch_size, 6, 11, dtype=dtype)
    labels = torch.randint(0, 11, (batch_size, 6))
    labels[:, :2] = -100
    params = {"divergence": "jsd", "beta": 0.5, "temperature": 2.0, "hard_label_weight": 0.5}
    return {"logits": logits}, {"teacher_logits": teacher_logits, "labels": labels}, params


@register_loss(
    inputs=[LABELS, LOGITS, HIDDEN_STATES, LM_HEAD_WEIGHT, BIAS, *TEACHER_INPUTS],
    example_inputs=distillation_example,
)
def distillation(
    labels: torch.Tensor,
    logits: torch.Tensor | None = None,
    hidden_states: torch.Tensor | None = None,
    lm_head_weight: torch.Tensor | None = None,
    lm_head_bias: torch.Tensor | None = None,
    teacher_logits: torch.Tensor | None = None,
    teacher_hidden_states: torch.Tensor | None = None,
    teacher_lm_head_weight: torch.Tensor | None = None,
    teacher_lm_head_bias: torch.Tensor | None = None,
    *,
    divergence: Divergence = "forward_kl",
    beta: Annotated[float, Range(ge=0, le=1)] | None = None,
    temperature: Annotated[float, Range(gt=0)] = 1.0,
    temperature_squared: bool = False,
    hard_label_weight: Annotated[float, Range(ge=0)] = 0.0,
    ignore_index: int = -100,
    shift: bool = True,
    chunk_size: Annotated[int, Range(ge=1)] | None = None,
    num_items_in_batch: torch.Tensor | Annotated[int, Range(ge=1)] | None = None,
    reduction: Literal["mean", "sum"] = "mean",
) -> LossReturn:
    r"""Knowledge distillation: a divergence between teacher and student next-token distributions.

    For every target token :math:`i` (label not ``ignore_index``, after the
    shift), with student and teacher logits :math:`z^S_i, z^T_i` and
    temperature :math:`\tau`, :math:`p_S = \mathrm{softmax}(z^S_i/\tau)`,
    :math:`p_T = \mathrm{softmax}(z^T_i/\tau)`, the per-token divergence
    :math:`D_i` is, by ``divergence``:

    .. math::
        \text{forward\_kl}: &\ \mathrm{KL}(p_T \| p_S) = \textstyle\sum_v p_{T,v}
            (\log p_{T,v} - \log p_{S,v}) \\
        \text{reverse\_kl}: &\ \mathrm{KL}(p_S \| p_T) = \textstyle\sum_v p_{S,v}
            (\log p_{S,v} - \log p_{T,v}) \\
        \text{jsd}: &\ \beta\, \mathrm{KL}(p_T \| m) + (1-\beta)\, \mathrm{KL}(p_S \| m),
            \quad m = \beta p_T + (1-\beta) p_S \\
        \text{tvd}: &\ \tfrac12 \textstyle\sum_v |p_{S,v} - p_{T,v}|

    and the loss, with :math:`s = \tau^2` when ``temperature_squared`` (else
    1), hard-label weight :math:`w` and :math:`\mathrm{CE}_i = -\log
    \mathrm{softmax}(z^S_i)_{y_i}` (at temperature 1):

    .. math:: L = \frac{1}{N} \sum_{i} \bigl(s\, D_i + w\, \mathrm{CE}_i\bigr)

    with :math:`N` the number of target tokens (``reduction="mean"``),
    ``num_items_in_batch`` when given, or 1 (``reduction="sum"``).

    Generalised JSD (``"jsd"``): the mixture :math:`m` is formed in log space
    (``logaddexp``); :math:`\beta = 0` gives exactly the forward KL and
    :math:`\beta = 1` the reverse KL, the convention of TRL 1.13
    (``GKDTrainer.generalized_jsd_loss``) and Liger-Kernel 0.8.5
    (``LigerFusedLinearJSDLoss``), which agree. The mixture formula itself
    tends to 0 at both ends, as :math:`\beta\,\mathrm{KL}(p_T\|p_S)` for small
    :math:`\beta` and :math:`(1-\beta)\,\mathrm{KL}(p_S\|p_T)` near 1; the end
    points are the limits of :math:`D/\beta` and :math:`D/(1-\beta)`.

    Inputs. The student, from ``model_output``: ``logits`` ``[B, T, V]``, or
    ``hidden_states`` ``[B, T, H]`` with ``lm_head_weight`` ``[V, H]`` (and
    ``lm_head_bias`` ``[V]``), fed through the head ``chunk_size`` tokens at a
    time (default about 2**24 logits per chunk) so that neither the student's
    nor the teacher's ``[B*T, V]`` logits are ever held whole, with the
    student's gradients computed chunk by chunk. The teacher, from
    ``targets``: ``teacher_logits`` ``[B, T, V]``, or
    ``teacher_hidden_states`` ``[B, T, H_t]`` with ``teacher_lm_head_weight``
    ``[V, H_t]`` (and ``teacher_lm_head_bias``), ``H_t`` possibly differing
    from ``H``; the teacher never receives a gradient. ``labels`` ``[B, T]``
    from ``targets`` select the target tokens (and are the hard labels).

    Parameters:

    - ``divergence="forward_kl"``: ``"forward_kl"`` (Hinton et al. 2015),
      ``"reverse_kl"`` (MiniLLM), ``"jsd"`` or ``"tvd"``.
    - ``beta=None``: the JSD weight :math:`\beta \in [0, 1]`, 0.5 when not
      given; only with ``divergence="jsd"`` (any other divergence rejects it).
    - ``temperature=1.0``: :math:`\tau > 0`, dividing both logits in the
      divergence (not in the hard-label term).
    - ``temperature_squared=False``: multiply the divergence by
      :math:`\tau^2`, Hinton et al.'s convention, which keeps the size of the
      gradient as :math:`\tau` changes. Off by default, like TRL's and
      Liger's losses, whose values this loss then equals.
    - ``hard_label_weight=0.0``: :math:`w`, the weight of the cross-entropy
      of the student on the labels, added to the loss.
    - ``ignore_index=-100``: the label of tokens that are not distilled.
    - ``shift=True``: the labels are the unshifted input ids (Hugging Face
      causal LMs): position ``t`` is distilled when ``labels[:, t + 1]`` is a
      target, and the last position never is. ``shift=False``: the labels are
      aligned with the logits (as TRL's and Liger's losses take them).
    - ``chunk_size=None``: tokens per chunk on the hidden-states path only
      (the logits path rejects it).
    - ``num_items_in_batch=None``: with ``"mean"`` only, the global count of
      target tokens of a gradient-accumulation step to divide by instead of
      the local count.
    - ``reduction="mean"``: ``"mean"`` or ``"sum"`` as above. A batch with no
      target token gives 0 connected to the graph.

    Float16/bfloat16 inputs are computed in float32; the loss is float32
    (float64 for float64 inputs).

    :returns: ``{"loss", "metrics"}`` with the metrics ``divergence``
        (:math:`\sum_i D_i / N`, without the :math:`\tau^2` factor),
        ``hard_ce`` (:math:`\sum_i \mathrm{CE}_i / N`, when ``w > 0``),
        ``num_tokens`` (local target tokens) and ``agreement`` (the fraction
        of target tokens where the student's and the teacher's top-1 tokens
        agree).

    Papers: Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
    Network", 2015 (arXiv:1503.02531); Agarwal et al., "On-Policy
    Distillation of Language Models: Learning from Self-Generated Mistakes"
    (GKD), ICLR 2024 (arXiv:2306.13649); Gu et al., "MiniLLM: Knowledge
    Distillation of Large Language Models", ICLR 2024 (arXiv:2306.08543);
    Wen et al., "f-Divergence Minimization for Sequence-Level Knowledge
    Distillation", ACL 2023 (arXiv:2307.15190).
    """
    jsd_beta = _check_parameters(divergence, beta, num_items_in_batch, reduction)
    source = policy_source(_NAME, logits, hidden_states, lm_head_weight, lm_head_bias, allow_log_probs=False)
    if source == "logits" and chunk_size is not None:
        raise LossParameterError(
            f"loss {_NAME!r}: parameter 'chunk_size' applies only to the hidden-states path "
            f"(hidden_states with lm_head_weight); the call gives 'logits'"
        )
    teacher = teacher_rows(
        _NAME, teacher_logits, teacher_hidden_states, teacher_lm_head_weight, teacher_lm_head_bias
    )
    targets = (shift_labels(labels, ignore_index) if shift else labels).reshape(-1)
    mask = targets != ignore_index
    count = mask.sum()
    denominator = _denominator(count, num_items_in_batch, reduction)
    terms = _terms(
        teacher,
        targets,
        mask,
        denominator,
        divergence=divergence,
        beta=jsd_beta,
        temperature=temperature,
        scale=temperature**2 if temperature_squared else 1.0,
        hard_label_weight=hard_label_weight,
    )
    if source == "logits":
        assert logits is not None
        loss, stats = terms(at_least_float32(logits).reshape(-1, logits.shape[-1]), slice(None))
    else:
        assert hidden_states is not None and lm_head_weight is not None
        vocab = lm_head_weight.shape[0]
        loss, stats = linear_chunked_loss(
            hidden_states.reshape(-1, hidden_states.shape[-1]),
            lm_head_weight,
            lm_head_bias,
            autograd_chunk(terms),
            chunk_rows=chunk_size or default_chunk_rows(vocab),
        )
    return loss_result(loss, metrics=_metrics(stats, count, denominator))


def _check_parameters(
    divergence: Divergence,
    beta: float | None,
    num_items_in_batch: torch.Tensor | int | None,
    reduction: str,
) -> float:
    """The JSD weight to use; errors for parameters the call's settings do not use."""
    if beta is not None and divergence != "jsd":
        raise LossParameterError(
            f"loss {_NAME!r}: parameter 'beta' (the JSD weight) applies only to divergence='jsd', "
            f"got divergence={divergence!r}"
        )
    if num_items_in_batch is not None and reduction != "mean":
        raise LossParameterError(
            f"loss {_NAME!r}: parameter 'num_items_in_batch' only applies to reduction='mean', "
            f"got reduction={reduction!r}"
        )
    return _DEFAULT_BETA if beta is None else float(beta)


Denominator = torch.Tensor | int | None
"""What the summed loss is divided by: the local token count (a tensor, 0
allowed), ``num_items_in_batch`` (an int or a tensor), or nothing (``"sum"``)."""


def _denominator(
    count: torch.Tensor, num_items_in_batch: torch.Tensor | int | None, reduction: str
) -> Denominator:
    if reduction == "sum":
        return None
    return count if num_items_in_batch is None else num_items_in_batch


def _divide(total: torch.Tensor, denominator: Denominator) -> torch.Tensor:
    """``total / denominator``; a zero tensor denominator gives a graph-connected 0."""
    if denominator is None:
        return total
    if isinstance(denominator, torch.Tensor):
        return safe_divide(total, denominator.to(device=total.device, dtype=total.dtype))
    return total / denominator


def _terms(
    teacher: TeacherRows,
    targets: torch.Tensor,
    mask: torch.Tensor,
    denominator: Denominator,
    *,
    divergence: Divergence,
    beta: float,
    temperature: float,
    scale: float,
    hard_label_weight: float,
) -> ChunkTerms:
    """The loss share and the summed statistics of any slice of the flattened
    tokens, given the student's float32 (float64) logits of that slice."""

    def terms(logits: torch.Tensor, rows: slice) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        teacher_logits = teacher(rows).to(logits.dtype)
        labels, selected = targets[rows], mask[rows]
        student_log_probs = F.log_softmax(logits if temperature == 1 else logits / temperature, dim=-1)
        teacher_log_probs = F.log_softmax(
            teacher_logits if temperature == 1 else teacher_logits / temperature, dim=-1
        )
        per_token = token_divergence(student_log_probs, teacher_log_probs, divergence, beta)
        divergence_sum = torch.where(selected, per_token, torch.zeros_like(per_token)).sum()
        total = divergence_sum if scale == 1 else scale * divergence_sum
        with torch.no_grad():
            agree = (selected & (logits.argmax(dim=-1) == teacher_logits.argmax(dim=-1))).sum()
        stats = {"divergence": divergence_sum.detach(), "agree": agree}
        if hard_label_weight > 0:
            ce_sum = -label_log_probs(logits, labels, selected).sum()
            total = total + hard_label_weight * ce_sum
            stats["hard_ce"] = ce_sum.detach()
        return _divide(total, denominator), stats

    return terms


def _metrics(
    stats: Mapping[str, torch.Tensor], count: torch.Tensor, denominator: Denominator
) -> dict[str, torch.Tensor]:
    divergence = stats["divergence"]
    metrics = {
        "divergence": _divide(divergence, denominator),
        "num_tokens": count,
        "agreement": safe_divide(stats["agree"].to(divergence.dtype), count.to(divergence.dtype)),
    }
    if "hard_ce" in stats:
        metrics["hard_ce"] = _divide(stats["hard_ce"], denominator)
    return metrics
