"""The cases of the losses-llm benchmarks: inputs and the variants that compete on them.

A case builds its inputs once (:meth:`Case.make`) and every variant is a
function of those inputs that returns the 0-dim loss; a benchmark runs
``variant(inputs).backward()`` (forward and backward), which fills ``.grad``
of the inputs that require it (the hidden states and the LM head's weight).
The same cases serve the CPU benchmark (``bench_llm.py``, float32) and the
CUDA one (``bench_llm_cuda.py``, bfloat16): a case is built for a device and a
dtype, at a ``scale`` of ``"full"`` (the benchmarked shape) or ``"tiny"`` (a
few tokens, used to warm a fresh process up without allocating at the
benchmarked size).

Our variants call the losses as users call them: the protocol functions
``losses_llm.causal_lm`` / ``dpo`` / ``grpo`` with ``model_output`` and
``targets`` dicts, so the times include losses-core's checks of the declared
inputs and parameters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

Inputs = dict[str, Any]
Variant = Callable[[Inputs], torch.Tensor]
IGNORE = -100


@dataclass(frozen=True)
class Shape:
    """``batch`` rows (sequences; pairs for DPO) of ``seq`` tokens, hidden size, vocabulary."""

    batch: int
    seq: int
    hidden: int
    vocab: int

    def text(self, rows: str = "sequences") -> str:
        return f"B={self.batch} {rows} x T={self.seq}, H={self.hidden}, V={self.vocab:,}"


@dataclass
class Case:
    """A benchmark case: how to build its inputs and the variants that compete on them.

    ``ours`` and ``reference`` name the two variants whose ratio is budgeted
    (ours / reference); ``variants`` may hold more, reported for information.
    """

    name: str
    title: str
    shape: Shape
    tiny: Shape
    build: Callable[[Shape, torch.device, torch.dtype, torch.Generator], Inputs]
    variants: dict[str, Variant]
    ours: str
    reference: str
    rows: str = "sequences"
    leaves: tuple[str, ...] = ("hidden_states", "lm_head_weight")
    notes: list[str] = field(default_factory=list)

    def make(
        self, scale: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> Inputs:
        shape = self.shape if scale == "full" else self.tiny
        generator = torch.Generator()  # a fresh generator: the same inputs in every process
        return self.build(shape, torch.device(device), dtype, generator)

    def describe(self) -> str:
        return self.shape.text(self.rows)


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# -- shared inputs ------------------------------------------------------------------
def _head(
    rows: int, seq: int, shape: Shape, device: torch.device, dtype: torch.dtype, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states ``[rows, seq, H]`` and an LM head ``[V, H]`` whose logits
    have unit scale, both leaves that require grad. Generated in float32 on the
    CPU (the same numbers on every device), then moved and cast once."""
    hidden = torch.randn(rows, seq, shape.hidden, generator=g)
    weight = torch.randn(shape.vocab, shape.hidden, generator=g).mul_(shape.hidden**-0.5)
    hidden = hidden.to(device=device, dtype=dtype).requires_grad_(True)
    weight = weight.to(device=device, dtype=dtype).requires_grad_(True)
    return hidden, weight


def _labels(
    rows: int, seq: int, vocab: int, prompt: int, g: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Token ids ``[rows, seq]`` whose first ``prompt`` positions are ``-100``
    (a prompt that is not scored)."""
    labels = torch.randint(0, vocab, (rows, seq), generator=g)
    labels[:, :prompt] = IGNORE
    return labels.to(device)


def shifted(labels: torch.Tensor) -> torch.Tensor:
    """The Hugging Face shift: position ``t`` is scored against ``labels[:, t + 1]``."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE)


# -- causal_lm ---------------------------------------------------------------------
def _causal_lm_inputs(shape: Shape, device: torch.device, dtype: torch.dtype, g: torch.Generator) -> Inputs:
    hidden, weight = _head(shape.batch, shape.seq, shape, device, dtype, g)
    labels = _labels(shape.batch, shape.seq, shape.vocab, shape.seq // 8, g, device)
    return {"hidden_states": hidden, "lm_head_weight": weight, "labels": labels}


def causal_lm_chunked(x: Inputs) -> torch.Tensor:
    """``losses_llm.causal_lm`` on the hidden states and the LM head (chunked)."""
    from losses_llm import causal_lm

    out = causal_lm(
        {"hidden_states": x["hidden_states"], "lm_head_weight": x["lm_head_weight"]}, {"labels": x["labels"]}
    )
    return out["loss"]


def causal_lm_logits(x: Inputs) -> torch.Tensor:
    """``losses_llm.causal_lm`` on logits computed by ``F.linear`` (the unchunked path)."""
    from losses_llm import causal_lm

    logits = F.linear(x["hidden_states"], x["lm_head_weight"])
    return causal_lm({"logits": logits}, {"labels": x["labels"]})["loss"]


def unfused_cross_entropy(x: Inputs) -> torch.Tensor:
    """What a causal LM does without a fused loss (transformers' ``ForCausalLMLoss``):
    ``F.linear`` to the ``[B, T, V]`` logits, upcast to float32, shifted labels,
    ``F.cross_entropy`` (mean over the target tokens). The logits are not kept
    beyond the call, the least memory this way can take."""
    vocab = x["lm_head_weight"].shape[0]
    logits = F.linear(x["hidden_states"], x["lm_head_weight"]).float()
    return F.cross_entropy(logits.view(-1, vocab), shifted(x["labels"]).view(-1), ignore_index=IGNORE)


def liger_fused_linear_cross_entropy(x: Inputs) -> torch.Tensor:
    """Liger-Kernel's Triton fused linear cross-entropy (GPU only)."""
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    hidden, weight = x["hidden_states"], x["lm_head_weight"]
    targets = shifted(x["labels"]).reshape(-1)
    return LigerFusedLinearCrossEntropyLoss()(weight, hidden.reshape(-1, hidden.shape[-1]), targets)


def cut_cross_entropy(x: Inputs) -> torch.Tensor:
    """Apple's Cut Cross-Entropy (``impl="cce"``, its Triton kernels, GPU only;
    its default gradient filtering ``filter_eps="high"``)."""
    from cut_cross_entropy import linear_cross_entropy

    return linear_cross_entropy(
        x["hidden_states"], x["lm_head_weight"], x["labels"], shift=True, ignore_index=IGNORE, impl="cce"
    )


def causal_lm_case(shape: Shape) -> Case:
    return Case(
        name="causal_lm",
        title="causal_lm chunked vs F.linear + F.cross_entropy",
        shape=shape,
        tiny=Shape(2, 32, 32, 512),
        build=_causal_lm_inputs,
        variants={
            "chunked": causal_lm_chunked,
            "unfused": unfused_cross_entropy,
            "logits": causal_lm_logits,
            "liger": liger_fused_linear_cross_entropy,
            "cce": cut_cross_entropy,
        },
        ours="chunked",
        reference="unfused",
    )


# -- dpo -------------------------------------------------------------------------------
def _dpo_inputs(shape: Shape, device: torch.device, dtype: torch.dtype, g: torch.Generator) -> Inputs:
    """``shape.batch`` pairs: ``2 * batch`` sequences, the chosen first; the
    first quarter of every sequence is the prompt (not scored)."""
    rows = 2 * shape.batch
    hidden, weight = _head(rows, shape.seq, shape, device, dtype, g)
    labels = _labels(rows, shape.seq, shape.vocab, shape.seq // 4, g, device)
    return {"hidden_states": hidden, "lm_head_weight": weight, "labels": labels, "targets": shifted(labels)}


def dpo_chunked(x: Inputs) -> torch.Tensor:
    """``losses_llm.dpo`` (sigmoid) on the hidden states and the LM head, without a
    reference model (its log-probs count as 0, as Liger's ``use_ref_model=False``)."""
    from losses_llm import dpo

    model_output = {"hidden_states": x["hidden_states"], "lm_head_weight": x["lm_head_weight"]}
    return dpo(model_output, {"labels": x["labels"]}, loss_type="sigmoid", reference_free=True)["loss"]


def dpo_liger(x: Inputs) -> torch.Tensor:
    """Liger-Kernel's ``LigerFusedLinearDPOLoss`` (``compiled=False``, one pair per
    chunk, no reference model), on labels shifted as ours shifts them."""
    from liger_kernel.chunked_loss import LigerFusedLinearDPOLoss

    liger = LigerFusedLinearDPOLoss(compiled=False, use_ref_model=False, loss_type="sigmoid")
    loss, _ = liger(x["lm_head_weight"], x["hidden_states"], x["targets"])
    return loss


def dpo_case(shape: Shape) -> Case:
    return Case(
        name="dpo",
        title="dpo (sigmoid) chunked vs LigerFusedLinearDPOLoss",
        shape=shape,
        tiny=Shape(2, 16, 32, 512),
        build=_dpo_inputs,
        variants={"chunked": dpo_chunked, "liger": dpo_liger},
        ours="chunked",
        reference="liger",
        rows="pairs",
        notes=["no reference model on either side (reference_free=True / use_ref_model=False)"],
    )


# -- grpo ------------------------------------------------------------------------------
GRPO_PARAMS = {"beta": 0.04, "epsilon_low": 0.2, "epsilon_high": 0.28}


def _grpo_inputs(shape: Shape, device: torch.device, dtype: torch.dtype, g: torch.Generator) -> Inputs:
    """``shape.batch`` completions of ``shape.seq`` positions (already aligned:
    position ``t`` scores ``completion_ids[:, t]``), of random lengths between
    half and all of ``seq`` (the rest padding), one advantage per completion,
    and old and reference log-probs within about 0.2 of the current ones (so
    that some ratios are clipped)."""
    hidden, weight = _head(shape.batch, shape.seq, shape, device, dtype, g)
    ids = torch.randint(0, shape.vocab, (shape.batch, shape.seq), generator=g)
    lengths = torch.randint(shape.seq // 2, shape.seq + 1, (shape.batch,), generator=g)
    mask = (torch.arange(shape.seq)[None, :] < lengths[:, None]).float()
    advantages = torch.randn(shape.batch, generator=g)
    with torch.no_grad():  # the current log-probs, one sequence at a time
        current = torch.stack(
            [
                torch.log_softmax((hidden[i].float() @ weight.float().t()).cpu(), -1)
                .gather(-1, ids[i, :, None])
                .squeeze(-1)
                for i in range(shape.batch)
            ]
        )
    old = current + 0.2 * torch.randn(current.shape, generator=g)
    ref = current + 0.2 * torch.randn(current.shape, generator=g)
    extra = {"completion_ids": ids, "completion_mask": mask, "advantages": advantages, "old": old, "ref": ref}
    return {"hidden_states": hidden, "lm_head_weight": weight, **{k: v.to(device) for k, v in extra.items()}}


def grpo_chunked(x: Inputs) -> torch.Tensor:
    """``losses_llm.grpo`` (``loss_type="dapo"``) on the hidden states and the LM head."""
    from losses_llm import grpo

    model_output = {"hidden_states": x["hidden_states"], "lm_head_weight": x["lm_head_weight"]}
    targets = {
        "completion_ids": x["completion_ids"],
        "completion_mask": x["completion_mask"],
        "advantages": x["advantages"],
        "old_log_probs": x["old"],
        "ref_log_probs": x["ref"],
    }
    return grpo(
        model_output,
        targets,
        loss_type="dapo",
        beta=GRPO_PARAMS["beta"],
        epsilon=GRPO_PARAMS["epsilon_low"],
        epsilon_high=GRPO_PARAMS["epsilon_high"],
        use_bias_correction_kl=False,  # Liger's default
    )["loss"]


def grpo_liger(x: Inputs) -> torch.Tensor:
    """Liger-Kernel's ``LigerFusedLinearGRPOLoss`` (``compiled=False``,
    ``loss_type="dapo"``, one sequence per chunk)."""
    from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss

    liger = LigerFusedLinearGRPOLoss(compiled=False, loss_type="dapo", use_ref_model=True, **GRPO_PARAMS)
    loss, _ = liger(
        x["hidden_states"],
        x["lm_head_weight"],
        x["completion_ids"],
        x["completion_mask"],
        x["advantages"],
        ref_per_token_logps=x["ref"],
        old_per_token_logps=x["old"],
    )
    return loss


def grpo_case(shape: Shape) -> Case:
    return Case(
        name="grpo",
        title="grpo (dapo) chunked vs LigerFusedLinearGRPOLoss",
        shape=shape,
        tiny=Shape(2, 16, 32, 512),
        build=_grpo_inputs,
        variants={"chunked": grpo_chunked, "liger": grpo_liger},
        ours="chunked",
        reference="liger",
        notes=["beta 0.04 with reference log-probs, old log-probs, epsilon 0.2/0.28"],
    )


# -- the CPU and GPU shapes ------------------------------------------------------------
def cpu_cases() -> dict[str, Case]:
    """The cases of ``bench_llm.py``: CPU-sized, float32."""
    cases = [
        causal_lm_case(Shape(2, 1024, 512, 131_072)),
        dpo_case(Shape(8, 256, 512, 32_768)),
        grpo_case(Shape(8, 256, 512, 32_768)),
    ]
    return {case.name: case for case in cases}
