"""token_ce against F.cross_entropy on hand-prepared inputs, transformers'
ForCausalLMLoss (when installed) and float64 computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError, resolve_loss
from losses_core.losses import token_ce


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lm_batch(seed=0, b=2, t=6, v=11, dtype=torch.float32):
    """Causal-LM style logits ``[B, T, V]`` and unshifted labels with padding."""
    g = gen(seed)
    logits = torch.randn(b, t, v, generator=g, dtype=torch.float64).to(dtype)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :2] = -100  # a masked prompt
    labels[1, -1] = -100  # padding
    return logits, labels


def ce_kwargs(kwargs):
    weight = kwargs.get("class_weights")
    return {
        "weight": None if weight is None else torch.tensor(weight, dtype=torch.float64),
        "ignore_index": kwargs.get("ignore_index", -100),
        "label_smoothing": kwargs.get("label_smoothing", 0.0),
    }


# -- plain cross-entropy ------------------------------------------------------
CE_CASES = [
    {},
    {"label_smoothing": 0.1},
    {"class_weights": [0.5, 1.0, 2.0, 1.5, 0.2]},
    {"class_weights": [0.5, 1.0, 2.0, 1.5, 0.2], "label_smoothing": 0.2},
    {"ignore_index": 2},
]


@pytest.mark.parametrize("kwargs", CE_CASES)
@pytest.mark.parametrize("shape", [(7,), (2, 6)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_equals_torch(kwargs, shape, reduction):
    logits = torch.randn(*shape, 5, generator=gen(1))
    labels = torch.randint(0, 5, shape, generator=gen(2))
    labels.view(-1)[0] = kwargs.get("ignore_index", -100)
    ours = token_ce({"logits": logits}, {"labels": labels}, reduction=reduction, **kwargs)["loss"]
    weight = torch.tensor(kwargs["class_weights"]) if "class_weights" in kwargs else None
    expected = F.cross_entropy(
        logits.reshape(-1, 5),
        labels.reshape(-1),
        weight=weight,
        ignore_index=kwargs.get("ignore_index", -100),
        label_smoothing=kwargs.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    torch.testing.assert_close(ours, expected)


@pytest.mark.parametrize("kwargs", CE_CASES[:4])
def test_gradient_equals_torch(kwargs):
    logits = torch.randn(3, 4, 5, dtype=torch.float64, generator=gen(3), requires_grad=True)
    labels = torch.randint(0, 5, (3, 4), generator=gen(4))
    labels[0, 0] = -100
    (ours,) = torch.autograd.grad(token_ce({"logits": logits}, {"labels": labels}, **kwargs)["loss"], logits)
    expected_loss = F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), **ce_kwargs(kwargs))
    (expected,) = torch.autograd.grad(expected_loss, logits)
    torch.testing.assert_close(ours, expected)


def test_none_reduction_has_label_shape():
    logits, labels = torch.randn(2, 3, 4, generator=gen(5)), torch.randint(0, 4, (2, 3), generator=gen(6))
    labels[1, 2] = -100
    per_token = token_ce({"logits": logits}, {"labels": labels}, reduction="none")
    expected = F.cross_entropy(logits.permute(0, 2, 1), labels, reduction="none")
    torch.testing.assert_close(per_token, expected)
    assert per_token[1, 2].item() == 0.0


def test_all_ignored_is_zero_not_nan():
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.full((4,), -100)
    assert torch.isnan(F.cross_entropy(logits, labels))
    out = token_ce({"logits": logits}, {"labels": labels}, z_loss=1e-2)
    assert out["loss"].item() == 0.0
    assert out["loss"].requires_grad
    out["loss"].backward()
    assert torch.equal(logits.grad, torch.zeros(4, 3))
    assert out["metrics"]["num_tokens"].item() == 0
    assert out["metrics"]["accuracy"].item() == 0.0


def test_num_items_in_batch_matches_one_big_batch():
    logits = torch.randn(2, 5, 4, generator=gen(7), requires_grad=True)
    labels = torch.randint(0, 4, (2, 5), generator=gen(8))
    labels[0, :3] = -100
    total_tokens = int((labels != -100).sum())
    full = F.cross_entropy(logits.reshape(-1, 4), labels.reshape(-1))
    (g_full,) = torch.autograd.grad(full, logits)
    for count in (total_tokens, torch.tensor(total_tokens)):
        micro = sum(
            token_ce({"logits": logits[i : i + 1]}, {"labels": labels[i : i + 1]}, num_items_in_batch=count)[
                "loss"
            ]
            for i in range(2)
        )
        (g_micro,) = torch.autograd.grad(micro, logits)
        torch.testing.assert_close(micro, full)
        torch.testing.assert_close(g_micro, g_full)


def test_metrics():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    out = resolve_loss("token_ce")({"logits": logits}, {"labels": torch.tensor([0, 0, -100])})
    assert set(out["metrics"]) == {"num_tokens", "accuracy"}
    assert out["metrics"]["num_tokens"].item() == 2
    assert out["metrics"]["accuracy"].item() == pytest.approx(0.5)


def test_input_and_parameter_errors():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    labels = torch.tensor([0, 1, 0])
    with pytest.raises(LossInputError, match="shape"):
        token_ce({"logits": logits}, {"labels": torch.tensor([0, 1])})
    with pytest.raises(LossInputError, match="without the class dimension"):
        token_ce({"logits": torch.randn(3, 2)}, {"labels": torch.zeros(1, 3, dtype=torch.long)})
    with pytest.raises(LossInputError, match="integer"):
        token_ce({"logits": logits}, {"labels": torch.zeros(3)})
    with pytest.raises(MissingInputError, match=r"token_ce: input 'labels'.*targets\['labels'\]"):
        token_ce({"logits": logits}, {"y": labels})
    with pytest.raises(LossParameterError, match="class_weights"):
        token_ce({"logits": logits}, {"labels": labels}, class_weights=[1.0])
    with pytest.raises(LossParameterError, match="num_items_in_batch"):
        token_ce({"logits": logits}, {"labels": labels}, reduction="sum", num_items_in_batch=3)
    for param, value in [
        ("label_smoothing", 1.5),
        ("z_loss", -1.0),
        ("logit_softcap", 0.0),
        ("num_items_in_batch", 0),
        ("shift", "yes"),
        ("reduction", "avg"),
        ("ignore_index", 1.5),
    ]:
        with pytest.raises(LossParameterError, match=f"token_ce.*{param}"):
            LOSSES["token_ce"]({"logits": logits}, {"labels": labels}, **{param: value})


def test_keys_map_other_dict_keys():
    logits, labels = lm_batch(9)
    ours = LOSSES["cross_entropy"](
        {"lm_logits": logits}, {"input_ids": labels}, keys={"logits": "lm_logits", "labels": "input_ids"}
    )
    expected = LOSSES["token_ce"]({"logits": logits}, {"labels": labels})
    torch.testing.assert_close(ours, expected)


# -- shift ---------------------------------------------------------------------
def hand_shifted(logits, labels):
    """logits[:, :-1] against labels[:, 1:], flattened."""
    v = logits.shape[-1]
    return logits[:, :-1].reshape(-1, v), labels[:, 1:].reshape(-1)


SHIFT_CASES = [
    {},
    {"label_smoothing": 0.1},
    {"class_weights": [0.1 * (i + 1) for i in range(11)]},
    {"ignore_index": 3},
]


@pytest.mark.parametrize("kwargs", SHIFT_CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_shift_equals_hand_shifted_cross_entropy(kwargs, reduction):
    logits, labels = lm_batch(10, dtype=torch.float64)
    logits.requires_grad_(True)
    labels[labels == -100] = kwargs.get("ignore_index", -100)
    ours = token_ce({"logits": logits}, {"labels": labels}, shift=True, reduction=reduction, **kwargs)["loss"]
    flat_logits, flat_labels = hand_shifted(logits, labels)
    expected = F.cross_entropy(flat_logits, flat_labels, reduction=reduction, **ce_kwargs(kwargs))
    torch.testing.assert_close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_expected,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(g_ours, g_expected)
    assert torch.all(g_ours[:, -1] == 0)  # the last position predicts nothing


def test_shift_none_reduction_and_metrics():
    logits, labels = lm_batch(11)
    per_token = token_ce({"logits": logits}, {"labels": labels}, shift=True, reduction="none")
    assert per_token.shape == labels.shape
    assert torch.all(per_token[:, -1] == 0)
    flat_logits, flat_labels = hand_shifted(logits, labels)
    expected = F.cross_entropy(flat_logits, flat_labels, reduction="none").reshape(2, 5)
    torch.testing.assert_close(per_token[:, :-1], expected)
    out = resolve_loss("token_ce", shift=True)({"logits": logits}, {"labels": labels})
    valid = flat_labels != -100
    assert out["metrics"]["num_tokens"].item() == int(valid.sum())
    correct = (flat_logits.argmax(-1) == flat_labels) & valid
    assert out["metrics"]["accuracy"].item() == pytest.approx(correct.sum().item() / valid.sum().item())


def test_shift_with_a_single_position_has_no_target():
    logits = torch.randn(2, 1, 5, requires_grad=True)
    out = token_ce({"logits": logits}, {"labels": torch.tensor([[1], [2]])}, shift=True)
    assert out["loss"].item() == 0.0 and out["metrics"]["num_tokens"].item() == 0
    out["loss"].backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_shift_needs_a_sequence_dimension():
    with pytest.raises(LossInputError, match=r"shift=True needs input 'logits' of shape \[B T V\]"):
        token_ce({"logits": torch.randn(4, 3)}, {"labels": torch.tensor([0, 1, 2, 0])}, shift=True)


def test_shift_gradient_accumulation_matches_one_big_batch():
    logits, labels = lm_batch(12, b=4)
    logits.requires_grad_(True)
    flat_logits, flat_labels = hand_shifted(logits, labels)
    full = F.cross_entropy(flat_logits, flat_labels)
    (g_full,) = torch.autograd.grad(full, logits)
    count = torch.tensor(int((labels[:, 1:] != -100).sum()))
    micro = sum(
        token_ce(
            {"logits": logits[i : i + 2]}, {"labels": labels[i : i + 2]}, shift=True, num_items_in_batch=count
        )["loss"]
        for i in (0, 2)
    )
    (g_micro,) = torch.autograd.grad(micro, logits)
    torch.testing.assert_close(micro, full)
    torch.testing.assert_close(g_micro, g_full)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("num_items", [None, 7])
def test_shift_equals_transformers_for_causal_lm_loss(dtype, num_items):
    loss_utils = pytest.importorskip("transformers.loss.loss_utils")
    logits, labels = lm_batch(13, b=3, t=8, v=17, dtype=dtype)
    logits.requires_grad_(True)
    count = None if num_items is None else torch.tensor(num_items)
    expected = loss_utils.ForCausalLMLoss(logits, labels, vocab_size=17, num_items_in_batch=count)
    ours = token_ce({"logits": logits}, {"labels": labels}, shift=True, num_items_in_batch=count)["loss"]
    assert ours.dtype == expected.dtype == torch.float32
    torch.testing.assert_close(ours, expected)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_expected,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(g_ours, g_expected)


# -- z-loss and soft-capping ---------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_z_loss_adds_the_mean_squared_log_normaliser(reduction):
    logits, labels = lm_batch(14, dtype=torch.float64)
    logits = (3 * logits).requires_grad_(True)
    weight = 1e-2
    out = token_ce({"logits": logits}, {"labels": labels}, z_loss=weight, reduction=reduction)
    flat_logits, flat_labels = logits.reshape(-1, 11), labels.reshape(-1)
    valid = flat_labels != -100
    lse_sq = torch.logsumexp(flat_logits[valid], dim=-1).square()
    z_term = weight * (lse_sq.mean() if reduction == "mean" else lse_sq.sum())
    ce = F.cross_entropy(flat_logits, flat_labels, reduction=reduction)
    torch.testing.assert_close(out["loss"], ce + z_term)
    torch.testing.assert_close(out["metrics"]["z_loss"], z_term.detach())
    assert not out["metrics"]["z_loss"].requires_grad
    (g_ours,) = torch.autograd.grad(out["loss"], logits)
    (g_expected,) = torch.autograd.grad(ce + z_term, logits)
    torch.testing.assert_close(g_ours, g_expected)


def test_z_loss_with_shift_num_items_and_none():
    logits, labels = lm_batch(15, dtype=torch.float64)
    flat_logits, flat_labels = hand_shifted(logits, labels)
    valid = flat_labels != -100
    lse_sq = torch.logsumexp(flat_logits, dim=-1).square() * valid
    ce_sum = F.cross_entropy(flat_logits, flat_labels, reduction="sum")
    out = token_ce({"logits": logits}, {"labels": labels}, shift=True, z_loss=1e-3, num_items_in_batch=20)
    torch.testing.assert_close(out["loss"], (ce_sum + 1e-3 * lse_sq.sum()) / 20)
    per_token = token_ce({"logits": logits}, {"labels": labels}, shift=True, z_loss=1e-3, reduction="none")
    expected = F.cross_entropy(flat_logits, flat_labels, reduction="none") + 1e-3 * lse_sq
    torch.testing.assert_close(per_token[:, :-1].reshape(-1), expected)


def test_z_loss_metric_only_when_on():
    logits, labels = lm_batch(16)
    assert "z_loss" not in token_ce({"logits": logits}, {"labels": labels})["metrics"]
    assert "z_loss" in token_ce({"logits": logits}, {"labels": labels}, z_loss=1e-4)["metrics"]


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1, "shift": True}])
def test_logit_softcap_equals_cross_entropy_of_capped_logits(kwargs):
    logits, labels = lm_batch(17, dtype=torch.float64)
    logits = (40 * logits).requires_grad_(True)
    cap = 30.0
    ours = token_ce({"logits": logits}, {"labels": labels}, logit_softcap=cap, **kwargs)["loss"]
    capped = cap * torch.tanh(logits / cap)
    if kwargs.get("shift"):
        flat_logits, flat_labels = hand_shifted(capped, labels)
    else:
        flat_logits, flat_labels = capped.reshape(-1, 11), labels.reshape(-1)
    expected = F.cross_entropy(flat_logits, flat_labels, label_smoothing=kwargs.get("label_smoothing", 0.0))
    torch.testing.assert_close(ours, expected)
    uncapped = token_ce({"logits": logits}, {"labels": labels}, **kwargs)["loss"]
    assert not torch.allclose(ours, uncapped)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_expected,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(g_ours, g_expected)


def test_z_loss_uses_the_capped_logits():
    logits, labels = lm_batch(18, dtype=torch.float64)
    logits = 50 * logits
    out = token_ce({"logits": logits}, {"labels": labels}, logit_softcap=10.0, z_loss=1.0)
    capped = 10.0 * torch.tanh(logits / 10.0)
    valid = labels.reshape(-1) != -100
    expected = torch.logsumexp(capped.reshape(-1, 11)[valid], dim=-1).square().mean()
    torch.testing.assert_close(out["metrics"]["z_loss"], expected)


# -- precision -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_logits_accumulate_in_float32(dtype):
    g = gen(19)
    logits = (4 * torch.randn(64, 3000, generator=g)).to(dtype)
    labels = torch.randint(0, 3000, (64,), generator=g)
    labels[:5] = -100
    reference = F.cross_entropy(logits.double(), labels, label_smoothing=0.1)  # the same values, in float64
    ours = token_ce({"logits": logits}, {"labels": labels}, label_smoothing=0.1)["loss"]
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), reference, rtol=2e-6, atol=0)
    # computing in the logits' own precision is much further off
    naive = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert (naive.double() - reference).abs() > 1e2 * (ours.double() - reference).abs()


def test_float64_and_float32_keep_their_dtype():
    for dtype in (torch.float32, torch.float64):
        logits, labels = lm_batch(20, dtype=dtype)
        assert token_ce({"logits": logits}, {"labels": labels}, shift=True)["loss"].dtype == dtype


def test_low_precision_gradient_has_the_logits_dtype():
    logits, labels = lm_batch(21, dtype=torch.bfloat16)
    logits.requires_grad_(True)
    token_ce({"logits": logits}, {"labels": labels}, z_loss=1e-4)["loss"].backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad.float()).all()


# -- cost of the metrics ---------------------------------------------------------
class RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_accuracy_costs_one_argmax_and_no_softmax():
    logits, labels = lm_batch(22)
    with RecordOps() as recorder:
        out = token_ce({"logits": logits}, {"labels": labels}, shift=True, z_loss=1e-4)
    assert out["metrics"]["accuracy"].ndim == 0
    assert recorder.ops.count("argmax") == 1
    assert not [op for op in recorder.ops if "softmax" in op]
    assert recorder.ops.count("logsumexp") == 1


def test_causal_lm_options_compile_without_graph_breaks():
    logits, labels = lm_batch(23, dtype=torch.bfloat16)
    loss_fn = resolve_loss("token_ce", shift=True, z_loss=1e-4, logit_softcap=30.0, label_smoothing=0.1)
    count, weights = torch.tensor(9), torch.linspace(0.5, 1.5, 11)

    def step(logits, labels):
        out = loss_fn({"logits": logits}, {"labels": labels}, num_items_in_batch=count, class_weights=weights)
        return out["loss"], out["metrics"]["accuracy"], out["metrics"]["z_loss"]

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    for got, want in zip(compiled(logits, labels), step(logits, labels), strict=True):
        torch.testing.assert_close(got, want)
