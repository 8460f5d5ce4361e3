"""losses_llm.simpo against Liger-Kernel's fused SimPO and the authors'
``SimPOTrainer`` (transcribed in ``_preference_trl``) on per-sequence
log-probs from a loop over tokens; equal to TRL's CPO ``simpo`` loss type;
the input paths agree."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _preference_data import IGNORE, assert_grads_close, grads, loop_logps, make_batch
from _preference_trl import simpo_trainer

from losses_core import LossInputError, LossParameterError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import cpo, simpo


@pytest.mark.parametrize(
    ("chunk_size", "eps", "sft_weight"), [(1, 0.0, 0.0), (2, 0.1, 0.0), (1, 0.0, 0.5), (3, 0.2, 1.0)]
)
def test_equals_liger_fused_simpo(chunk_size, eps, sft_weight):
    from liger_kernel.chunked_loss import LigerFusedLinearSimPOLoss

    batch = make_batch(rows=6, scale=0.5, seed=1)
    ours = simpo(
        batch.model_output("hidden_states"),
        {"labels": batch.labels},
        beta=1.5,
        gamma=0.4,
        label_smoothing=eps,
        sft_weight=sft_weight,
        chunk_size=chunk_size,
    )
    oracle = LigerFusedLinearSimPOLoss(
        beta=1.5,
        gamma=0.4,
        label_smoothing=eps,
        alpha=sft_weight,
        compute_nll_loss=sft_weight > 0,
        compiled=False,
        chunk_size=chunk_size,
    )
    value, aux = oracle(batch.weight, batch.hidden, batch.shifted(), batch.bias)
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)
    torch.testing.assert_close(ours["metrics"]["logps_rejected"], aux[1].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours["metrics"]["rewards_chosen"], aux[5].mean(), rtol=1e-5, atol=1e-5)
    if sft_weight > 0:
        torch.testing.assert_close(ours["metrics"]["nll_loss"], aux[4], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("loss_type", "eps", "sft_weight"), [("sigmoid", 0.0, 0.0), ("sigmoid", 0.15, 0.3), ("hinge", 0.0, 0.7)]
)
def test_equals_the_authors_simpo_trainer_on_loop_log_probs(loss_type, eps, sft_weight):
    batch = make_batch(rows=8, seq=6, dtype=torch.float64, seed=2)
    pairs = batch.rows // 2
    beta, gamma = 2.0, 0.5
    ours = simpo(
        batch.model_output("logits"),
        {"labels": batch.labels},
        beta=beta,
        gamma=gamma,
        loss_type=loss_type,
        label_smoothing=eps,
        sft_weight=sft_weight,
    )
    logits = batch.logits()
    sums, counts = loop_logps(logits, batch.labels)
    mean = sums / counts
    # SimPOTrainer.get_batch_loss_metrics: CrossEntropyLoss on the shifted chosen logits and labels
    sft = F.cross_entropy(
        logits[:pairs, :-1].reshape(-1, logits.shape[-1]),
        batch.labels[:pairs, 1:].reshape(-1),
        ignore_index=IGNORE,
    )
    expected = simpo_trainer(
        mean[:pairs],
        mean[pairs:],
        sft,
        beta=beta,
        gamma_beta_ratio=gamma / beta,
        loss_type=loss_type,
        label_smoothing=eps,
        sft_weight=sft_weight,
    )
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-7, atol=1e-7)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(expected, batch.leaves()), 1e-7)
    torch.testing.assert_close(
        ours["metrics"]["rewards_margins"], (beta * (mean[:pairs] - mean[pairs:])).mean()
    )


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_equals_cpo_with_the_simpo_loss_type_and_no_nll(eps):
    batch = make_batch(rows=6, dtype=torch.float64, seed=3)
    ours = simpo(
        batch.model_output("logits"), {"labels": batch.labels}, beta=2.5, gamma=0.7, label_smoothing=eps
    )
    other = cpo(
        batch.model_output("logits"),
        {"labels": batch.labels},
        beta=2.5,
        loss_type="simpo",
        simpo_gamma=0.7,
        cpo_alpha=0.0,
        label_smoothing=eps,
    )
    torch.testing.assert_close(ours["loss"], other["loss"], rtol=1e-12, atol=1e-12)


def test_defaults_are_the_authors():
    """beta=2, gamma=0.5 (their gamma_beta_ratio 0.25 times beta), sigmoid, no SFT term."""
    batch = make_batch(rows=6, dtype=torch.float64, seed=4)
    pairs = batch.rows // 2
    ours = simpo(batch.model_output("logits"), {"labels": batch.labels})
    sums, counts = loop_logps(batch.logits(), batch.labels)
    mean = sums / counts
    expected = simpo_trainer(
        mean[:pairs], mean[pairs:], torch.zeros(()), beta=2.0, gamma_beta_ratio=0.25, loss_type="sigmoid"
    )
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk_size", [1, 3, None])
@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge"])
def test_the_three_paths_agree(loss_type, chunk_size):
    batch = make_batch(rows=10, seq=6, dtype=torch.float64, seed=5)
    params = {"loss_type": loss_type, "sft_weight": 0.5}
    chunked = simpo(
        batch.model_output("hidden_states"), {"labels": batch.labels}, chunk_size=chunk_size, **params
    )
    want = grads(chunked["loss"], batch.leaves())
    for path in ("logits", "log_probs"):
        other = simpo(batch.model_output(path), {"labels": batch.labels}, **batch.path_params(path), **params)
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=1e-10, atol=1e-10)
        assert_grads_close(grads(other["loss"], batch.leaves()), want, 1e-10)


@pytest.mark.parametrize("path", ["hidden_states", "logits", "log_probs"])
def test_nothing_to_score_gives_a_connected_zero(path):
    batch = make_batch(rows=4, dtype=torch.float64, seed=6)
    batch.labels[:] = IGNORE
    out = simpo(batch.model_output(path), {"labels": batch.labels}, sft_weight=1.0, **batch.path_params(path))
    assert float(out["loss"].detach()) == 0.0 and out["loss"].requires_grad
    for g in grads(out["loss"], batch.leaves()):
        assert g is not None and float(g.abs().max()) == 0.0


def test_conformance():
    assert_conforms("simpo")


def test_loads_from_yaml_config(tmp_path):
    config = tmp_path / "loss.yaml"
    config.write_text("train:\n  loss:\n    class: simpo\n    params: {beta: 2.5, gamma: 1.375}\n")
    batch = make_batch(seed=7)
    out = loss_from_config(str(config), section="train")(
        batch.model_output("logits"), {"labels": batch.labels}
    )
    want = simpo(batch.model_output("logits"), {"labels": batch.labels}, beta=2.5, gamma=1.375)
    torch.testing.assert_close(out["loss"], want["loss"])


def test_errors():
    batch = make_batch(seed=8)
    mo, t = batch.model_output("logits"), {"labels": batch.labels}
    with pytest.raises(LossParameterError, match="'label_smoothing' applies to loss_type='sigmoid' only"):
        simpo(mo, t, loss_type="hinge", label_smoothing=0.1)
    with pytest.raises(LossParameterError, match="gamma"):
        simpo(mo, t, gamma=-1.0)
    with pytest.raises(LossInputError, match="simpo: input 'labels' has 1 sequences"):
        simpo({"logits": mo["logits"][:1]}, {"labels": batch.labels[:1]})
