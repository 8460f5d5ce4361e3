"""losses_llm.distillation: forward KL, reverse KL, generalised JSD and TVD
between teacher and student, against torch's ``kl_div``, TRL's GKD loss
(transcribed), Liger-Kernel's fused linear JSD loss and token-by-token loops
from the papers; the chunked hidden-states path against the logits path; the
JSD's end points, temperature, the teacher's missing gradient, empty batches,
errors, conformance and config."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _distill_paper import paper_loss
from _distill_trl import generalized_jsd_loss

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import distillation

B, T, V, H, H_T = 2, 5, 11, 6, 9
N = B * T
DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "tvd")


def _labels(seed: int = 0, ignored: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 3))) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, V, (B, T), generator=g)
    for b, t in ignored:
        labels[b, t] = -100
    return labels


def _logits(
    dtype: torch.dtype = torch.float64, seed: int = 0, scale: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    student = (scale * torch.randn(B, T, V, generator=g, dtype=dtype)).requires_grad_(True)
    teacher = scale * torch.randn(B, T, V, generator=g, dtype=dtype)
    return student, teacher


def _heads(
    dtype: torch.dtype = torch.float64, bias: bool = True, seed: int = 1
) -> dict[str, torch.Tensor | None]:
    """Student hidden states and head (leaves that require grad) and the
    teacher's, of another hidden size."""
    g = torch.Generator().manual_seed(seed)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(True)

    return {
        "hidden_states": leaf(B, T, H),
        "lm_head_weight": leaf(V, H),
        "lm_head_bias": leaf(V) if bias else None,
        "teacher_hidden_states": torch.randn(B, T, H_T, generator=g, dtype=dtype),
        "teacher_lm_head_weight": torch.randn(V, H_T, generator=g, dtype=dtype),
        "teacher_lm_head_bias": torch.randn(V, generator=g, dtype=dtype) if bias else None,
    }


def _head_logits(hidden, weight, bias):
    logits = hidden @ weight.t()
    return logits if bias is None else logits + bias


def _call(model_output, targets, **params):
    mo = {k: v for k, v in model_output.items() if v is not None}
    tg = {k: v for k, v in targets.items() if v is not None}
    return distillation(mo, tg, **params)


def _kl_div_oracle(student, teacher, labels, divergence, temperature, shift=True):
    """Masked token mean of torch's ``kl_div``; forward: KL(teacher || student)."""
    ls = F.log_softmax(student / temperature, dim=-1)
    lt = F.log_softmax(teacher / temperature, dim=-1)
    if divergence == "forward_kl":
        per_token = F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1)
    else:
        per_token = F.kl_div(lt, ls, reduction="none", log_target=True).sum(-1)
    targets = F.pad(labels[:, 1:], (0, 1), value=-100) if shift else labels
    mask = targets != -100
    return per_token[mask].sum() / mask.sum()


# -- oracles -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("divergence", ["forward_kl", "reverse_kl"])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("shift", [True, False])
def test_kl_divergences_equal_torch_kl_div(dtype, divergence, temperature, shift):
    student, teacher = _logits(dtype)
    labels = _labels()
    result = distillation(
        {"logits": student},
        {"teacher_logits": teacher, "labels": labels},
        divergence=divergence,
        temperature=temperature,
        shift=shift,
    )
    expected = _kl_div_oracle(student, teacher, labels, divergence, temperature, shift)
    atol = 1e-5 if dtype == torch.float32 else 1e-7
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=atol)
    (grad,) = torch.autograd.grad(result["loss"], student)
    (expected_grad,) = torch.autograd.grad(expected, student)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=atol)


@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jsd_equals_trl_generalized_jsd_loss(beta, temperature, dtype):
    student, teacher = _logits(dtype)
    labels = _labels()
    got = distillation(
        {"logits": student},
        {"teacher_logits": teacher, "labels": labels},
        divergence="jsd",
        beta=beta,
        temperature=temperature,
        shift=False,
    )["loss"]
    want = generalized_jsd_loss(student, teacher, labels, beta=beta, temperature=temperature)
    atol = 1e-5 if dtype == torch.float32 else 1e-7
    torch.testing.assert_close(got, want, rtol=0, atol=atol)
    grads = torch.autograd.grad(got, student)[0], torch.autograd.grad(want, student)[0]
    torch.testing.assert_close(*grads, rtol=0, atol=atol)


def test_shift_equals_trl_on_sliced_logits_and_num_items_in_batch_divides_the_sum():
    """GKDTrainer slices the logits ``[:, :-1]`` and the labels ``[:, 1:]``;
    ``shift=True`` gives the same without slicing; TRL's and this loss's
    ``num_items_in_batch`` both divide the summed divergence."""
    student, teacher = _logits()
    labels = _labels()
    for num_items in (None, 17, torch.tensor(17)):
        got = distillation(
            {"logits": student},
            {"teacher_logits": teacher, "labels": labels},
            divergence="jsd",
            beta=0.3,
            num_items_in_batch=num_items,
        )["loss"]
        want = generalized_jsd_loss(
            student[:, :-1], teacher[:, :-1], labels[:, 1:], beta=0.3, num_items_in_batch=num_items
        )
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def _liger(heads, labels, *, beta, temperature, hard_weight, chunk_size):
    from liger_kernel.chunked_loss import LigerFusedLinearJSDLoss

    module = LigerFusedLinearJSDLoss(
        weight_hard_loss=hard_weight,
        weight_soft_loss=1.0,
        beta=beta,
        temperature=temperature,
        compiled=False,
        chunk_size=chunk_size,
        return_soft_hard_loss=True,
    )
    return module(
        heads["hidden_states"].reshape(N, H),
        heads["lm_head_weight"],
        heads["teacher_hidden_states"].reshape(N, H_T),
        heads["teacher_lm_head_weight"],
        labels.reshape(N),
        heads["lm_head_bias"],
        heads["teacher_lm_head_bias"],
    )


@pytest.mark.parametrize(
    ("divergence", "beta"),
    [("jsd", 0.3), ("jsd", 0.5), ("jsd", 0.0), ("jsd", 1.0), ("forward_kl", 0.0), ("reverse_kl", 1.0)],
)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("hard_weight", [0.0, 0.5])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("teacher", ["hidden", "logits"])
def test_chunked_path_equals_liger_fused_linear_jsd_loss(
    divergence, beta, temperature, hard_weight, bias, teacher
):
    """Liger's loss (no shift, mean over target tokens, the hard CE of the
    untempered student, no tau**2) in float32: loss, metrics and the
    gradients of the student's hidden states, weight and bias within 1e-5.
    Liger's ``beta`` 0 and 1 are the forward and reverse KL."""
    heads = _heads(torch.float32, bias=bias)
    labels = _labels()
    leaves = [heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias") if heads[k] is not None]
    model_output = {k: heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")}
    targets = {"labels": labels}
    if teacher == "hidden":
        targets |= {
            k: heads[k] for k in ("teacher_hidden_states", "teacher_lm_head_weight", "teacher_lm_head_bias")
        }
    else:
        targets["teacher_logits"] = _head_logits(
            heads["teacher_hidden_states"], heads["teacher_lm_head_weight"], heads["teacher_lm_head_bias"]
        )
    params = {"beta": beta} if divergence == "jsd" else {}
    result = _call(
        model_output,
        targets,
        divergence=divergence,
        temperature=temperature,
        hard_label_weight=hard_weight,
        shift=False,
        chunk_size=4,
        **params,
    )
    loss, soft, hard = _liger(
        heads, labels, beta=beta, temperature=temperature, hard_weight=hard_weight, chunk_size=4
    )
    torch.testing.assert_close(result["loss"], loss, rtol=0, atol=1e-5)
    torch.testing.assert_close(result["metrics"]["divergence"], soft, rtol=0, atol=1e-5)
    if hard_weight:
        torch.testing.assert_close(result["metrics"]["hard_ce"], hard, rtol=0, atol=1e-5)
    got = torch.autograd.grad(result["loss"], leaves)
    want = torch.autograd.grad(loss, leaves)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-5)


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize(
    ("reduction", "num_items"), [("mean", None), ("sum", None), ("mean", 23), ("mean", torch.tensor(23))]
)
@pytest.mark.parametrize("shift", [True, False])
def test_every_divergence_and_normalisation_equals_the_token_loop_from_the_papers(
    divergence, reduction, num_items, shift
):
    student, teacher = _logits()
    labels = _labels()
    beta = 0.3 if divergence == "jsd" else 0.5
    params = {"beta": beta} if divergence == "jsd" else {}
    got = distillation(
        {"logits": student},
        {"teacher_logits": teacher, "labels": labels},
        divergence=divergence,
        temperature=1.5,
        temperature_squared=True,
        hard_label_weight=0.25,
        shift=shift,
        reduction=reduction,
        num_items_in_batch=num_items,
        **params,
    )["loss"]
    want = paper_loss(
        student,
        teacher,
        labels,
        divergence=divergence,
        beta=beta,
        temperature=1.5,
        scale=1.5**2,
        hard_weight=0.25,
        shift=shift,
        reduction=reduction,
        num_items=None if num_items is None else float(num_items),
    )
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    grads = torch.autograd.grad(got, student)[0], torch.autograd.grad(want, student)[0]
    torch.testing.assert_close(*grads, rtol=0, atol=1e-10)


def test_tvd_equals_half_the_l1_distance_of_the_distributions():
    """TVD (Wen et al. 2023) straight from its definition, as a masked mean."""
    student, teacher = _logits()
    labels = _labels()
    got = distillation(
        {"logits": student}, {"teacher_logits": teacher, "labels": labels}, divergence="tvd", shift=False
    )
    per_token = 0.5 * (student.softmax(-1) - teacher.softmax(-1)).abs().sum(-1)
    mask = labels != -100
    torch.testing.assert_close(got["loss"], per_token[mask].mean(), rtol=0, atol=1e-12)
    assert 0 < got["loss"].item() <= 1


# -- properties --------------------------------------------------------------


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("chunk_size", [1, 3, N])
@pytest.mark.parametrize("teacher", ["hidden", "logits"])
@pytest.mark.parametrize("bias", [True, False])
def test_chunked_path_equals_logits_path(divergence, chunk_size, teacher, bias):
    heads = _heads(bias=bias)
    labels = _labels()
    student_keys = ("hidden_states", "lm_head_weight", "lm_head_bias")
    leaves = [heads[k] for k in student_keys if heads[k] is not None]
    teacher_logits = _head_logits(
        heads["teacher_hidden_states"], heads["teacher_lm_head_weight"], heads["teacher_lm_head_bias"]
    )
    if teacher == "hidden":
        targets = {
            k: heads[k] for k in ("teacher_hidden_states", "teacher_lm_head_weight", "teacher_lm_head_bias")
        }
    else:
        targets = {"teacher_logits": teacher_logits}
    targets["labels"] = labels
    params = {"divergence": divergence, "temperature": 1.7, "hard_label_weight": 0.3}
    if divergence == "jsd":
        params["beta"] = 0.4
    chunked = _call({k: heads[k] for k in student_keys}, targets, chunk_size=chunk_size, **params)
    student_logits = _head_logits(*(heads[k] for k in student_keys))
    full = distillation(
        {"logits": student_logits}, {"teacher_logits": teacher_logits, "labels": labels}, **params
    )
    torch.testing.assert_close(chunked["loss"], full["loss"], rtol=0, atol=1e-12)
    for key in ("divergence", "hard_ce", "num_tokens", "agreement"):
        torch.testing.assert_close(chunked["metrics"][key], full["metrics"][key], rtol=0, atol=1e-12)
    got = torch.autograd.grad(2.0 * chunked["loss"], leaves)
    want = torch.autograd.grad(2.0 * full["loss"], leaves)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("divergence", "beta"),
    [*((d, None) for d in DIVERGENCES if d != "jsd"), ("jsd", 0.0), ("jsd", 0.5), ("jsd", 1.0)],
)
@pytest.mark.parametrize("path", ["logits", "hidden"])
def test_student_equal_to_teacher_gives_zero(divergence, beta, path):
    heads = _heads()
    labels = _labels()
    params = {} if beta is None else {"beta": beta}
    teacher = _head_logits(heads["hidden_states"], heads["lm_head_weight"], heads["lm_head_bias"]).detach()
    if path == "logits":
        student = teacher.clone().requires_grad_(True)
        model_output, leaves = {"logits": student}, [student]
    else:
        model_output = {k: heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")}
        leaves = list(model_output.values())
    result = distillation(
        model_output, {"teacher_logits": teacher, "labels": labels}, divergence=divergence, **params
    )
    torch.testing.assert_close(result["loss"], torch.zeros((), dtype=torch.float64), rtol=0, atol=1e-12)
    assert float(result["metrics"]["agreement"]) == 1.0
    for grad in torch.autograd.grad(result["loss"], leaves):
        torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)


def test_jsd_end_points_are_the_kls_and_the_mixture_approaches_them_scaled():
    """beta = 0 is exactly the forward KL and 1 the reverse KL (TRL's and
    Liger's convention); the mixture formula near the ends behaves as
    beta * forward KL and (1 - beta) * reverse KL (GKD, Agarwal et al. 2024)."""
    student, teacher = _logits()
    labels = _labels()

    def loss(divergence: str, **params: float) -> torch.Tensor:
        return distillation(
            {"logits": student},
            {"teacher_logits": teacher, "labels": labels},
            divergence=divergence,
            **params,
        )["loss"]

    forward, reverse = loss("forward_kl"), loss("reverse_kl")
    assert not torch.allclose(forward, reverse)
    torch.testing.assert_close(loss("jsd", beta=0.0), forward, rtol=0, atol=0)
    torch.testing.assert_close(loss("jsd", beta=1.0), reverse, rtol=0, atol=0)
    eps = 1e-5
    torch.testing.assert_close(loss("jsd", beta=eps) / eps, forward, rtol=1e-3, atol=0)
    torch.testing.assert_close(loss("jsd", beta=1 - eps) / eps, reverse, rtol=1e-3, atol=0)
    default = loss("jsd")
    torch.testing.assert_close(default, loss("jsd", beta=0.5), rtol=0, atol=0)
    assert 0 < default.item() < math.log(2)  # the JSD with beta = 1/2 is at most log 2


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_temperature_divides_both_logits_and_tau_squared_scales_the_divergence_only(divergence):
    student, teacher = _logits()
    labels = _labels()
    tau = 3.0
    params = {"beta": 0.3} if divergence == "jsd" else {}

    def call(s, t, **extra):
        return distillation(
            {"logits": s}, {"teacher_logits": t, "labels": labels}, divergence=divergence, **params, **extra
        )

    tempered = call(student, teacher, temperature=tau)
    pre_divided = call(student / tau, teacher / tau)
    torch.testing.assert_close(tempered["loss"], pre_divided["loss"], rtol=0, atol=1e-12)
    assert not torch.allclose(tempered["loss"], call(student, teacher)["loss"])

    hard = call(student, teacher, temperature=tau, temperature_squared=True, hard_label_weight=0.5)
    cold = call(student, teacher, hard_label_weight=0.5)
    torch.testing.assert_close(hard["metrics"]["hard_ce"], cold["metrics"]["hard_ce"], rtol=0, atol=0)
    torch.testing.assert_close(
        hard["metrics"]["divergence"], tempered["metrics"]["divergence"], rtol=0, atol=0
    )
    expected = tau**2 * tempered["loss"] + 0.5 * cold["metrics"]["hard_ce"]
    torch.testing.assert_close(hard["loss"], expected, rtol=0, atol=1e-12)
    # temperature_squared at temperature 1 changes nothing
    torch.testing.assert_close(
        call(student, teacher, temperature_squared=True)["loss"], call(student, teacher)["loss"]
    )


def test_hard_label_term_is_the_cross_entropy_on_the_labels():
    student, teacher = _logits()
    labels = _labels()
    soft = distillation({"logits": student}, {"teacher_logits": teacher, "labels": labels}, temperature=2.0)
    both = distillation(
        {"logits": student},
        {"teacher_logits": teacher, "labels": labels},
        temperature=2.0,
        hard_label_weight=0.7,
    )
    ce = F.cross_entropy(student[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(both["metrics"]["hard_ce"], ce.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(both["loss"], soft["loss"] + 0.7 * ce, rtol=0, atol=1e-12)
    assert "hard_ce" not in soft["metrics"]


def test_metrics_count_target_tokens_and_top1_agreement():
    student, teacher = _logits()
    labels = _labels()
    metrics = distillation({"logits": student}, {"teacher_logits": teacher, "labels": labels})["metrics"]
    mask = F.pad(labels[:, 1:], (0, 1), value=-100) != -100
    agree = (student.argmax(-1) == teacher.argmax(-1))[mask].float().mean()
    assert int(metrics["num_tokens"]) == int(mask.sum()) == 6
    torch.testing.assert_close(metrics["agreement"], agree.to(torch.float64))
    assert not any(m.requires_grad for m in metrics.values())


def test_teacher_gets_no_gradient():
    heads = _heads()
    labels = _labels()
    teacher_logits = torch.randn(B, T, V, dtype=torch.float64, requires_grad=True)
    student_logits = torch.randn(B, T, V, dtype=torch.float64, requires_grad=True)
    teacher_leaves = [
        heads[k].requires_grad_(True)
        for k in ("teacher_hidden_states", "teacher_lm_head_weight", "teacher_lm_head_bias")
    ]
    student_heads = {k: heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")}
    teacher_heads = {
        k: heads[k] for k in ("teacher_hidden_states", "teacher_lm_head_weight", "teacher_lm_head_bias")
    }
    calls = [
        ({"logits": student_logits}, {"teacher_logits": teacher_logits}),
        ({"logits": student_logits}, teacher_heads),
        (student_heads, {"teacher_logits": teacher_logits}),
        (student_heads, teacher_heads),
    ]
    for model_output, teacher in calls:
        loss = distillation(
            model_output, {**teacher, "labels": labels}, divergence="jsd", hard_label_weight=0.5
        )["loss"]
        loss.backward()
    assert student_logits.grad is not None and heads["hidden_states"].grad is not None
    assert teacher_logits.grad is None
    assert all(leaf.grad is None for leaf in teacher_leaves)


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("path", ["logits", "hidden"])
def test_no_target_token_gives_a_zero_connected_to_the_graph(divergence, path):
    heads = _heads()
    labels = torch.full((B, T), -100)
    if path == "logits":
        model_output = {
            "logits": _head_logits(heads["hidden_states"], heads["lm_head_weight"], heads["lm_head_bias"])
        }
    else:
        model_output = {k: heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")}
    leaves = [heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")]
    targets = {"teacher_logits": torch.randn(B, T, V, dtype=torch.float64), "labels": labels}
    result = distillation(model_output, targets, divergence=divergence, hard_label_weight=1.0)
    assert result["loss"].requires_grad
    assert result["loss"].item() == 0.0
    assert int(result["metrics"]["num_tokens"]) == 0
    assert float(result["metrics"]["agreement"]) == 0.0
    for grad in torch.autograd.grad(result["loss"], leaves):
        assert torch.equal(grad, torch.zeros_like(grad))


def test_micro_batches_with_num_items_in_batch_add_up_to_the_whole_batch():
    student, teacher = _logits()
    labels = _labels()
    whole = distillation(
        {"logits": student}, {"teacher_logits": teacher, "labels": labels}, divergence="tvd"
    )["loss"]
    total = F.pad(labels[:, 1:], (0, 1), value=-100).ne(-100).sum()
    parts = sum(
        distillation(
            {"logits": student[i : i + 1]},
            {"teacher_logits": teacher[i : i + 1], "labels": labels[i : i + 1]},
            divergence="tvd",
            num_items_in_batch=total,
        )["loss"]
        for i in range(B)
    )
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-12)


def test_low_precision_inputs_are_computed_in_float32():
    student, teacher = _logits(torch.bfloat16)
    labels = _labels()
    got = distillation({"logits": student}, {"teacher_logits": teacher, "labels": labels}, divergence="jsd")
    want = distillation(
        {"logits": student.detach().float()},
        {"teacher_logits": teacher.float(), "labels": labels},
        divergence="jsd",
    )
    assert got["loss"].dtype == torch.float32
    torch.testing.assert_close(got["loss"], want["loss"], rtol=0, atol=1e-6)
    got["loss"].backward()
    assert student.grad is not None and student.grad.dtype == torch.bfloat16


# -- errors --------------------------------------------------------------------


def _inputs():
    student, teacher = _logits()
    return {"logits": student}, {"teacher_logits": teacher, "labels": _labels()}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"beta": 0.3}, "parameter 'beta' .* applies only to divergence='jsd', got divergence='forward_kl'"),
        ({"chunk_size": 4}, "parameter 'chunk_size' applies only to the hidden-states path"),
        (
            {"reduction": "sum", "num_items_in_batch": 3},
            "'num_items_in_batch' only applies to reduction='mean'",
        ),
        ({"divergence": "jsd", "beta": 1.5}, "parameter 'beta' must be <= 1"),
        ({"temperature": 0.0}, "parameter 'temperature' must be > 0"),
        ({"hard_label_weight": -1.0}, "parameter 'hard_label_weight' must be >= 0"),
        ({"divergence": "kl"}, "parameter 'divergence' must be one of"),
        ({"reduction": "none"}, "parameter 'reduction' must be one of 'mean', 'sum'"),
    ],
)
def test_bad_parameters_name_the_loss_and_parameter(params, message):
    model_output, targets = _inputs()
    with pytest.raises(LossParameterError, match=message) as info:
        distillation(model_output, targets, **params)
    assert "distillation" in str(info.value)


def test_bad_inputs_name_the_loss_and_inputs():
    model_output, targets = _inputs()
    heads = _heads()
    teacher_heads = {k: heads[k] for k in ("teacher_hidden_states", "teacher_lm_head_weight")}
    cases = [
        (
            model_output,
            {"labels": targets["labels"]},
            MissingInputError,
            "input 'teacher_logits' is required",
        ),
        ({}, targets, MissingInputError, "model_output has none of 'logits', 'hidden_states'"),
        (
            model_output,
            {**targets, **teacher_heads},
            LossInputError,
            "'teacher_logits' and 'teacher_hidden_states'",
        ),
        (
            model_output,
            {**targets, "teacher_lm_head_weight": heads["teacher_lm_head_weight"]},
            LossInputError,
            "the teacher's head is used only with 'teacher_hidden_states'",
        ),
        (
            model_output,
            {"labels": targets["labels"], "teacher_hidden_states": heads["teacher_hidden_states"]},
            LossInputError,
            "'teacher_hidden_states' needs input 'teacher_lm_head_weight'",
        ),
        (
            model_output,
            {
                **teacher_heads,
                "teacher_lm_head_weight": heads["teacher_lm_head_weight"].float(),
                "labels": targets["labels"],
            },
            LossInputError,
            "'teacher_lm_head_weight' has dtype torch.float32 but 'teacher_hidden_states' has torch.float64",
        ),
        (
            model_output,
            {**targets, "teacher_logits": torch.randn(B, T, V + 1, dtype=torch.float64)},
            LossInputError,
            "dimension V is 12 in input 'teacher_logits'",
        ),
        (model_output, {**targets, "labels": targets["labels"][:, :-1]}, LossInputError, "dimension T"),
        (
            {"logits": model_output["logits"], "hidden_states": heads["hidden_states"]},
            targets,
            LossInputError,
            "give exactly one of",
        ),
    ]
    for mo, tg, error, message in cases:
        with pytest.raises(error, match=message) as info:
            distillation(mo, tg)
        assert str(info.value).startswith("distillation: ")


# -- protocol --------------------------------------------------------------------


def test_conforms():
    assert_conforms("distillation")


def test_registered_and_loaded_from_yaml_config(tmp_path):
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n"
        "  type: distillation\n"
        "  kwargs: {divergence: jsd, beta: 0.25, temperature: 2.0, hard_label_weight: 0.1}\n"
        "  keys: {teacher_logits: teacher}\n"
    )
    loss_fn = loss_from_config(path)
    student, teacher = _logits()
    labels = _labels()
    result = loss_fn({"logits": student}, {"teacher": teacher, "labels": labels})
    expected = distillation(
        {"logits": student},
        {"teacher_logits": teacher, "labels": labels},
        divergence="jsd",
        beta=0.25,
        temperature=2.0,
        hard_label_weight=0.1,
    )
    torch.testing.assert_close(result["loss"], expected["loss"], rtol=0, atol=0)
    value = LOSSES["distillation"]({"logits": student}, {"teacher_logits": teacher, "labels": labels})
    assert value.ndim == 0


def test_chunked_path_under_torch_compile_gives_the_eager_value():
    """The chunked path graph-breaks around the chunk loop by design; compiled
    without ``fullgraph`` it still gives the eager value and gradients."""
    heads = _heads(torch.float32)
    labels = _labels()
    model_output = {k: heads[k] for k in ("hidden_states", "lm_head_weight", "lm_head_bias")}
    targets = {
        k: heads[k] for k in ("teacher_hidden_states", "teacher_lm_head_weight", "teacher_lm_head_bias")
    }
    targets["labels"] = labels

    def step(mo, tg):
        return distillation(
            mo, tg, divergence="reverse_kl", temperature=2.0, hard_label_weight=0.2, chunk_size=3
        )["loss"]

    leaves = list(model_output.values())
    eager = step(model_output, targets)
    eager_grads = torch.autograd.grad(eager, leaves)
    torch._dynamo.reset()
    compiled = torch.compile(step, backend="aot_eager")(model_output, targets)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-6)
    for g, w in zip(torch.autograd.grad(compiled, leaves), eager_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-6)


def test_low_precision_hidden_states_path_gives_a_float32_loss_and_gradients_in_their_dtype():
    heads = {k: v for k, v in _heads(torch.float32).items() if v is not None}
    half = {
        k: v.detach().bfloat16().requires_grad_(k in ("hidden_states", "lm_head_weight", "lm_head_bias"))
        for k, v in heads.items()
    }
    labels = _labels()
    student = ("hidden_states", "lm_head_weight", "lm_head_bias")

    def run(inputs):
        model_output = {k: inputs[k] for k in student}
        targets = {k: v for k, v in inputs.items() if k not in student} | {"labels": labels}
        return distillation(
            model_output, targets, divergence="reverse_kl", hard_label_weight=0.5, chunk_size=3
        )

    got = run(half)
    want = run({k: v.detach().bfloat16().float() for k, v in heads.items()})
    assert got["loss"].dtype == torch.float32
    torch.testing.assert_close(got["loss"], want["loss"], rtol=2e-2, atol=2e-2)
    got["loss"].backward()
    for key in student:
        grad = half[key].grad
        assert grad is not None and grad.dtype == torch.bfloat16 and bool(torch.isfinite(grad).all())
