"""losses_llm.dpo: every loss type against Liger-Kernel's fused DPO (the types
it has) and against TRL's ``DPOTrainer`` formulas transcribed in
``_preference_trl`` (all of them), on per-sequence log-probs from a loop over
tokens; the three input paths agree; the properties of the loss family."""

from __future__ import annotations

import math

import pytest
import torch
from _preference_data import IGNORE, Batch, assert_grads_close, grads, loop_logps, make_batch
from _preference_trl import trl_dpo, trl_dpo_metrics

from losses_core import LossInputError, LossParameterError, MissingInputError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import dpo

LIGER_TYPES = [
    "sigmoid",
    "hinge",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "apo_zero",
    "apo_down",
    "discopop",
]
ALL_TYPES = [*LIGER_TYPES, "ipo", "aot", "aot_unpaired", "sigmoid_norm"]
SMOOTHING = {"exo_pair": 0.01, "robust": 0.1}
PATHS = ["hidden_states", "logits", "log_probs"]


def _params(loss_type: str, **extra):
    params = {"beta": 0.5, "loss_type": loss_type, "label_smoothing": SMOOTHING.get(loss_type, 0.0)}
    params.update(extra)
    return params


def _targets(batch, ref=None):
    ref = batch.ref_logps() if ref is None else ref
    pairs = batch.rows // 2
    return {"labels": batch.labels, "ref_chosen_logps": ref[:pairs], "ref_rejected_logps": ref[pairs:]}


def _call(batch, path, params, ref=None):
    return dpo(batch.model_output(path), _targets(batch, ref), **batch.path_params(path), **params)


@pytest.mark.parametrize("chunk_size", [1, 2])
@pytest.mark.parametrize("loss_type", LIGER_TYPES)
def test_equals_liger_fused_dpo_values_and_gradients(loss_type, chunk_size):
    from liger_kernel.chunked_loss import LigerFusedLinearDPOLoss

    batch = make_batch(rows=6, seq=7, hidden=8, vocab=13, scale=0.5)
    params = _params(loss_type)
    ours = _call(batch, "hidden_states", {**params, "chunk_size": chunk_size})
    oracle = LigerFusedLinearDPOLoss(
        beta=params["beta"],
        loss_type=loss_type,
        label_smoothing=params["label_smoothing"],
        compiled=False,
        chunk_size=chunk_size,
    )
    value, aux = oracle(
        batch.weight,
        batch.hidden,
        batch.shifted(),
        batch.bias,
        batch.ref_hidden,
        batch.ref_weight,
        batch.ref_bias,
    )
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)
    chosen_rewards, rejected_rewards = aux[5], aux[6]
    torch.testing.assert_close(ours["metrics"]["rewards_chosen"], chosen_rewards.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        ours["metrics"]["rewards_rejected"], rejected_rewards.mean(), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(ours["auxiliary"]["chosen_logps"], aux[0], rtol=1e-5, atol=1e-5)


def test_equals_liger_without_bias():
    from liger_kernel.chunked_loss import LigerFusedLinearDPOLoss

    batch = make_batch(bias=False, seed=3)
    ours = _call(batch, "hidden_states", {"beta": 0.3})
    value, _ = LigerFusedLinearDPOLoss(beta=0.3, compiled=False)(
        batch.weight, batch.hidden, batch.shifted(), None, batch.ref_hidden, batch.ref_weight, None
    )
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)


CASES = [(t, SMOOTHING.get(t, 0.0), {}) for t in ALL_TYPES] + [
    ("sigmoid", 0.2, {}),  # conservative DPO
    ("aot", 0.1, {}),
    ("aot_unpaired", 0.15, {}),
    ("discopop", 0.0, {"discopop_tau": 0.3}),
]


@pytest.mark.parametrize(("loss_type", "eps", "extra"), CASES)
def test_equals_trl_dpo_trainer_on_loop_log_probs(loss_type, eps, extra):
    batch = make_batch(rows=8, seq=6, dtype=torch.float64, seed=1)
    pairs = batch.rows // 2
    ref = batch.ref_logps()
    ours = _call(batch, "logits", {"beta": 0.5, "loss_type": loss_type, "label_smoothing": eps, **extra}, ref)
    sums, counts = loop_logps(batch.logits(), batch.labels)
    expected = trl_dpo(
        sums[:pairs],
        sums[pairs:],
        ref[:pairs],
        ref[pairs:],
        counts[:pairs],
        counts[pairs:],
        beta=0.5,
        loss_type=loss_type,
        label_smoothing=eps,
        discopop_tau=extra.get("discopop_tau", 0.05),
    )
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-7, atol=1e-7)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(expected, batch.leaves()), 1e-7)
    metrics = trl_dpo_metrics(sums[:pairs], sums[pairs:], ref[:pairs], ref[pairs:], 0.5)
    for name, value in metrics.items():
        torch.testing.assert_close(
            ours["metrics"][name.replace("/", "_")], value, rtol=1e-7, atol=1e-7, check_dtype=False
        )
    torch.testing.assert_close(
        ours["auxiliary"]["rejected_logps"], sums[pairs:].detach(), rtol=1e-7, atol=1e-7
    )


@pytest.mark.parametrize("chunk_size", [1, 3, None])
@pytest.mark.parametrize("loss_type", ALL_TYPES)
def test_the_three_paths_agree(loss_type, chunk_size):
    batch = make_batch(rows=10, seq=6, dtype=torch.float64, seed=2)
    params = _params(loss_type)
    ref = batch.ref_logps()
    chunked = _call(batch, "hidden_states", {**params, "chunk_size": chunk_size}, ref)
    want = grads(chunked["loss"], batch.leaves())
    for path in ("logits", "log_probs"):
        other = _call(batch, path, params, ref)
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=1e-10, atol=1e-10)
        assert_grads_close(grads(other["loss"], batch.leaves()), want, 1e-10)
        for name, value in other["metrics"].items():
            torch.testing.assert_close(chunked["metrics"][name], value, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("loss_type", ["sigmoid", "aot", "ipo"])
def test_no_grad_evaluation_gives_the_value(loss_type):
    batch = make_batch(rows=6, dtype=torch.float64, seed=4)
    ref = batch.ref_logps()
    want = _call(batch, "logits", _params(loss_type), ref)["loss"]
    with torch.no_grad():
        got = _call(batch, "hidden_states", {**_params(loss_type), "chunk_size": 2}, ref)["loss"]
    torch.testing.assert_close(got, want.detach(), rtol=1e-12, atol=1e-12)


def test_small_beta_limit_of_the_sigmoid_loss():
    r"""With :math:`x = \beta\Delta_i`, :math:`-\log\sigma(x) = \log 2 - x/2 + x^2/8 + O(x^4)`
    and :math:`\sigma(-x) = 1/2 - x/4 + O(x^3)`: as :math:`\beta \to 0` the loss tends
    to :math:`\log 2` as :math:`\log 2 - \beta\,\overline{\Delta}/2 + \beta^2\,\overline{\Delta^2}/8`,
    and its gradient :math:`-\frac{\beta}{P}\sum_i \sigma(-\beta\Delta_i)\nabla\Delta_i` divided by
    :math:`\beta` tends to :math:`-\frac{1}{P}\sum_i (\tfrac12 - \beta\Delta_i/4)\nabla\Delta_i`,
    i.e. :math:`-\tfrac12` of the mean of :math:`\nabla\log\pi(y_w) - \nabla\log\pi(y_l)` at first order
    (the reference terms are constants)."""
    batch = make_batch(rows=6, dtype=torch.float64, seed=5)
    beta = 1e-6
    pairs = batch.rows // 2
    ref = batch.ref_logps()
    out = _call(batch, "logits", {"beta": beta}, ref)
    sums, _ = loop_logps(batch.logits(), batch.labels)
    delta = (sums[:pairs] - ref[:pairs]) - (sums[pairs:] - ref[pairs:])
    d = delta.detach()
    assert abs(float(out["loss"].detach()) - math.log(2)) < beta * float(d.abs().max())
    series = math.log(2) - beta * d.mean() / 2 + beta**2 * d.square().mean() / 8
    torch.testing.assert_close(out["loss"].detach(), series, rtol=0, atol=1e-14)
    got = [g / beta for g in grads(out["loss"], batch.leaves())]
    expansion = grads(-((0.5 - beta * d / 4) * delta).mean(), batch.leaves())
    for a, b in zip(got, expansion, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_robust_without_smoothing_is_sigmoid():
    batch = make_batch(seed=6)
    ref = batch.ref_logps()
    robust = _call(batch, "hidden_states", {"loss_type": "robust", "label_smoothing": 0.0}, ref)
    sigmoid = _call(batch, "hidden_states", {"loss_type": "sigmoid"}, ref)
    torch.testing.assert_close(robust["loss"], sigmoid["loss"], rtol=0, atol=0)
    assert_grads_close(grads(robust["loss"], batch.leaves()), grads(sigmoid["loss"], batch.leaves()), 0.0)


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "aot", "sppo_hard"])
def test_reference_free_equals_zero_reference_log_probs(loss_type):
    batch = make_batch(rows=6, dtype=torch.float64, seed=7)
    labels = batch.labels
    free = dpo(batch.model_output("logits"), {"labels": labels}, reference_free=True, **_params(loss_type))
    zeros = _call(batch, "logits", _params(loss_type), torch.zeros(batch.rows, dtype=torch.float64))
    torch.testing.assert_close(free["loss"], zeros["loss"], rtol=0, atol=0)
    torch.testing.assert_close(free["metrics"]["rewards_chosen"], zeros["metrics"]["rewards_chosen"])


def test_the_auxiliary_log_probs_serve_as_the_reference():
    """Run on the reference model's output with reference_free=True, the loss
    hands back the summed completion log-probs that the policy's call takes."""
    batch = make_batch(rows=6, dtype=torch.float64, seed=8)
    with torch.no_grad():
        ref_out = dpo({"logits": batch.ref_logits()}, {"labels": batch.labels}, reference_free=True)
    aux = ref_out["auxiliary"]
    torch.testing.assert_close(torch.cat([aux["chosen_logps"], aux["rejected_logps"]]), batch.ref_logps())


def _drop_pairs(batch, keep):
    """The batch restricted to the pairs ``keep`` (both rows of each)."""
    pairs = batch.rows // 2
    rows = [*keep, *(pairs + i for i in keep)]
    sub = Batch(
        labels=batch.labels[rows],
        hidden=batch.hidden.detach()[rows].clone().requires_grad_(),
        weight=batch.weight,
        bias=batch.bias,
        ref_hidden=batch.ref_hidden[rows],
        ref_weight=batch.ref_weight,
        ref_bias=batch.ref_bias,
    )
    return sub, rows


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "aot", "sigmoid_norm", "aot_unpaired"])
def test_a_pair_with_an_empty_sequence_is_left_out(loss_type, path):
    batch = make_batch(rows=8, seq=6, dtype=torch.float64, seed=9)
    batch.labels[5, 1:] = IGNORE  # pair 1's rejected sequence has no completion token
    ref = batch.ref_logps()
    out = _call(batch, path, _params(loss_type), ref)
    sub, rows = _drop_pairs(batch, [0, 2, 3])
    want = _call(sub, path, _params(loss_type), ref[rows])
    torch.testing.assert_close(out["loss"], want["loss"], rtol=1e-12, atol=1e-12)
    hidden_grad, weight_grad = torch.autograd.grad(out["loss"], [batch.hidden, batch.weight])
    sub_hidden_grad, sub_weight_grad = torch.autograd.grad(want["loss"], [sub.hidden, batch.weight])
    torch.testing.assert_close(hidden_grad[rows], sub_hidden_grad, rtol=1e-12, atol=1e-12)
    assert float(hidden_grad[[1, 5]].abs().max()) == 0.0
    torch.testing.assert_close(weight_grad, sub_weight_grad, rtol=1e-12, atol=1e-12)
    assert float(out["metrics"]["num_pairs"]) == 3.0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "aot"])
def test_a_batch_with_nothing_to_score_gives_a_connected_zero(loss_type, path):
    batch = make_batch(rows=4, dtype=torch.float64, seed=10)
    batch.labels[:] = IGNORE
    out = _call(batch, path, _params(loss_type), torch.full((4,), -3.0, dtype=torch.float64))
    assert float(out["loss"].detach()) == 0.0 and out["loss"].requires_grad
    for g in grads(out["loss"], batch.leaves()):
        assert g is not None and torch.isfinite(g).all() and float(g.abs().max()) == 0.0
    assert all(torch.isfinite(v).all() for v in out["metrics"].values())


def test_log_probs_are_aligned_with_the_labels_by_default():
    batch = make_batch(rows=6, dtype=torch.float64, seed=11)
    ref = batch.ref_logps()
    pairs = batch.rows // 2
    from_logits = _call(batch, "logits", {}, ref)["loss"]
    aligned = dpo(
        {"log_probs": batch.token_log_probs()},
        {"labels": batch.shifted(), "ref_chosen_logps": ref[:pairs], "ref_rejected_logps": ref[pairs:]},
    )["loss"]
    at_logit_positions = _call(batch, "log_probs", {}, ref)["loss"]  # shift=True
    unshifted_logits = dpo(
        {"logits": batch.logits()},
        {"labels": batch.shifted(), "ref_chosen_logps": ref[:pairs], "ref_rejected_logps": ref[pairs:]},
        shift=False,
    )["loss"]
    for value in (aligned, at_logit_positions, unshifted_logits):
        torch.testing.assert_close(value, from_logits, rtol=1e-12, atol=1e-12)


def test_bfloat16_logits_are_scored_in_float32():
    batch = make_batch(rows=6, seed=12)
    logits = batch.logits().detach().to(torch.bfloat16).requires_grad_()
    ref = batch.ref_logps()
    pairs = batch.rows // 2
    targets = {"labels": batch.labels, "ref_chosen_logps": ref[:pairs], "ref_rejected_logps": ref[pairs:]}
    low = dpo({"logits": logits}, targets)["loss"]
    assert low.dtype == torch.float32
    want = dpo({"logits": logits.detach().float()}, targets)["loss"]
    torch.testing.assert_close(low, want, rtol=0, atol=0)


def test_torch_compile_gives_the_value_on_the_chunked_path():
    batch = make_batch(rows=6, seed=13)
    targets = _targets(batch)

    def run(model_output, targets):
        return dpo(model_output, targets, chunk_size=2)["loss"]

    compiled = torch.compile(run, backend="aot_eager")
    got = compiled(batch.model_output("hidden_states"), targets)
    want = run(batch.model_output("hidden_states"), targets)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert_grads_close(grads(got, batch.leaves()), grads(want, batch.leaves()), 1e-6)


def test_conformance():
    assert_conforms("dpo")


def test_loads_from_yaml_config(tmp_path):
    config = tmp_path / "loss.yaml"
    config.write_text("loss:\n  class: dpo\n  params:\n    beta: 0.2\n    loss_type: ipo\n")
    loss_fn = loss_from_config(str(config))
    batch = make_batch(seed=14)
    out = loss_fn(batch.model_output("logits"), _targets(batch))
    want = _call(batch, "logits", {"beta": 0.2, "loss_type": "ipo"})
    torch.testing.assert_close(out["loss"], want["loss"])
    assert set(out["metrics"]) == set(want["metrics"])


def test_errors_name_the_loss_and_what_was_expected():
    batch = make_batch(rows=6, seed=15)
    mo, t = batch.model_output("logits"), _targets(batch)
    with pytest.raises(LossInputError, match=r"dpo: input 'labels' has 5 sequences; a batch of P pairs"):
        dpo({"logits": mo["logits"][:5]}, {"labels": batch.labels[:5]}, reference_free=True)
    with pytest.raises(LossParameterError, match="'label_smoothing' applies to loss_type"):
        dpo(mo, t, loss_type="hinge", label_smoothing=0.1)
    with pytest.raises(LossParameterError, match="'exo_pair' needs parameter 'label_smoothing' > 0"):
        dpo(mo, t, loss_type="exo_pair")
    with pytest.raises(LossParameterError, match="'discopop_tau' applies to loss_type='discopop' only"):
        dpo(mo, t, discopop_tau=0.1)
    with pytest.raises(LossParameterError, match="label_smoothing"):
        dpo(mo, t, loss_type="robust", label_smoothing=0.5)
    with pytest.raises(LossParameterError, match="'chunk_size' applies to the chunked path"):
        dpo(mo, t, chunk_size=2)
    with pytest.raises(MissingInputError, match=r"'ref_rejected_logps'.*required unless reference_free=True"):
        dpo(mo, {"labels": batch.labels, "ref_chosen_logps": t["ref_chosen_logps"]})
    with pytest.raises(LossInputError, match="reference_free=True uses no reference model"):
        dpo(mo, t, reference_free=True)
    with pytest.raises(LossInputError, match="have 2 entries but 'labels' holds 3 pairs"):
        dpo(
            mo,
            {
                **t,
                "ref_chosen_logps": t["ref_chosen_logps"][:2],
                "ref_rejected_logps": t["ref_chosen_logps"][:2],
            },
        )
    with pytest.raises(LossInputError, match="give exactly one of"):
        dpo({**mo, "log_probs": batch.token_log_probs()}, t)
