"""causal_lm against transformers' ForCausalLMLoss, F.cross_entropy and Cut
Cross-Entropy, a per-token loop written from the formulas (z-loss, soft-cap),
and its properties: the chunked path equals the logits path for every chunk
size, an all-ignored batch gives a connected 0, num_items_in_batch over
micro-batches adds up to the whole batch, low precision is computed in
float32, reduction="none" has per-token gradients, conformance, compile, config.

Liger-Kernel's LigerFusedLinearCrossEntropyLoss is not an oracle here: it is a
Triton kernel that needs a GPU driver ("0 active drivers" on CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losses_core import (
    LOSSES,
    LossInputError,
    LossParameterError,
    MissingInputError,
    loss_from_config,
)
from losses_core.testing import assert_conforms
from losses_llm import causal_lm

B, T, H, V = 3, 7, 6, 19


def _batch(dtype=torch.float64, seed=0, bias=True, b=B, t=T, v=V):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, H, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, H, generator=g, dtype=dtype, requires_grad=True)
    head_bias = torch.randn(v, generator=g, dtype=dtype, requires_grad=True) if bias else None
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, 2] = -100
    labels[1, :3] = -100
    return hidden, weight, head_bias, labels


def _leaves(hidden, weight, bias):
    return [x for x in (hidden, weight, bias) if x is not None]


def _chunked(hidden, weight, bias, labels, **params):
    return causal_lm.compute(labels, hidden_states=hidden, lm_head_weight=weight, lm_head_bias=bias, **params)


def _via_logits(hidden, weight, bias, labels, **params):
    return causal_lm.compute(labels, logits=F.linear(hidden, weight, bias), **params)


def _grads(loss, inputs):
    return torch.autograd.grad(loss, inputs)


def _close(a, b, dtype):
    tol = 1e-7 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _shifted(labels, ignore_index=-100):
    return F.pad(labels[:, 1:], (0, 1), value=ignore_index)


def _paper_loop(logits, targets, eps=0.0, lam=0.0, cap=None, ignore_index=-100):
    """Per target token, written from the formulas: soft-cap c*tanh(z/c) (Gemma 2),
    (1-eps)(lse - z_y) + eps(lse - mean z) (Szegedy et al.'s smoothing as torch
    defines it), + lam * lse^2 (PaLM's z-loss); mean over target tokens."""
    total, count = logits.new_zeros(()), 0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            y = int(targets[b, t])
            if y == ignore_index:
                continue
            z = logits[b, t]
            if cap is not None:
                z = cap * torch.tanh(z / cap)
            lse = torch.log(torch.exp(z - z.max()).sum()) + z.max()
            total = total + (1 - eps) * (lse - z[y]) + eps * (lse - z.mean()) + lam * lse**2
            count += 1
    return total / count


# -- oracles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ignore_index", [-100, 0])
@pytest.mark.parametrize("num_items", [None, 11, "tensor"])
def test_equals_transformers_for_causal_lm_loss(ignore_index, num_items):
    from transformers.loss.loss_utils import ForCausalLMLoss

    hidden, weight, _, labels = _batch(torch.float32, seed=1, bias=False)
    labels = labels.masked_fill(labels == -100, ignore_index)
    items = torch.tensor(11) if num_items == "tensor" else num_items
    logits = F.linear(hidden, weight)
    expected = ForCausalLMLoss(logits, labels, V, num_items_in_batch=items, ignore_index=ignore_index)
    expected_grads = _grads(expected, [hidden, weight])
    params = {"ignore_index": ignore_index, "num_items_in_batch": items}
    by_logits = causal_lm.compute(labels, logits=F.linear(hidden, weight), **params)["loss"]
    chunked = _chunked(hidden, weight, None, labels, chunk_size=4, **params)["loss"]
    for ours in (by_logits, chunked):
        _close(ours, expected, torch.float32)
        for got, want in zip(_grads(ours, [hidden, weight]), expected_grads, strict=True):
            _close(got, want, torch.float32)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_cross_entropy_with_label_smoothing_and_bias(smoothing, dtype):
    hidden, weight, bias, labels = _batch(dtype, seed=2)
    expected = F.cross_entropy(
        F.linear(hidden, weight, bias).reshape(-1, V), labels.reshape(-1), label_smoothing=smoothing
    )
    expected_grads = _grads(expected, [hidden, weight, bias])
    params = {"shift": False, "label_smoothing": smoothing}
    for ours in (
        _via_logits(hidden, weight, bias, labels, **params)["loss"],
        _chunked(hidden, weight, bias, labels, chunk_size=5, **params)["loss"],
    ):
        assert ours.dtype == dtype
        _close(ours, expected, dtype)
        for got, want in zip(_grads(ours, [hidden, weight, bias]), expected_grads, strict=True):
            _close(got, want, dtype)


def test_equals_cut_cross_entropy_torch_compile(monkeypatch):
    # inductor imports setuptools, whose distutils shim asserts when another test has
    # imported the standard library's distutils first: keep the standard one
    monkeypatch.setenv("SETUPTOOLS_USE_DISTUTILS", "stdlib")
    # CCE's torch_compile implementation: e [.., D] embeddings, c [V, D] classifier, no bias;
    # shift=True scores e[t] against targets[t + 1] (utils._build_flat_valids), as ours does.
    from cut_cross_entropy import linear_cross_entropy

    hidden, weight, _, labels = _batch(torch.float32, seed=3, bias=False)
    for shift, cap in ((True, None), (False, 4.0)):
        expected = linear_cross_entropy(
            hidden, weight, labels, shift=shift, softcap=cap, impl="torch_compile"
        )
        expected_grads = _grads(expected, [hidden, weight])
        ours = _chunked(hidden, weight, None, labels, shift=shift, logit_softcap=cap, chunk_size=8)["loss"]
        _close(ours, expected, torch.float32)
        for got, want in zip(_grads(ours, [hidden, weight]), expected_grads, strict=True):
            _close(got, want, torch.float32)


@pytest.mark.parametrize(
    "params",
    [
        {"z_loss": 1e-2},
        {"logit_softcap": 1.5},
        {"z_loss": 3e-3, "logit_softcap": 2.0, "label_smoothing": 0.2},
    ],
)
def test_equals_a_per_token_loop_of_the_formulas(params):
    hidden, weight, bias, labels = _batch(torch.float64, seed=4)
    logits = F.linear(hidden, weight, bias)
    expected = _paper_loop(
        logits,
        _shifted(labels),
        eps=params.get("label_smoothing", 0.0),
        lam=params.get("z_loss", 0.0),
        cap=params.get("logit_softcap"),
    )
    expected_grads = _grads(expected, [hidden, weight, bias])
    for ours in (
        _via_logits(hidden, weight, bias, labels, **params)["loss"],
        _chunked(hidden, weight, bias, labels, chunk_size=2, **params)["loss"],
    ):
        _close(ours, expected, torch.float64)
        for got, want in zip(_grads(ours, [hidden, weight, bias]), expected_grads, strict=True):
            _close(got, want, torch.float64)


# -- properties --------------------------------------------------------------------------------

ALL_OPTIONS = {"label_smoothing": 0.15, "z_loss": 1e-2, "logit_softcap": 3.0}


@pytest.mark.parametrize("chunk_size", [1, 3, B * T, 1000])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_path_equals_logits_path(chunk_size, reduction):
    hidden, weight, bias, labels = _batch(torch.float64, seed=5)
    by_logits = _via_logits(hidden, weight, bias, labels, reduction=reduction, **ALL_OPTIONS)
    chunked = _chunked(
        hidden, weight, bias, labels, chunk_size=chunk_size, reduction=reduction, **ALL_OPTIONS
    )
    _close(chunked["loss"], by_logits["loss"], torch.float64)
    for got, want in zip(
        _grads(chunked["loss"], [hidden, weight, bias]),
        _grads(by_logits["loss"], [hidden, weight, bias]),
        strict=True,
    ):
        _close(got, want, torch.float64)
    assert chunked["metrics"].keys() == by_logits["metrics"].keys() == {"num_tokens", "accuracy", "z_loss"}
    for key, value in by_logits["metrics"].items():
        _close(chunked["metrics"][key], value, torch.float64)


def test_metrics_from_the_same_pass():
    hidden, weight, bias, labels = _batch(torch.float64, seed=6, v=5)  # small vocab: some hits
    logits = F.linear(hidden, weight, bias)
    targets = _shifted(labels)
    mask = targets != -100
    hits = (logits.argmax(-1) == targets) & mask
    assert 0 < int(hits.sum()) < int(mask.sum())
    lse = logits.logsumexp(-1)
    for out in (
        causal_lm.compute(labels, logits=logits, z_loss=0.01),
        _chunked(hidden, weight, bias, labels, z_loss=0.01, chunk_size=4),
    ):
        assert int(out["metrics"]["num_tokens"]) == int(mask.sum())
        _close(out["metrics"]["accuracy"], hits.sum().double() / mask.sum(), torch.float64)
        _close(out["metrics"]["z_loss"], 0.01 * lse[mask].square().mean(), torch.float64)
    assert "z_loss" not in causal_lm.compute(labels, logits=logits)["metrics"]


@pytest.mark.parametrize("path", ["logits", "chunked"])
@pytest.mark.parametrize("num_items", [None, "zero"])
def test_all_ignored_batch_gives_a_connected_zero(path, num_items):
    hidden, weight, bias, labels = _batch(torch.float64, seed=7)
    labels = torch.full_like(labels, -100)
    params = {"num_items_in_batch": torch.tensor(0) if num_items == "zero" else None, **ALL_OPTIONS}
    if path == "logits":
        out = _via_logits(hidden, weight, bias, labels, **params)
    else:
        out = _chunked(hidden, weight, bias, labels, chunk_size=4, **params)
    assert out["loss"].requires_grad and float(out["loss"].detach()) == 0.0
    for grad in _grads(out["loss"], [hidden, weight, bias]):
        assert torch.equal(grad, torch.zeros_like(grad))
    assert int(out["metrics"]["num_tokens"]) == 0 and float(out["metrics"]["accuracy"]) == 0.0


@pytest.mark.parametrize("path", ["logits", "chunked"])
def test_num_items_in_batch_over_micro_batches_adds_up_to_the_whole_batch(path):
    hidden, weight, bias, labels = _batch(torch.float64, seed=8, b=4)
    whole = _via_logits(hidden, weight, bias, labels, **ALL_OPTIONS)["loss"]
    whole_grads = _grads(whole, [hidden, weight, bias])
    # two micro-batches with different numbers of target tokens (row 1 has 3 ignored labels)
    count = int((_shifted(labels) != -100).sum())
    total = torch.zeros((), dtype=torch.float64)
    grads = [torch.zeros_like(x) for x in (hidden, weight, bias)]
    for rows in (slice(0, 1), slice(1, 4)):
        h = hidden[rows].detach().requires_grad_()
        params = {"num_items_in_batch": count, **ALL_OPTIONS}
        if path == "logits":
            part = causal_lm.compute(labels[rows], logits=F.linear(h, weight, bias), **params)["loss"]
        else:
            part = _chunked(h, weight, bias, labels[rows], chunk_size=3, **params)["loss"]
        g_h, g_w, g_b = _grads(part, [h, weight, bias])
        grads[0][rows] += g_h
        grads[1] += g_w
        grads[2] += g_b
        total = total + part.detach()
    _close(total, whole.detach(), torch.float64)
    for got, want in zip(grads, whole_grads, strict=True):
        _close(got, want, torch.float64)


def test_low_precision_is_computed_in_float32():
    hidden, weight, bias, labels = _batch(torch.bfloat16, seed=9)
    logits = F.linear(hidden, weight, bias)  # bfloat16 [B, T, V]
    expected = F.cross_entropy(logits.float().reshape(-1, V), _shifted(labels).reshape(-1))
    (expected_grad,) = _grads(expected, [logits])
    out = causal_lm.compute(labels, logits=logits)
    assert out["loss"].dtype == torch.float32
    torch.testing.assert_close(out["loss"], expected, rtol=1e-6, atol=1e-6)
    (grad,) = _grads(out["loss"], [logits])
    assert grad.dtype == torch.bfloat16
    torch.testing.assert_close(grad, expected_grad.to(torch.bfloat16), rtol=0, atol=0)
    # the chunked path: float32 logits of the bfloat16 matmul, float32 loss
    chunked = _chunked(hidden, weight, bias, labels, chunk_size=4)
    assert chunked["loss"].dtype == torch.float32
    torch.testing.assert_close(chunked["loss"], expected, rtol=1e-6, atol=1e-6)
    assert all(g.dtype == torch.bfloat16 for g in _grads(chunked["loss"], [hidden, weight, bias]))


def test_reduction_none_has_per_token_gradients():
    # a non-uniform upstream gradient per token (Liger#968: fused losses with
    # reduction="none" returned gradients as if the tokens were summed)
    hidden, weight, bias, labels = _batch(torch.float64, seed=10)
    logits = F.linear(hidden, weight, bias).detach().requires_grad_()
    targets = _shifted(labels)
    cap = ALL_OPTIONS["logit_softcap"]
    capped = cap * torch.tanh(logits / cap)
    expected = F.cross_entropy(
        capped.reshape(-1, V), targets.reshape(-1), label_smoothing=0.15, reduction="none"
    ).reshape(B, T)
    expected = expected + 0.01 * capped.logsumexp(-1).square() * (targets != -100)
    out = causal_lm.compute(labels, logits=logits, reduction="none", **ALL_OPTIONS)["loss"]
    assert out.shape == (B, T)
    _close(out, expected, torch.float64)
    assert torch.all(out[targets == -100] == 0)
    upstream = torch.rand(B, T, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _close(
        _grads((out * upstream).sum(), [logits])[0],
        _grads((expected * upstream).sum(), [logits])[0],
        torch.float64,
    )
    summed = causal_lm.compute(labels, logits=logits, reduction="sum", **ALL_OPTIONS)["loss"]
    _close(summed, expected.sum(), torch.float64)


def test_int32_labels_and_a_python_int_count_keep_float64_precision():
    hidden, weight, bias, labels = _batch(torch.float64, seed=16)
    targets = _shifted(labels)
    expected = (
        F.cross_entropy(
            F.linear(hidden, weight, bias)[targets != -100], targets[targets != -100], reduction="sum"
        )
        / 7
    )
    for ours in (
        causal_lm.compute(labels.int(), logits=F.linear(hidden, weight, bias), num_items_in_batch=7)["loss"],
        _chunked(hidden, weight, bias, labels.int(), num_items_in_batch=7, chunk_size=4)["loss"],
    ):
        torch.testing.assert_close(ours, expected, rtol=1e-14, atol=1e-14)


def test_without_a_process_group_vocab_parallel_is_the_whole_vocabulary():
    hidden, weight, bias, labels = _batch(torch.float64, seed=11)
    base = _chunked(hidden, weight, bias, labels, **ALL_OPTIONS)["loss"]
    _close(
        _chunked(hidden, weight, bias, labels, vocab_parallel=True, **ALL_OPTIONS)["loss"],
        base,
        torch.float64,
    )


def test_logits_path_is_differentiable_once():
    hidden, weight, bias, labels = _batch(torch.float64, seed=12)
    logits = F.linear(hidden, weight, bias)
    loss = causal_lm.compute(labels, logits=logits)["loss"]
    (grad,) = torch.autograd.grad(loss, [logits], create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.autograd.grad(grad.sum(), [hidden])


# -- errors ------------------------------------------------------------------------------------


def test_bad_calls_raise_clear_errors():
    hidden, weight, bias, labels = _batch(torch.float32, seed=13)
    logits = F.linear(hidden, weight, bias)
    with pytest.raises(LossParameterError, match=r"causal_lm.*num_items_in_batch.*reduction='mean'"):
        causal_lm.compute(labels, logits=logits, num_items_in_batch=4, reduction="sum")
    with pytest.raises(LossParameterError, match=r"causal_lm.*num_items_in_batch.*1-element"):
        causal_lm.compute(labels, logits=logits, num_items_in_batch=torch.tensor([3, 4]))
    with pytest.raises(LossParameterError, match=r"causal_lm.*chunk_size.*hidden_states"):
        causal_lm.compute(labels, logits=logits, chunk_size=4)
    with pytest.raises(LossParameterError, match=r"causal_lm.*reduction='none'.*logits"):
        _chunked(hidden, weight, bias, labels, reduction="none")
    with pytest.raises(LossParameterError, match=r"causal_lm.*process_group.*vocab_parallel"):
        causal_lm.compute(labels, logits=logits, process_group=object())
    with pytest.raises(LossParameterError, match=r"causal_lm.*label_smoothing"):
        causal_lm({"logits": logits}, {"labels": labels}, label_smoothing=1.5)
    with pytest.raises(LossParameterError, match=r"causal_lm.*chunk_size"):
        causal_lm({"logits": logits}, {"labels": labels}, chunk_size=0)
    out_of_range = labels.clone()
    out_of_range[2, 4] = V
    for call in (
        lambda: causal_lm.compute(out_of_range, logits=logits),
        lambda: _chunked(hidden, weight, bias, out_of_range),
    ):
        with pytest.raises(LossInputError, match=rf"causal_lm.*'labels'.*\[0, {V}\).*{V}"):
            call()
    with pytest.raises(MissingInputError, match=r"causal_lm.*logits"):
        causal_lm({}, {"labels": labels})
    with pytest.raises(LossInputError, match=r"causal_lm.*hidden_states.*lm_head_weight"):
        causal_lm({"hidden_states": hidden}, {"labels": labels})


# -- protocol, compile, config -----------------------------------------------------------------


def test_conforms():
    assert_conforms("causal_lm")


def test_compile_on_the_chunked_path_gives_the_eager_values():
    # the chunked engine computes gradients in its forward pass with a Python loop:
    # torch.compile graph-breaks around it (no fullgraph) and must still be right
    hidden, weight, bias, labels = _batch(torch.float32, seed=14)

    def step(h, w, b, y):
        out = LOSSES["causal_lm"](
            {"hidden_states": h, "lm_head_weight": w, "lm_head_bias": b},
            {"labels": y},
            chunk_size=5,
            **ALL_OPTIONS,
        )
        return out * 2

    expected = step(hidden, weight, bias, labels)
    expected_grads = _grads(expected, [hidden, weight, bias])
    torch._dynamo.reset()
    compiled = torch.compile(step, backend="aot_eager")
    got = compiled(hidden, weight, bias, labels)
    _close(got, expected, torch.float32)
    for g, want in zip(_grads(got, [hidden, weight, bias]), expected_grads, strict=True):
        _close(g, want, torch.float32)


def test_from_yaml_config(tmp_path):
    path = tmp_path / "sft.yaml"
    path.write_text(
        "loss:\n  type: causal_lm\n  kwargs:\n"
        "    z_loss: 0.0001\n    label_smoothing: 0.1\n    chunk_size: 4\n",
        encoding="utf-8",
    )
    hidden, weight, bias, labels = _batch(torch.float64, seed=15)
    loss_fn = loss_from_config(path)
    out = loss_fn(
        {"hidden_states": hidden, "lm_head_weight": weight, "lm_head_bias": bias}, {"labels": labels}
    )
    expected = _paper_loop(F.linear(hidden, weight, bias), _shifted(labels), eps=0.1, lam=1e-4)
    _close(out["loss"], expected, torch.float64)
    assert set(out["metrics"]) == {"num_tokens", "accuracy", "z_loss"}
