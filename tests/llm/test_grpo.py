"""grpo: against Liger-Kernel's fused linear GRPO loss (values and gradients
of hidden states, head weight and bias), TRL 1.13's ``GRPOTrainer._compute_loss``
(transcribed, ``_pg_trl``) and loops written from the papers (``_pg_paper``)
for every loss type's normalisation, GSPO and CISPO; the on-policy gradient,
the three input paths against each other, empty batches, the clip metrics on
a hand-built case, gradient accumulation with ``num_items_in_batch``, errors,
conformance and config."""

from __future__ import annotations

import math

import pytest
import torch
from _pg_data import Rollout, rollout
from _pg_paper import paper_grpo_family, paper_gspo
from _pg_trl import trl_entropy_from_logits, trl_grpo_loss, trl_selective_log_softmax
from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss

from losses_core import LOSSES, LossInputError, LossParameterError, MissingInputError
from losses_core.config import loss_from_config
from losses_core.testing import assert_conforms
from losses_llm import grpo


def _targets(data: Rollout, *, old: bool = True, ref: bool = False) -> dict[str, torch.Tensor]:
    targets = {"completion_mask": data.mask, "advantages": data.advantages, "completion_ids": data.ids}
    if old:
        targets["old_log_probs"] = data.old
    if ref:
        targets["ref_log_probs"] = data.ref
    return targets


def _hidden_call(data: Rollout, params: dict, *, bias: bool = True, old: bool = True):
    model_output = {"hidden_states": data.hidden, "lm_head_weight": data.weight}
    if bias:
        model_output["lm_head_bias"] = data.bias
    return grpo(model_output, _targets(data, old=old, ref=params.get("beta", 0) > 0), **params)


def _liger(data: Rollout, params: dict, *, bias: bool = True, old: bool = True):
    beta = params.get("beta", 0.0)
    epsilon = params.get("epsilon", 0.2)
    loss_type = params.get("loss_type", "dapo")
    module = LigerFusedLinearGRPOLoss(
        beta=beta,
        compiled=False,
        use_ref_model=beta > 0,
        epsilon_low=epsilon,
        epsilon_high=params.get("epsilon_high") or epsilon,
        loss_type=loss_type,
        max_completion_length=params.get("max_completion_length", data.mask.shape[1]),
        importance_sampling_level=params.get("importance_sampling_level", "token"),
        temperature=params.get("temperature", 1.0),
        delta=params.get("delta"),
        use_bias_correction_kl=beta > 0 and params.get("use_bias_correction_kl", True),
    )
    loss, metrics = module(
        data.hidden,
        data.weight,
        data.ids,
        data.mask,
        data.advantages,
        bias=data.bias if bias else None,
        ref_per_token_logps=data.ref if beta > 0 else None,
        old_per_token_logps=data.old if old else None,
        num_items_in_batch=params.get("num_items_in_batch"),
    )
    return loss, metrics


LIGER_CASES = [
    {"loss_type": "dapo"},
    {"loss_type": "dapo", "num_items_in_batch": torch.tensor(41.0)},
    {"loss_type": "grpo"},
    {"loss_type": "bnpo"},
    {"loss_type": "dr_grpo"},
    {"loss_type": "dr_grpo", "max_completion_length": 12},
    {"loss_type": "cispo", "epsilon_high": 1.25},
    {"loss_type": "dapo", "epsilon": 0.1, "epsilon_high": 0.28, "delta": 1.3},
    {"loss_type": "dapo", "beta": 0.04},
    {"loss_type": "grpo", "beta": 0.1, "use_bias_correction_kl": False},
    {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 0.05},
    {"loss_type": "dapo", "importance_sampling_level": "sequence", "beta": 0.04, "epsilon": 0.05},
    {"loss_type": "bnpo", "importance_sampling_level": "sequence", "epsilon": 0.05},
    {
        "loss_type": "dr_grpo",
        "importance_sampling_level": "sequence",
        "max_completion_length": 9,
        "epsilon": 0.05,
    },
    {"loss_type": "dapo", "temperature": 0.7},
]


@pytest.mark.parametrize("params", LIGER_CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_equals_liger_fused_linear_grpo_values_and_gradients(params, chunk_size):
    data = rollout(temperature=params.get("temperature", 1.0))
    expected, liger_metrics = _liger(data, params)
    expected_grads = torch.autograd.grad(expected, data.leaves())
    call = dict(params) if chunk_size is None else {**params, "chunk_size": chunk_size}
    result = _hidden_call(data, call)
    grads = torch.autograd.grad(result["loss"], data.leaves())
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-5)
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    # Liger's metrics: the KL term (with beta > 0), then the clipped fraction of tokens
    torch.testing.assert_close(result["metrics"]["clip_ratio_region"], liger_metrics[-1], rtol=0, atol=1e-6)
    if params.get("beta"):
        torch.testing.assert_close(result["metrics"]["kl"], liger_metrics[0], rtol=0, atol=1e-6)
    # a case that never clips would not test the clip
    assert float(result["metrics"]["clip_ratio_region"]) > 0


def test_equals_liger_without_old_log_probs_or_bias():
    data = rollout()
    expected, _ = _liger(data, {"loss_type": "grpo"}, bias=False, old=False)
    result = _hidden_call(data, {"loss_type": "grpo"}, bias=False, old=False)
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-5)
    grads = torch.autograd.grad(result["loss"], data.leaves()[:2])
    for got, want in zip(grads, torch.autograd.grad(expected, data.leaves()[:2]), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


# -- loops from the papers -------------------------------------------------------------------


def _leaf(data: Rollout) -> torch.Tensor:
    with torch.no_grad():
        current = data.log_probs()
    return current.double().requires_grad_(True)


PAPER_CASES = [
    ({"loss_type": "grpo"}, {}),
    ({"loss_type": "bnpo"}, {}),
    ({"loss_type": "dr_grpo"}, {}),
    ({"loss_type": "dr_grpo", "max_completion_length": 11}, {"max_length": 11}),
    ({"loss_type": "dapo"}, {}),
    ({"loss_type": "dapo", "num_items_in_batch": 57}, {"num_items": 57}),
    ({"loss_type": "dapo", "epsilon_high": 0.28}, {"eps_high": 0.28}),
    ({"loss_type": "dapo", "epsilon_high": 0.28, "delta": 1.25}, {"eps_high": 0.28, "delta": 1.25}),
    ({"loss_type": "cispo", "epsilon_high": 1.2}, {"eps_max": 1.2}),
    (
        {"loss_type": "cispo", "epsilon_high": 1.2, "num_items_in_batch": 40},
        {"eps_max": 1.2, "num_items": 40},
    ),
    ({"loss_type": "grpo", "beta": 0.1, "use_bias_correction_kl": False}, {"beta": 0.1}),
    ({"loss_type": "grpo", "beta": 0.1}, {"beta": 0.1, "kl_ratio_weight": True}),
    ({"loss_type": "dapo", "beta": 0.04}, {"beta": 0.04, "kl_ratio_weight": True}),
]


@pytest.mark.parametrize(("params", "paper"), PAPER_CASES, ids=lambda p: str(p))
def test_normalisation_equals_the_papers_loop(params, paper):
    data = rollout(dtype=torch.float64)
    lp = _leaf(data)
    targets = {
        k: v for k, v in _targets(data, ref=params.get("beta", 0) > 0).items() if k != "completion_ids"
    }
    result = grpo({"log_probs": lp}, targets, **params)
    m = data.mask.tolist()
    expected = paper_grpo_family(
        lp,
        m,
        data.advantages.tolist(),
        loss_type=params["loss_type"],
        old=data.old,
        ref=data.ref,
        **paper,
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(result["loss"], lp)
    (want,) = torch.autograd.grad(expected, lp)
    torch.testing.assert_close(grad, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("epsilon", [0.03, 0.5])
def test_gspo_equals_the_papers_sequence_ratio_loop(epsilon):
    data = rollout(dtype=torch.float64)
    lp = _leaf(data)
    targets = {k: v for k, v in _targets(data).items() if k != "completion_ids"}
    result = grpo(
        {"log_probs": lp},
        targets,
        loss_type="grpo",
        importance_sampling_level="sequence",
        epsilon=epsilon,
        epsilon_high=epsilon * 4 / 3,
    )
    m = data.mask.tolist()
    expected = paper_gspo(
        lp, m, data.advantages.tolist(), data.old, eps_low=epsilon, eps_high=epsilon * 4 / 3
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(result["loss"], lp)
    (want,) = torch.autograd.grad(expected, lp)
    torch.testing.assert_close(grad, want, rtol=0, atol=1e-12)


# -- TRL 1.13's GRPOTrainer._compute_loss, transcribed --------------------------------------

TRL_CASES = [
    {"loss_type": "dapo"},
    {"loss_type": "grpo"},
    {"loss_type": "bnpo"},
    {"loss_type": "dr_grpo", "max_completion_length": 10},
    {"loss_type": "cispo", "epsilon_high": 1.2},
    {"loss_type": "dapo", "epsilon_high": 0.28, "delta": 1.3},
    {"loss_type": "dapo", "beta": 0.04},
    {"loss_type": "grpo", "beta": 0.04, "use_bias_correction_kl": False},
    {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 0.05},
    {"loss_type": "grpo", "importance_sampling_level": "sequence", "beta": 0.04, "epsilon": 0.05},
]


@pytest.mark.parametrize("params", TRL_CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_equals_trl_compute_loss_from_logits(params):
    temperature = 0.8
    data = rollout(dtype=torch.float64, temperature=temperature)
    logits = data.logits().detach().requires_grad_(True)
    beta = params.get("beta", 0.0)
    result = grpo({"logits": logits}, _targets(data, ref=beta > 0), temperature=temperature, **params)
    scaled = logits / temperature
    trl_params = {**params}
    if params["loss_type"] in ("dapo", "cispo"):
        trl_params["num_items_in_batch"] = data.mask.sum().double()
    expected, trl_metrics = trl_grpo_loss(
        trl_selective_log_softmax(scaled, data.ids),
        data.advantages,
        data.mask,
        old_per_token_logps=data.old,
        ref_per_token_logps=data.ref,
        entropies=trl_entropy_from_logits(scaled.detach()),
        **trl_params,
    )
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(result["loss"], logits)
    (want,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, want, rtol=0, atol=1e-12)
    metrics = result["metrics"]
    trl_metrics = {k: v.double() for k, v in trl_metrics.items()}
    torch.testing.assert_close(metrics["entropy"], trl_metrics["entropy"], rtol=0, atol=1e-12)
    if beta:
        torch.testing.assert_close(metrics["kl"], trl_metrics["kl"], rtol=0, atol=1e-12)
    if params.get("importance_sampling_level") == "sequence":
        return  # TRL counts a sequence ratio's clips per sequence, this loss per token (as Liger)
    # TRL averages its clip masks in float32 (.float()), hence 1e-7
    if params["loss_type"] == "cispo":
        torch.testing.assert_close(
            metrics["clip_ratio_high"], trl_metrics["cispo_clip_ratio"], rtol=0, atol=1e-7
        )
        return
    for ours, theirs in (("low", "low_mean"), ("high", "high_mean"), ("region", "region_mean")):
        torch.testing.assert_close(
            metrics[f"clip_ratio_{ours}"], trl_metrics[f"clip_ratio/{theirs}"], rtol=0, atol=1e-7
        )


# -- properties -----------------------------------------------------------------------------


def _weights(mask: torch.Tensor, loss_type: str) -> torch.Tensor:
    """Each loss type's per-token weight, from its definition."""
    m = mask.double()
    batch, steps = m.shape
    if loss_type == "grpo":
        return m / m.sum(-1, keepdim=True) / batch
    if loss_type == "dr_grpo":
        return m / (batch * steps)
    return m / m.sum()


ON_POLICY = [(t, level) for t in ("grpo", "bnpo", "dr_grpo", "dapo") for level in ("token", "sequence")]


@pytest.mark.parametrize(("loss_type", "level"), [*ON_POLICY, ("cispo", "token")])
def test_on_policy_gradient_is_the_policy_gradient(loss_type, level):
    data = rollout(dtype=torch.float64)
    lp = _leaf(data)
    extra = {"epsilon_high": 5.0} if loss_type == "cispo" else {}
    targets = {"completion_mask": data.mask, "advantages": data.advantages}
    result = grpo({"log_probs": lp}, targets, loss_type=loss_type, importance_sampling_level=level, **extra)
    weights = _weights(data.mask, loss_type)
    expected_grad = -data.advantages.unsqueeze(-1) * weights
    (grad,) = torch.autograd.grad(result["loss"], lp)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-14)
    # ratio 1: the value is -sum w A (cispo: -sum w A log pi)
    factor = lp.detach() if loss_type == "cispo" else 1.0
    expected = -(data.advantages.unsqueeze(-1) * weights * factor).sum()
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-14)
    assert float(result["metrics"]["ratio"]) == 1.0
    assert float(result["metrics"]["clip_ratio_region"]) == 0.0
    # giving the current log-probs as the old ones changes nothing
    same = grpo(
        {"log_probs": lp},
        {**targets, "old_log_probs": lp.detach()},
        loss_type=loss_type,
        importance_sampling_level=level,
        **extra,
    )
    torch.testing.assert_close(torch.autograd.grad(same["loss"], lp)[0], grad, rtol=0, atol=1e-14)


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("chunk_size", [1, 3, 5, 28, 100])
def test_chunked_equals_logits_equals_log_probs(level, chunk_size):
    temperature = 0.9
    data = rollout(dtype=torch.float64, temperature=temperature)
    params = {
        "loss_type": "grpo",
        "beta": 0.05,
        "importance_sampling_level": level,
        "temperature": temperature,
    }
    targets = _targets(data, ref=True)
    chunked = grpo(
        {"hidden_states": data.hidden, "lm_head_weight": data.weight, "lm_head_bias": data.bias},
        targets,
        chunk_size=chunk_size,
        **params,
    )
    chunked_grads = torch.autograd.grad(chunked["loss"], data.leaves())
    through_logits = grpo({"logits": data.logits()}, targets, **params)
    logits_grads = torch.autograd.grad(through_logits["loss"], data.leaves())
    lp = data.log_probs(temperature)
    through_lp = grpo(
        {"log_probs": lp},
        {k: v for k, v in targets.items() if k != "completion_ids"},
        **{k: v for k, v in params.items() if k != "temperature"},
    )
    lp_grads = torch.autograd.grad(through_lp["loss"], data.leaves())
    for other, other_grads in ((through_logits, logits_grads), (through_lp, lp_grads)):
        torch.testing.assert_close(chunked["loss"], other["loss"], rtol=0, atol=1e-13)
        for got, want in zip(chunked_grads, other_grads, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for key, value in through_logits["metrics"].items():
        torch.testing.assert_close(chunked["metrics"][key], value, rtol=0, atol=1e-12)
    assert "entropy" not in through_lp["metrics"]
    assert set(through_lp["metrics"]) == set(through_logits["metrics"]) - {"entropy"}


@pytest.mark.parametrize("source", ["log_probs", "logits", "hidden_states"])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo", "cispo"])
def test_a_batch_without_completion_tokens_gives_zero_and_zero_gradients(source, loss_type):
    data = rollout()
    data.mask.zero_()
    garbage = torch.full_like(data.old, -math.inf)
    targets = {
        "completion_mask": data.mask,
        "advantages": data.advantages,
        "completion_ids": torch.full_like(data.ids, -100),
        "old_log_probs": garbage,
        "ref_log_probs": torch.full_like(data.old, math.nan),
    }
    params = {"loss_type": loss_type, "beta": 0.1, **({"epsilon_high": 2.0} if loss_type == "cispo" else {})}
    if source == "log_probs":
        lp = torch.full_like(data.old, math.inf).requires_grad_(True)
        leaves = [lp]
        model_output = {"log_probs": lp}
    elif source == "logits":
        logits = data.logits().detach().requires_grad_(True)
        leaves = [logits]
        model_output = {"logits": logits}
    else:
        leaves = data.leaves()
        model_output = {
            "hidden_states": data.hidden,
            "lm_head_weight": data.weight,
            "lm_head_bias": data.bias,
        }
    result = grpo(model_output, targets, **params)
    assert float(result["loss"].detach()) == 0.0
    assert result["loss"].requires_grad
    for grad in torch.autograd.grad(result["loss"], leaves):
        assert bool((grad == 0).all())
    for name, value in result["metrics"].items():
        assert bool(torch.isfinite(value)), name


def test_clip_metrics_and_gradients_on_a_hand_built_case():
    # log pi = 0 and log pi_old = -log rho: ratios rho chosen by hand, with the advantages' signs
    rho = torch.tensor([[0.5, 0.5, 1.5, 1.5, 1.0, 0.75, 3.0]], dtype=torch.float64)
    adv = torch.tensor([[-1.0, 1.0, 1.0, -1.0, 2.0, -2.0, 1.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0]])  # the last token (rho 3, A > 0) is padding
    lp = torch.zeros(1, 7, dtype=torch.float64, requires_grad=True)
    targets = {"completion_mask": mask, "advantages": adv, "old_log_probs": -rho.log()}
    result = grpo({"log_probs": lp}, targets, loss_type="bnpo", epsilon=0.2)
    metrics = result["metrics"]
    # low: rho < 0.8 with A < 0: tokens 0 and 5; high: rho > 1.2 with A > 0: token 2
    assert float(metrics["clip_ratio_low"]) == pytest.approx(2 / 6)
    assert float(metrics["clip_ratio_high"]) == pytest.approx(1 / 6)
    assert float(metrics["clip_ratio_region"]) == pytest.approx(3 / 6)
    assert float(metrics["ratio"]) == pytest.approx((0.5 + 0.5 + 1.5 + 1.5 + 1.0 + 0.75) / 6)
    assert int(metrics["num_tokens"]) == 6
    # the clipped tokens get no gradient; the others -A rho / 6
    (grad,) = torch.autograd.grad(result["loss"], lp)
    expected = -adv * rho / 6
    expected[0, [0, 2, 5, 6]] = 0.0
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-15)
    # the values: -min(rho A, clip(rho) A) per token, averaged
    per_token = [
        -min(r * a, min(max(r, 0.8), 1.2) * a) for r, a in zip(rho[0].tolist(), adv[0].tolist(), strict=True)
    ]
    assert float(result["loss"].detach()) == pytest.approx(sum(per_token[:6]) / 6)
    # cispo with eps_max 1.2 clips tokens with rho > 1.2 and A > 0 only (token 2; token 6 is padding)
    cispo = grpo({"log_probs": lp}, targets, loss_type="cispo", epsilon_high=1.2)["metrics"]
    assert float(cispo["clip_ratio_high"]) == pytest.approx(1 / 6)
    assert float(cispo["clip_ratio_low"]) == 0.0


def test_num_items_in_batch_makes_micro_batches_add_up_to_the_batch():
    data = rollout(batch=6, dtype=torch.float64)
    lp = _leaf(data)
    targets = {"completion_mask": data.mask, "advantages": data.advantages, "old_log_probs": data.old}
    full = grpo({"log_probs": lp}, targets, loss_type="dapo")["loss"]
    total = data.mask.sum()
    parts = [
        grpo(
            {"log_probs": lp[rows]},
            {k: v[rows] for k, v in targets.items()},
            loss_type="dapo",
            num_items_in_batch=total,
        )["loss"]
        for rows in (slice(0, 2), slice(2, 6))
    ]
    accumulated = parts[0] + parts[1]
    torch.testing.assert_close(accumulated, full, rtol=0, atol=1e-14)
    torch.testing.assert_close(
        torch.autograd.grad(accumulated, lp)[0], torch.autograd.grad(full, lp)[0], rtol=0, atol=1e-14
    )


def test_dr_grpo_divides_by_the_completion_length_constant():
    data = rollout(dtype=torch.float64)
    lp = _leaf(data)
    targets = {"completion_mask": data.mask, "advantages": data.advantages, "old_log_probs": data.old}
    steps = data.mask.shape[1]
    default = grpo({"log_probs": lp}, targets, loss_type="dr_grpo")["loss"]
    explicit = grpo({"log_probs": lp}, targets, loss_type="dr_grpo", max_completion_length=steps)["loss"]
    doubled = grpo({"log_probs": lp}, targets, loss_type="dr_grpo", max_completion_length=2 * steps)["loss"]
    torch.testing.assert_close(default, explicit, rtol=0, atol=0)
    torch.testing.assert_close(doubled, default / 2, rtol=0, atol=1e-15)


def test_per_token_advantages_equal_broadcast_sequence_advantages():
    data = rollout(dtype=torch.float64)
    lp = _leaf(data)
    base = {"completion_mask": data.mask, "old_log_probs": data.old}
    per_sequence = grpo({"log_probs": lp}, {**base, "advantages": data.advantages})["loss"]
    per_token = data.advantages.unsqueeze(-1).expand_as(data.old).clone()
    torch.testing.assert_close(
        grpo({"log_probs": lp}, {**base, "advantages": per_token})["loss"], per_sequence, rtol=0, atol=0
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_logits_are_computed_in_float32(dtype):
    data = rollout()
    logits = data.logits().detach().to(dtype).requires_grad_(True)
    result = grpo({"logits": logits}, _targets(data), loss_type="grpo")
    assert result["loss"].dtype == torch.float32
    expected = grpo({"logits": logits.detach().float()}, _targets(data), loss_type="grpo")["loss"]
    torch.testing.assert_close(result["loss"], expected, rtol=0, atol=1e-6)
    (grad,) = torch.autograd.grad(result["loss"], logits)
    assert grad.dtype == dtype


def test_bfloat16_head_on_the_chunked_path_gives_a_float32_loss():
    data = rollout()
    hidden = data.hidden.detach().bfloat16().requires_grad_(True)
    weight = data.weight.detach().bfloat16().requires_grad_(True)
    result = grpo({"hidden_states": hidden, "lm_head_weight": weight}, _targets(data), loss_type="dapo")
    expected = grpo({"logits": (hidden @ weight.t()).float()}, _targets(data), loss_type="dapo")
    assert result["loss"].dtype == torch.float32
    torch.testing.assert_close(result["loss"], expected["loss"], rtol=0, atol=1e-5)
    grads = torch.autograd.grad(result["loss"], [hidden, weight])
    assert [g.dtype for g in grads] == [torch.bfloat16, torch.bfloat16]


# -- errors ---------------------------------------------------------------------------------

ERRORS = [
    ({"loss_type": "cispo"}, LossParameterError, "'epsilon_high' is required with loss_type='cispo'"),
    ({"loss_type": "cispo", "epsilon_high": 5.0, "epsilon": 0.1}, LossParameterError, "'epsilon'"),
    ({"loss_type": "cispo", "epsilon_high": 5.0, "delta": 2.0}, LossParameterError, "'delta'"),
    (
        {"loss_type": "cispo", "epsilon_high": 5.0, "importance_sampling_level": "sequence"},
        LossParameterError,
        "'importance_sampling_level'",
    ),
    ({"loss_type": "grpo", "num_items_in_batch": 10}, LossParameterError, "'num_items_in_batch'"),
    ({"loss_type": "dapo", "max_completion_length": 10}, LossParameterError, "'max_completion_length'"),
    ({"use_bias_correction_kl": False}, LossParameterError, "'use_bias_correction_kl'"),
    ({"loss_type": "bogus"}, LossParameterError, "loss_type"),
    ({"epsilon": -0.1}, LossParameterError, "epsilon"),
    ({"beta": 0.1}, MissingInputError, "'ref_log_probs'"),
    ({"temperature": 0.7}, LossParameterError, "'temperature'"),
    ({"chunk_size": 4}, LossParameterError, "'chunk_size'"),
]


@pytest.mark.parametrize(("params", "error", "text"), ERRORS, ids=lambda x: str(x)[:60])
def test_errors_name_the_parameter_or_input(params, error, text):
    data = rollout()
    targets = {"completion_mask": data.mask, "advantages": data.advantages, "old_log_probs": data.old}
    with pytest.raises(error, match="grpo") as info:
        grpo({"log_probs": data.log_probs()}, targets, **params)
    assert text in str(info.value)


def test_logits_without_completion_ids_raise_a_missing_input_error():
    data = rollout()
    with pytest.raises(MissingInputError, match="'completion_ids'"):
        grpo({"logits": data.logits()}, {"completion_mask": data.mask, "advantages": data.advantages})


def test_wrong_shapes_are_rejected():
    data = rollout()
    with pytest.raises(LossInputError, match="advantages"):
        grpo(
            {"log_probs": data.log_probs()},
            {"completion_mask": data.mask, "advantages": torch.zeros(data.mask.shape[0] + 1)},
        )


# -- conformance, config, compile -----------------------------------------------------------


def test_conforms():
    assert_conforms("grpo")


def test_from_yaml_config(tmp_path):
    path = tmp_path / "rl.yaml"
    path.write_text(
        "loss:\n"
        "  type: grpo\n"
        "  kwargs: {loss_type: dr_grpo, epsilon_high: 0.28, beta: 0.01, max_completion_length: 16}\n"
        "  keys: {completion_mask: response_mask}\n"
    )
    loss_fn = loss_from_config(path)
    data = rollout()
    lp = data.log_probs()
    targets = {"response_mask": data.mask, "advantages": data.advantages, "ref_log_probs": data.ref}
    result = loss_fn({"log_probs": lp}, targets)
    expected = grpo(
        {"log_probs": lp},
        {"completion_mask": data.mask, "advantages": data.advantages, "ref_log_probs": data.ref},
        loss_type="dr_grpo",
        epsilon_high=0.28,
        beta=0.01,
        max_completion_length=16,
    )
    torch.testing.assert_close(result["loss"], expected["loss"], rtol=0, atol=0)
    value = LOSSES["grpo"]({"log_probs": lp}, {"completion_mask": data.mask, "advantages": data.advantages})
    assert value.ndim == 0


def test_chunked_path_under_torch_compile_gives_the_eager_value():
    # the fused path graph-breaks around the chunk loop (no fullgraph) and must still be right
    data = rollout()
    model_output = {"hidden_states": data.hidden, "lm_head_weight": data.weight, "lm_head_bias": data.bias}
    targets = _targets(data)

    def step(mo, t):
        return grpo(mo, t, loss_type="grpo", chunk_size=16)["loss"]

    expected = step(model_output, targets)
    torch._dynamo.reset()
    compiled = torch.compile(step, backend="aot_eager")(model_output, targets)
    torch.testing.assert_close(compiled, expected, rtol=1e-6, atol=1e-6)
