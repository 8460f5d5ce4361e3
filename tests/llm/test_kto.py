"""losses_llm.kto against Liger-Kernel's fused KTO and TRL's ``KTOTrainer``
(transcribed in ``_preference_trl``: desirable/undesirable weights, the KL
reference point from mismatched completions, apo_zero_unpaired) on
per-sequence log-probs from a loop over tokens; the input paths agree."""

from __future__ import annotations

import pytest
import torch
from _preference_data import IGNORE, assert_grads_close, grads, loop_logps, make_batch
from _preference_trl import trl_kto

from losses_core import LossInputError, LossParameterError, MissingInputError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import kto

DESIRABLE = torch.tensor([True, False, False, True, True, False, True])


def _targets(batch, **extra):
    rows = batch.rows
    g = torch.Generator().manual_seed(rows)
    dtype = batch.hidden.dtype
    targets = {
        "labels": batch.labels,
        "desirable": DESIRABLE[:rows],
        "ref_logps": batch.ref_logps(),
        "kl_logps": -20.0 - torch.rand(rows, generator=g, dtype=dtype),
        "ref_kl_logps": -21.0 - torch.rand(rows, generator=g, dtype=dtype),
    }
    targets.update(extra)
    return {k: v for k, v in targets.items() if v is not None}


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_equals_liger_fused_kto(chunk_size):
    from liger_kernel.chunked_loss import LigerFusedLinearKTOLoss

    batch = make_batch(rows=7, scale=0.5, seed=1)
    kl = torch.tensor(0.7)
    targets = _targets(batch, kl=kl, kl_logps=None, ref_kl_logps=None)
    ours = kto(batch.model_output("hidden_states"), targets, beta=0.3, chunk_size=chunk_size)
    oracle = LigerFusedLinearKTOLoss(beta=0.3, compiled=False, use_ref_model=True, chunk_size=chunk_size)
    value, aux = oracle(
        batch.hidden,
        batch.weight,
        batch.shifted(),
        batch.bias,
        DESIRABLE,
        batch.ref_hidden,
        batch.ref_weight,
        batch.ref_bias,
        kl,
    )
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)
    chosen, rejected = DESIRABLE.sum(), (~DESIRABLE).sum()
    torch.testing.assert_close(ours["metrics"]["logps_chosen"], aux[0] / chosen, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours["metrics"]["rewards_chosen"], aux[4] / chosen, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours["metrics"]["rewards_rejected"], aux[5] / rejected, rtol=1e-5, atol=1e-5)


CASES = [
    ("kto", 1.0, 1.0, 0.0),
    ("kto", 1.33, 0.7, 0.0),
    ("kto", 1.0, 1.0, -2.0),  # the KL estimate is negative: clamped at 0
    ("apo_zero_unpaired", 0.8, 1.2, 0.0),
]


@pytest.mark.parametrize(("loss_type", "wd", "wu", "kl_shift"), CASES)
def test_equals_trl_kto_trainer_on_loop_log_probs(loss_type, wd, wu, kl_shift):
    batch = make_batch(rows=7, seq=6, dtype=torch.float64, seed=2)
    targets = _targets(batch)
    targets["ref_kl_logps"] = targets["ref_kl_logps"] - kl_shift
    if loss_type != "kto":
        del targets["kl_logps"], targets["ref_kl_logps"]
    ours = kto(
        batch.model_output("logits"),
        targets,
        beta=0.5,
        desirable_weight=wd,
        undesirable_weight=wu,
        loss_type=loss_type,
    )
    sums, _ = loop_logps(batch.logits(), batch.labels)
    expected, kl = trl_kto(
        sums,
        targets["ref_logps"],
        DESIRABLE,
        targets.get("kl_logps"),
        targets.get("ref_kl_logps"),
        beta=0.5,
        loss_type=loss_type,
        desirable_weight=wd,
        undesirable_weight=wu,
    )
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-7, atol=1e-7)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(expected, batch.leaves()), 1e-7)
    torch.testing.assert_close(ours["metrics"]["kl"], kl.reshape(()))
    if kl_shift < 0:
        assert float(ours["metrics"]["kl"]) == 0.0


def test_the_kl_scalar_equals_the_kl_log_probs():
    batch = make_batch(rows=7, dtype=torch.float64, seed=3)
    targets = _targets(batch)
    kl = (targets["kl_logps"] - targets["ref_kl_logps"]).mean()
    scalar = kto(batch.model_output("logits"), _targets(batch, kl=kl, kl_logps=None, ref_kl_logps=None))
    from_logps = kto(batch.model_output("logits"), targets)
    torch.testing.assert_close(scalar["loss"], from_logps["loss"], rtol=0, atol=0)


def test_the_kl_reference_point_is_detached():
    batch = make_batch(rows=7, dtype=torch.float64, seed=4)
    kl_logps = torch.full((7,), -3.0, dtype=torch.float64, requires_grad=True)
    out = kto(batch.model_output("logits"), _targets(batch, kl_logps=kl_logps))
    (grad,) = torch.autograd.grad(out["loss"], [kl_logps], allow_unused=True)
    assert grad is None


@pytest.mark.parametrize("chunk_size", [1, 3, None])
@pytest.mark.parametrize("loss_type", ["kto", "apo_zero_unpaired"])
def test_the_three_paths_agree(loss_type, chunk_size):
    batch = make_batch(rows=7, seq=6, dtype=torch.float64, seed=5)
    targets = _targets(batch)
    if loss_type != "kto":
        del targets["kl_logps"], targets["ref_kl_logps"]
    params = {"loss_type": loss_type, "desirable_weight": 1.5}
    chunked = kto(batch.model_output("hidden_states"), targets, chunk_size=chunk_size, **params)
    want = grads(chunked["loss"], batch.leaves())
    for path in ("logits", "log_probs"):
        other = kto(batch.model_output(path), targets, **batch.path_params(path), **params)
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=1e-10, atol=1e-10)
        assert_grads_close(grads(other["loss"], batch.leaves()), want, 1e-10)
        for name, value in other["metrics"].items():
            torch.testing.assert_close(chunked["metrics"][name], value, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", ["hidden_states", "logits", "log_probs"])
def test_empty_completions_are_left_out_and_nothing_to_score_gives_zero(path):
    batch = make_batch(rows=7, dtype=torch.float64, seed=6)
    batch.labels[2, :] = IGNORE
    targets = _targets(batch)
    out = kto(batch.model_output(path), targets, **batch.path_params(path))
    sums, _ = loop_logps(batch.logits(), batch.labels)
    keep = [0, 1, 3, 4, 5, 6]
    expected, _ = trl_kto(
        sums[keep],
        targets["ref_logps"][keep],
        DESIRABLE[keep],
        targets["kl_logps"],
        targets["ref_kl_logps"],
        beta=0.1,
    )
    torch.testing.assert_close(out["loss"], expected, rtol=1e-10, atol=1e-10)
    assert float(out["metrics"]["num_undesirable"]) == 2.0
    batch.labels[:] = IGNORE
    empty = kto(batch.model_output(path), targets, **batch.path_params(path))
    assert float(empty["loss"].detach()) == 0.0 and empty["loss"].requires_grad
    for g in grads(empty["loss"], batch.leaves()):
        assert g is not None and float(g.abs().max()) == 0.0


def test_reference_free_equals_zero_reference_log_probs():
    batch = make_batch(rows=7, dtype=torch.float64, seed=7)
    targets = _targets(batch)
    free = kto(batch.model_output("logits"), {**targets, "ref_logps": None}, reference_free=True)
    zeros = kto(batch.model_output("logits"), {**targets, "ref_logps": torch.zeros(7, dtype=torch.float64)})
    torch.testing.assert_close(free["loss"], zeros["loss"], rtol=0, atol=0)


def test_conformance():
    assert_conforms("kto")


def test_loads_from_yaml_config(tmp_path):
    config = tmp_path / "loss.yaml"
    config.write_text("loss:\n  class: kto\n  params: {beta: 0.2, undesirable_weight: 1.5}\n")
    batch = make_batch(rows=7, seed=8)
    out = loss_from_config(str(config))(batch.model_output("logits"), _targets(batch))
    want = kto(batch.model_output("logits"), _targets(batch), beta=0.2, undesirable_weight=1.5)
    torch.testing.assert_close(out["loss"], want["loss"])


def test_errors():
    batch = make_batch(rows=7, seed=9)
    mo, t = batch.model_output("logits"), _targets(batch)
    without_kl = {k: v for k, v in t.items() if k not in ("kl_logps", "ref_kl_logps")}
    with pytest.raises(MissingInputError, match="kto: input 'kl_logps' is missing: loss_type='kto' needs"):
        kto(mo, without_kl)
    with pytest.raises(MissingInputError, match="input 'ref_kl_logps' is missing"):
        kto(mo, {**without_kl, "kl_logps": t["kl_logps"]})
    with pytest.raises(LossInputError, match="either as input 'kl' or as inputs"):
        kto(mo, {**t, "kl": torch.tensor(0.1)})
    with pytest.raises(LossInputError, match="uses no KL reference point"):
        kto(mo, t, loss_type="apo_zero_unpaired")
    with pytest.raises(MissingInputError, match="input 'ref_logps'"):
        kto(mo, {k: v for k, v in t.items() if k != "ref_logps"})
    with pytest.raises(LossInputError, match="reference_free=True uses no reference model"):
        kto(mo, t, reference_free=True)
    with pytest.raises(LossInputError, match="desirable"):
        kto(mo, {**t, "desirable": DESIRABLE[:3]})
    with pytest.raises(LossParameterError, match="desirable_weight"):
        kto(mo, t, desirable_weight=-1.0)
