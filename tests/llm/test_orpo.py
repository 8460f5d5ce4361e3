"""losses_llm.orpo against Liger-Kernel's fused ORPO and TRL's ``ORPOTrainer``
(transcribed in ``_preference_trl``) on per-sequence log-probs from a loop
over tokens; the input paths agree; finite at probability 1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _preference_data import IGNORE, assert_grads_close, grads, loop_logps, make_batch
from _preference_trl import trl_orpo

from losses_core import LossInputError, LossParameterError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import orpo


def _nll_labels(batch, seed=0):
    """The input ids of prompt and completion (TRL's ORPO NLL labels): the
    prompt positions get token ids, the padding stays ignored."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, batch.weight.shape[0], batch.labels.shape, generator=g)
    full = batch.labels.clone()
    for i in range(batch.rows):
        full[i, : 1 + i % 3] = ids[i, : 1 + i % 3]
    return full


def _shift(labels):
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE)], dim=1)


@pytest.mark.parametrize("with_nll_labels", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 2])
def test_equals_liger_fused_orpo(chunk_size, with_nll_labels):
    from liger_kernel.chunked_loss import LigerFusedLinearORPOLoss

    batch = make_batch(rows=6, scale=0.5, seed=1)
    targets = {"labels": batch.labels}
    nll_target = None
    if with_nll_labels:
        targets["nll_labels"] = _nll_labels(batch)
        nll_target = _shift(targets["nll_labels"])
    ours = orpo(batch.model_output("hidden_states"), targets, beta=0.2, chunk_size=chunk_size)
    oracle = LigerFusedLinearORPOLoss(beta=0.2, compiled=False, chunk_size=chunk_size)
    value, aux = oracle(batch.weight, batch.hidden, batch.shifted(), batch.bias, nll_target)
    torch.testing.assert_close(ours["loss"], value, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(value, batch.leaves()), 1e-5)
    metrics = ours["metrics"]
    torch.testing.assert_close(metrics["logps_chosen"], aux[0].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(metrics["nll_loss"], aux[4], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(metrics["rewards_rejected"], aux[6].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(metrics["log_odds_ratio"], aux[7], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(metrics["log_odds_chosen"], aux[8], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("with_nll_labels", [False, True])
def test_equals_trl_orpo_trainer_on_loop_log_probs(with_nll_labels):
    batch = make_batch(rows=8, seq=6, dtype=torch.float64, seed=2)
    pairs = batch.rows // 2
    targets = {"labels": batch.labels}
    nll_source = batch.labels
    if with_nll_labels:
        targets["nll_labels"] = nll_source = _nll_labels(batch, seed=3)
    ours = orpo(batch.model_output("logits"), targets, beta=0.3)
    logits = batch.logits()
    sums, counts = loop_logps(logits, batch.labels)
    mean = sums / counts
    # ORPOTrainer.concatenated_forward: cross_entropy_loss(all_logits[:len_chosen], labels[:len_chosen])
    nll = F.cross_entropy(
        logits[:pairs, :-1].reshape(-1, logits.shape[-1]),
        nll_source[:pairs, 1:].reshape(-1),
        ignore_index=IGNORE,
    )
    expected, metrics = trl_orpo(mean[:pairs], mean[pairs:], nll, beta=0.3)
    torch.testing.assert_close(ours["loss"], expected, rtol=1e-7, atol=1e-7)
    assert_grads_close(grads(ours["loss"], batch.leaves()), grads(expected, batch.leaves()), 1e-7)
    for name, value in metrics.items():
        got = ours["metrics"][name.replace("/", "_")]
        torch.testing.assert_close(got, value, rtol=1e-7, atol=1e-7, check_dtype=False)


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_the_three_paths_agree(chunk_size):
    batch = make_batch(rows=10, seq=6, dtype=torch.float64, seed=4)
    chunked = orpo(batch.model_output("hidden_states"), {"labels": batch.labels}, chunk_size=chunk_size)
    want = grads(chunked["loss"], batch.leaves())
    for path in ("logits", "log_probs"):
        other = orpo(batch.model_output(path), {"labels": batch.labels}, **batch.path_params(path))
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=1e-10, atol=1e-10)
        assert_grads_close(grads(other["loss"], batch.leaves()), want, 1e-10)
        for name, value in other["metrics"].items():
            torch.testing.assert_close(chunked["metrics"][name], value, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk_size", [2, 5])
def test_separate_nll_labels_on_the_chunked_path_equal_the_logits_path(chunk_size):
    batch = make_batch(rows=10, seq=6, dtype=torch.float64, seed=5)
    targets = {"labels": batch.labels, "nll_labels": _nll_labels(batch, seed=6)}
    chunked = orpo(batch.model_output("hidden_states"), targets, chunk_size=chunk_size)
    dense = orpo(batch.model_output("logits"), targets)
    torch.testing.assert_close(chunked["loss"], dense["loss"], rtol=1e-10, atol=1e-10)
    assert_grads_close(grads(chunked["loss"], batch.leaves()), grads(dense["loss"], batch.leaves()), 1e-10)


@pytest.mark.parametrize("path", ["hidden_states", "logits"])
def test_a_completion_of_probability_one_gives_finite_values_and_gradients(path):
    """The chosen completion's tokens get logits 60 above the rest, so their
    float32 log-probs are exactly 0 and log(1 - p) is -inf without the cap."""
    batch = make_batch(rows=4, seq=5, hidden=6, vocab=7, seed=7)
    with torch.no_grad():
        batch.weight.zero_()
        batch.bias.zero_()
        batch.weight[:, 0] = torch.arange(7, dtype=torch.float32) * 30.0
        batch.hidden.zero_()
        batch.hidden[..., 0] = 1.0
        batch.labels[:, 1:] = 6  # the token with the largest logit
    out = orpo(batch.model_output(path), {"labels": batch.labels})
    assert float(out["metrics"]["logps_chosen"]) == 0.0
    assert torch.isfinite(out["loss"]).all()
    for g in grads(out["loss"], batch.leaves()):
        assert g is not None and torch.isfinite(g).all()


@pytest.mark.parametrize("path", ["hidden_states", "logits", "log_probs"])
def test_empty_pairs_are_left_out_and_nothing_to_score_gives_zero(path):
    batch = make_batch(rows=6, dtype=torch.float64, seed=8)
    batch.labels[3, :] = IGNORE  # pair 0's rejected sequence is empty; its chosen tokens stay in the NLL
    out = orpo(batch.model_output(path), {"labels": batch.labels}, **batch.path_params(path))
    assert float(out["metrics"]["num_pairs"]) == 2.0
    logits = batch.logits()
    sums, counts = loop_logps(logits, batch.labels)
    mean = sums / counts.clamp(min=1)
    nll = F.cross_entropy(
        logits[:3, :-1].reshape(-1, 13), batch.labels[:3, 1:].reshape(-1), ignore_index=IGNORE
    )
    expected, _ = trl_orpo(mean[1:3], mean[4:6], nll, beta=0.1)
    torch.testing.assert_close(out["loss"], expected, rtol=1e-10, atol=1e-10)
    batch.labels[:] = IGNORE
    empty = orpo(batch.model_output(path), {"labels": batch.labels}, **batch.path_params(path))
    assert float(empty["loss"].detach()) == 0.0 and empty["loss"].requires_grad
    for g in grads(empty["loss"], batch.leaves()):
        assert g is not None and float(g.abs().max()) == 0.0


def test_conformance():
    assert_conforms("orpo")


def test_loads_from_yaml_config(tmp_path):
    config = tmp_path / "loss.yaml"
    config.write_text("loss:\n  type: orpo\n  kwargs: {beta: 0.25}\n")
    batch = make_batch(seed=9)
    out = loss_from_config(str(config))(batch.model_output("logits"), {"labels": batch.labels})
    want = orpo(batch.model_output("logits"), {"labels": batch.labels}, beta=0.25)
    torch.testing.assert_close(out["loss"], want["loss"])


def test_errors():
    batch = make_batch(seed=10)
    with pytest.raises(LossInputError, match="input 'nll_labels' needs 'logits' or 'hidden_states'"):
        orpo({"log_probs": batch.token_log_probs()}, {"labels": batch.labels, "nll_labels": batch.labels})
    with pytest.raises(LossParameterError, match="'chunk_size' applies to the chunked path"):
        orpo(batch.model_output("log_probs"), {"labels": batch.labels}, chunk_size=1)
    with pytest.raises(LossInputError, match="orpo: input 'labels' has 3 sequences"):
        orpo({"logits": batch.logits()[:3]}, {"labels": batch.labels[:3]})
    with pytest.raises(LossParameterError, match="beta"):
        orpo(batch.model_output("logits"), {"labels": batch.labels}, beta=0.0)
