"""losses_llm.cpo against Liger-Kernel's fused CPO (sigmoid, with summed or
averaged log-probs) and TRL's ``CPOTrainer`` (transcribed in
``_preference_trl``, every loss type) on per-sequence log-probs from a loop
over tokens; the input paths agree."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _preference_data import IGNORE, assert_grads_close, grads, loop_logps, make_batch
from _preference_trl import trl_cpo

from losses_core import LossParameterError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import cpo


@pytest.mark.parametrize(("chunk_size", "eps", "alpha"), [(1, 0.0, 1.0), (2, 0.1, 0.5), (3, 0.0, 0.0)])
def test_equals_liger_fused_cpo(chunk_size, eps, alpha):
    from liger_kernel.chunked_loss import LigerFusedLinearCPOLoss

    batch = make_batch(rows=6, scale=0.5, seed=1)
    ours = cpo(
        batch.model_output("hidden_states"),
        {"labels": batch.labels},
        beta=0.3,
        label_smoothing=eps,
        cpo_alpha=alpha,
        chunk_size=chunk_size,
    )
    oracle = LigerFusedLinearCPOLoss(
        beta=0.3,
        alpha=alpha,
        label_smoothing=eps,
        compute_nll_loss=alpha > 0,
        compiled=False,
        chunk_size=chunk_size,
    )
    value, aux = oracle(batch.weight, batch.hidden, batch.shifted(), batch.bias)
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)
    torch.testing.assert_close(ours["metrics"]["logps_chosen"], aux[0].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours["metrics"]["rewards_rejected"], aux[6].mean(), rtol=1e-5, atol=1e-5)


def test_simpo_type_without_margin_equals_liger_cpo_with_averaged_log_probs():
    from liger_kernel.chunked_loss import LigerFusedLinearCPOLoss

    batch = make_batch(rows=6, scale=0.5, seed=2)
    ours = cpo(
        batch.model_output("hidden_states"),
        {"labels": batch.labels},
        beta=2.0,
        loss_type="simpo",
        simpo_gamma=0.0,
    )
    value, _ = LigerFusedLinearCPOLoss(beta=2.0, average_log_prob=True, compiled=False)(
        batch.weight, batch.hidden, batch.shifted(), batch.bias
    )
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)


CASES = [
    ("sigmoid", 0.0, {}),
    ("sigmoid", 0.2, {"cpo_alpha": 0.5}),
    ("hinge", 0.0, {}),
    ("ipo", 0.0, {"cpo_alpha": 0.0}),
    ("simpo", 0.0, {}),
    ("simpo", 0.1, {"simpo_gamma": 0.8, "cpo_alpha": 0.0}),
]


@pytest.mark.parametrize(("loss_type", "eps", "extra"), CASES)
def test_equals_trl_cpo_trainer_on_loop_log_probs(loss_type, eps, extra):
    batch = make_batch(rows=8, seq=6, dtype=torch.float64, seed=3)
    pairs = batch.rows // 2
    beta = 0.4
    ours = cpo(
        batch.model_output("logits"),
        {"labels": batch.labels},
        beta=beta,
        loss_type=loss_type,
        label_smoothing=eps,
        **extra,
    )
    logits = batch.logits()
    sums, counts = loop_logps(logits, batch.labels)
    scores = sums / counts if loss_type in ("ipo", "simpo") else sums
    # CPOTrainer.concatenated_forward: cross_entropy_loss(all_logits[:len_chosen], labels[:len_chosen])
    nll = F.cross_entropy(
        logits[:pairs, :-1].reshape(-1, logits.shape[-1]),
        batch.labels[:pairs, 1:].reshape(-1),
        ignore_index=IGNORE,
    )
    expected = trl_cpo(
        scores[:pairs],
        scores[pairs:],
        nll,
        beta=beta,
        loss_type=loss_type,
        label_smoothing=eps,
        simpo_gamma=extra.get("simpo_gamma", 0.5),
        cpo_alpha=extra.get("cpo_alpha", 1.0),
    )
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-7, atol=1e-7)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(expected, batch.leaves()), 1e-7)
    if extra.get("cpo_alpha", 1.0) > 0:
        torch.testing.assert_close(ours["metrics"]["nll_loss"], nll.detach())
    else:
        assert "nll_loss" not in ours["metrics"]


@pytest.mark.parametrize("chunk_size", [1, 3, None])
@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo", "simpo"])
def test_the_three_paths_agree(loss_type, chunk_size):
    batch = make_batch(rows=10, seq=6, dtype=torch.float64, seed=4)
    chunked = cpo(
        batch.model_output("hidden_states"),
        {"labels": batch.labels},
        loss_type=loss_type,
        chunk_size=chunk_size,
    )
    want = grads(chunked["loss"], batch.leaves())
    for path in ("logits", "log_probs"):
        other = cpo(
            batch.model_output(path), {"labels": batch.labels}, loss_type=loss_type, **batch.path_params(path)
        )
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=1e-10, atol=1e-10)
        assert_grads_close(grads(other["loss"], batch.leaves()), want, 1e-10)


@pytest.mark.parametrize("path", ["hidden_states", "logits", "log_probs"])
def test_nothing_to_score_gives_a_connected_zero(path):
    batch = make_batch(rows=4, dtype=torch.float64, seed=5)
    batch.labels[:] = IGNORE
    out = cpo(batch.model_output(path), {"labels": batch.labels}, **batch.path_params(path))
    assert float(out["loss"].detach()) == 0.0 and out["loss"].requires_grad
    for g in grads(out["loss"], batch.leaves()):
        assert g is not None and float(g.abs().max()) == 0.0


def test_conformance():
    assert_conforms("cpo")


def test_loads_from_yaml_config(tmp_path):
    config = tmp_path / "loss.yaml"
    config.write_text("loss:\n  class: cpo\n  params: {loss_type: simpo, simpo_gamma: 0.3, beta: 1.0}\n")
    batch = make_batch(seed=6)
    out = loss_from_config(str(config))(batch.model_output("logits"), {"labels": batch.labels})
    want = cpo(
        batch.model_output("logits"), {"labels": batch.labels}, loss_type="simpo", simpo_gamma=0.3, beta=1.0
    )
    torch.testing.assert_close(out["loss"], want["loss"])


def test_errors():
    batch = make_batch(seed=7)
    mo, t = batch.model_output("logits"), {"labels": batch.labels}
    with pytest.raises(
        LossParameterError, match="'label_smoothing' applies to loss_type 'sigmoid' and 'simpo'"
    ):
        cpo(mo, t, loss_type="ipo", label_smoothing=0.1)
    with pytest.raises(LossParameterError, match="'simpo_gamma' applies to loss_type='simpo' only"):
        cpo(mo, t, simpo_gamma=0.5)
    with pytest.raises(LossParameterError, match="cpo_alpha"):
        cpo(mo, t, cpo_alpha=-1.0)
