"""Schedules: pure functions of the step, specs from config, use under torch.compile."""

from __future__ import annotations

import pytest
import torch

from losses_core import LossParameterError, loss_from_config
from losses_vae import beta_vae, vae_loss
from losses_vae.schedules import (
    constant,
    cyclical_annealing,
    linear_capacity,
    linear_warmup,
    scheduled_value,
)


def frange_cycle_linear(n_iter, start=0.0, stop=1.0, n_cycle=4, ratio=0.5):
    """Fu et al. 2019's schedule as described in the paper/repository: an array of
    n_iter values, each cycle ramping linearly from start to stop over `ratio` of
    the cycle and holding stop afterwards (written with loops over the array)."""
    values = [stop] * n_iter
    period = n_iter / n_cycle
    step = (stop - start) / (period * ratio)
    for c in range(n_cycle):
        v, i = start, 0
        while v <= stop and int(i + c * period) < n_iter:
            values[int(i + c * period)] = v
            v += step
            i += 1
    return values


@pytest.mark.parametrize(
    ("n_iter", "n_cycle", "ratio", "start", "stop"),
    [(400, 4, 0.5, 0.0, 1.0), (120, 3, 0.25, 0.0, 1.0), (100, 1, 1.0, 0.2, 0.8), (60, 2, 0.5, 1.0, 5.0)],
)
def test_cyclical_matches_fu_et_al(n_iter, n_cycle, ratio, start, stop):
    ref = frange_cycle_linear(n_iter, start, stop, n_cycle, ratio)
    ours = [cyclical_annealing(t, n_iter, n_cycle, ratio, start, stop) for t in range(n_iter)]
    assert ours == pytest.approx(ref, abs=1e-9)
    assert cyclical_annealing(n_iter + 5, n_iter, n_cycle, ratio, start, stop) == stop


def test_linear_warmup_and_capacity():
    assert [linear_warmup(t, 4) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert linear_warmup(5, 10, start=1.0, stop=3.0) == 2.0
    assert linear_warmup(0, 0) == 1.0
    # disentanglement_lib: anneal(c_max, step, iteration_threshold) = min(c_max, c_max * step / thr)
    for step in (0, 10, 99_999, 100_000, 250_000):
        assert linear_capacity(step, 25.0, 100_000) == pytest.approx(min(25.0, 25.0 * step / 100_000))
    assert constant(123) == 1.0


def test_schedule_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="step"):
        linear_warmup(-1, 10)
    with pytest.raises(ValueError, match="ratio"):
        cyclical_annealing(1, 10, ratio=0.0)
    with pytest.raises(ValueError, match="n_cycles"):
        cyclical_annealing(1, 10, n_cycles=0)


def test_spec_errors_name_loss_and_parameter():
    ok = {"schedule": "cyclical", "total_steps": 100}
    assert scheduled_value(2.0, ok, 10, loss="x", name="beta") == 2.0 * cyclical_annealing(10, 100)
    assert scheduled_value(2.0, None, None, loss="x", name="beta") == 2.0
    bad = [
        ({"schedule": "cosine"}, 1, "'schedule' must be one of"),
        ({"schedule": "cyclical"}, 1, "needs \\['total_steps'\\]"),
        ({"schedule": "cyclical", "total_steps": 10, "cycles": 2}, 1, "unknown parameter"),
        ({"schedule": "linear", "warmup_steps": -5}, 1, "warmup_steps"),
        (ok, None, "step"),
        ("cyclical", 1, "mapping"),
    ]
    for spec, step, message in bad:
        with pytest.raises(LossParameterError, match=r"loss 'x': beta_schedule.*" + message):
            scheduled_value(1.0, spec, step, loss="x", name="beta")


def test_no_hidden_state_same_step_same_value():
    g = torch.Generator().manual_seed(0)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"target": torch.randn(3, 4, generator=g)}
    spec = {"schedule": "linear_warmup", "warmup_steps": 10}
    first = [vae_loss(mo, tg, beta_schedule=spec, step=s)["loss"] for s in (3, 7, 3)]
    torch.testing.assert_close(first[0], first[2])
    assert not torch.allclose(first[0], first[1])


def test_schedule_from_yaml_with_step_per_call(tmp_path):
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n  class: beta_vae\n  params:\n    beta: 4.0\n"
        "    beta_schedule: {schedule: cyclical, total_steps: 1000, n_cycles: 4, ratio: 0.5}\n"
    )
    loss_fn = loss_from_config(path)
    g = torch.Generator().manual_seed(1)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"target": torch.randn(3, 4, generator=g)}
    for step in (0, 60, 125, 300, 999):
        got = loss_fn(mo, tg, step=step)
        beta = 4.0 * cyclical_annealing(step, 1000, 4, 0.5)
        torch.testing.assert_close(got["metrics"]["beta"], torch.tensor(beta))
        torch.testing.assert_close(got["loss"], beta_vae(mo, tg, beta=beta)["loss"])


def test_tensor_steps_give_the_same_values():
    for t in range(0, 130, 7):
        step = torch.tensor(t)
        assert cyclical_annealing(step, 120, 3, 0.25, 0.5, 2.0).item() == pytest.approx(
            cyclical_annealing(t, 120, 3, 0.25, 0.5, 2.0)
        )
        assert linear_warmup(step, 50, 1.0, 3.0).item() == pytest.approx(linear_warmup(t, 50, 1.0, 3.0))
        assert linear_capacity(step, 25.0, 100).item() == pytest.approx(linear_capacity(t, 25.0, 100))
    with pytest.raises(LossParameterError, match="0-dim"):
        scheduled_value(
            1.0, {"schedule": "cyclical", "total_steps": 9}, torch.tensor([1, 2]), loss="x", name="beta"
        )


def test_scheduled_loss_compiles_once_for_tensor_steps():
    from torch._dynamo.testing import CompileCounterWithBackend

    g = torch.Generator().manual_seed(2)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"target": torch.randn(3, 4, generator=g)}
    spec = {"schedule": "cyclical", "total_steps": 100}

    def step_fn(model_output, targets, step):
        return beta_vae(model_output, targets, beta_schedule=spec, step=step)["loss"]

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(step_fn, fullgraph=True, backend=counter)
    for step in (1, 2, 30, 75, 120):
        expected = beta_vae(mo, tg, beta=4.0 * cyclical_annealing(step, 100))["loss"]
        torch.testing.assert_close(compiled(mo, tg, torch.tensor(step)), expected)
    assert counter.frame_count == 1
