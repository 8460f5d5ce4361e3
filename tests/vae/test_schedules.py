"""Schedules: pure functions of the step, Fu et al.'s cyclical convention, spec
validation (in calls, resolve_loss and config checks), and use under torch.compile."""

from __future__ import annotations

import inspect

import pytest
import torch

from losses_core import LOSSES, LossParameterError, list_losses, loss_from_config, resolve_loss
from losses_core.config import validate_config
from losses_vae import beta_vae, vae_loss
from losses_vae.schedules import (
    check_schedule,
    constant,
    cyclical_annealing,
    linear_capacity,
    linear_warmup,
    scheduled_value,
)


def frange_cycle_linear(start, stop, n_epoch, n_cycle=4, ratio=0.5):
    """Transcribed from Fu et al.'s published code: haofuml/cyclical_annealing,
    plot/plot_schedules.ipynb (commit c2ff8cc2ce8ad5b482aeace4361da349aba17f93),
    with ``np.ones(n_epoch)`` written as a list of 1.0."""
    L = [1.0] * n_epoch
    period = n_epoch / n_cycle
    step = (stop - start) / (period * ratio)  # linear schedule

    for c in range(n_cycle):
        v, i = start, 0
        while v <= stop and (int(i + c * period) < n_epoch):
            L[int(i + c * period)] = v
            v += step
            i += 1
    return L


def _float_starts_are_exact(n_iter, n_cycle):
    """Whether the reference's float ``int(c * period)`` equals floor(c * T / M) for every cycle."""
    return all(int(c * (n_iter / n_cycle)) == (c * n_iter) // n_cycle for c in range(n_cycle))


GRID = [
    (n_iter, n_cycle, ratio, start)
    for n_iter in (1, 2, 7, 10, 37, 100, 120, 401, 1000)
    for n_cycle in (1, 3, 4, 7, 10)
    for ratio in (0.25, 0.5, 0.8, 1.0)
    for start in (0.0, 0.3)
    if _float_starts_are_exact(n_iter, n_cycle)
]


@pytest.mark.parametrize(("n_iter", "n_cycle", "ratio", "start"), GRID)
def test_cyclical_matches_fu_et_al_reference_code(n_iter, n_cycle, ratio, start):
    ref = frange_cycle_linear(start, 1.0, n_iter, n_cycle, ratio)
    ours = [cyclical_annealing(t, n_iter, n_cycle, ratio, start, 1.0) for t in range(n_iter)]
    assert ours == pytest.approx(ref, abs=1e-9)
    assert cyclical_annealing(n_iter, n_iter, n_cycle, ratio, start) == 1.0
    assert cyclical_annealing(n_iter + 5, n_iter, n_cycle, ratio, start) == 1.0


def test_grid_covers_totals_that_are_not_multiples_of_the_cycles():
    assert sum(n_iter % n_cycle != 0 for n_iter, n_cycle, _, _ in GRID) > 50


def test_cyclical_by_hand_when_the_total_is_not_a_multiple():
    """T=10, M=3, R=0.5: period 10/3, cycles start at floor(c*10/3) = 0, 3, 6 and
    ramp by 1/(P R) = 0.6 per step. The paper's equation (cycles of ceil(10/3) = 4
    steps) would give 0, .6, 1, 1, 0, .6, 1, 1, 0, .6 instead."""
    expected = [0.0, 0.6, 1.0, 0.0, 0.6, 1.0, 0.0, 0.6, 1.0, 1.0]
    assert [cyclical_annealing(t, 10, 3, 0.5) for t in range(10)] == pytest.approx(expected, abs=1e-12)
    assert frange_cycle_linear(0.0, 1.0, 10, 3, 0.5) == pytest.approx(expected, abs=1e-12)
    # start/stop rescale the ramp: 0.2 + 0.6 * (0.6 i); the hold is stop
    scaled = [0.2, 0.56, 0.8, 0.2, 0.56, 0.8, 0.2, 0.56, 0.8, 0.8]
    got = [cyclical_annealing(t, 10, 3, 0.5, start=0.2, stop=0.8) for t in range(12)]
    assert got == pytest.approx([*scaled, 0.8, 0.8], abs=1e-12)
    # T=7, M=2, R=1: P=3.5, cycles start at 0 and 3 (the second overwrites the first's
    # last ramp step in the reference), ramp 2/7 per step
    expected = [0.0, 2 / 7, 4 / 7, 0.0, 2 / 7, 4 / 7, 6 / 7]
    assert [cyclical_annealing(t, 7, 2, 1.0) for t in range(7)] == pytest.approx(expected, abs=1e-12)
    assert frange_cycle_linear(0.0, 1.0, 7, 2, 1.0) == pytest.approx(expected, abs=1e-12)
    # fractional steps sit on the ramp of the cycle floor(t) belongs to
    assert cyclical_annealing(3.5, 7, 2, 1.0) == pytest.approx(1 / 7)


def test_cycle_starts_use_exact_arithmetic_not_the_reference_float_artefact():
    """T=30, M=22: c*T/M = 15 for c = 11, but the reference's float 11 * (30/22) is
    14.999..., so it starts that cycle at step 14; ours starts it at 15."""
    assert not _float_starts_are_exact(30, 22)
    ref = frange_cycle_linear(0.0, 1.0, 30, 22, 0.5)
    assert ref[14] == 0.0 and ref[15] == 1.0
    assert cyclical_annealing(14, 30, 22, 0.5) == 1.0  # still in cycle 10 (started at 13)
    assert cyclical_annealing(15, 30, 22, 0.5) == 0.0
    # everywhere else the two agree
    ours = [cyclical_annealing(t, 30, 22, 0.5) for t in range(30)]
    assert [t for t in range(30) if abs(ours[t] - ref[t]) > 1e-9] == [14, 15]


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
    with pytest.raises(TypeError, match="total_steps"):
        cyclical_annealing(1, 10.5)
    with pytest.raises(ValueError, match=r"start.*stop"):
        cyclical_annealing(1, 10, start=2.0, stop=1.0)


BAD_SPECS = [
    (
        {"schedule": "linear_warmup", "warmup_step": 100},
        ValueError,
        r"'warmup_step' \(did you mean 'warmup_steps'\?\)",
    ),
    (
        {"schedule": "cyclical", "total_steps": 10, "cycles": 2},
        ValueError,
        r"'cycles' \(did you mean 'n_cycles'\?\)",
    ),
    (
        {"schedule": "cyclic", "total_steps": 10},
        ValueError,
        r"unknown schedule 'cyclic' \(did you mean 'cyclical'\?\)",
    ),
    ({"schedule": "cyclical"}, ValueError, r"needs 'total_steps'"),
    ({"warmup_steps": 10}, ValueError, r"'schedule' key"),
    ({"schedule": "cyclical", "total_steps": 10.5}, TypeError, r"'total_steps' expects an int"),
    ({"schedule": "linear", "warmup_steps": "100"}, TypeError, r"'warmup_steps' expects a number"),
    ({"schedule": "linear", "warmup_steps": -5}, ValueError, r"'warmup_steps' must be >= 0"),
    ({"schedule": "cyclical", "total_steps": 10, "ratio": 1.5}, ValueError, r"'ratio' must be <= 1"),
    ({"schedule": "cyclical", "total_steps": 10, "start": 2.0}, ValueError, r"start.*<= stop"),
    ("cyclical", TypeError, r"expects a mapping"),
]


@pytest.mark.parametrize(("spec", "error", "message"), BAD_SPECS)
def test_check_schedule_rejects(spec, error, message):
    with pytest.raises(error, match=message):
        check_schedule(spec)


def test_check_schedule_accepts_valid_specs():
    for spec in (
        None,
        {"schedule": "constant"},
        {"schedule": "linear", "warmup_steps": 10},
        {"schedule": "linear_warmup", "warmup_steps": 0, "start": 1.0, "stop": 3},
        {"schedule": "cyclical", "total_steps": 10, "n_cycles": 3, "ratio": 1, "start": 0.1, "stop": 0.9},
    ):
        check_schedule(spec)


def _schedule_parameters():
    """(loss name, parameter) for every parameter of a losses-vae loss that takes a schedule spec."""
    found = []
    for info in list_losses():
        if info.provider == "losses-vae":
            params = inspect.signature(LOSSES[info.qualified_name].function).parameters
            found += [(info.name, p) for p in params if p.endswith("_schedule")]
    return found


def test_the_schedule_parameters_are_these():
    assert sorted(_schedule_parameters()) == [
        ("VAELoss", "beta_schedule"),
        ("beta_tcvae", "beta_schedule"),
        ("beta_vae", "beta_schedule"),
        ("beta_vae_capacity", "capacity_schedule"),
        ("elbo", "beta_schedule"),
        ("free_bits", "beta_schedule"),
    ]


@pytest.mark.parametrize(("name", "parameter"), _schedule_parameters())
def test_every_schedule_parameter_is_validated_by_check_schedule(name, parameter):
    assert LOSSES[name].entry.signature.validators[parameter] is check_schedule
    mo, tg, params = LOSSES[name].entry.example_inputs(batch_size=3)
    bad = {"schedule": "linear_warmup", "warmup_step": 100}
    with pytest.raises(LossParameterError, match=rf"{name}.*{parameter}.*did you mean 'warmup_steps'"):
        LOSSES[name](mo, tg, **params, **{parameter: bad}, step=3)


@pytest.mark.parametrize(("name", "parameter"), _schedule_parameters())
def test_resolve_loss_and_config_check_report_a_bad_spec(name, parameter, tmp_path):
    bad = {"schedule": "linear_warmup", "warmup_step": 100}
    extra = {"dataset_size": 100} if name == "beta_tcvae" else {}
    with pytest.raises(LossParameterError, match=rf"{name}.*{parameter}.*did you mean 'warmup_steps'"):
        resolve_loss(name, **extra, **{parameter: bad})
    path = tmp_path / "config.yaml"
    params = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    path.write_text(
        f"loss:\n  class: {name}\n  params:\n{params}"
        f"    {parameter}: {{schedule: linear_warmup, warmup_step: 100}}\n"
    )
    problems = validate_config(path)
    assert any(parameter in p and "did you mean 'warmup_steps'" in p for p in problems), problems


def test_scheduled_value():
    ok = {"schedule": "cyclical", "total_steps": 100}
    assert scheduled_value(2.0, ok, 10, loss="x", name="beta") == 2.0 * cyclical_annealing(10, 100)
    assert scheduled_value(2.0, None, None, loss="x", name="beta") == 2.0
    bad = [
        ({"schedule": "cosine"}, 1, r"parameter 'beta_schedule' is invalid: unknown schedule"),
        ({"schedule": "linear", "warmup_step": 1}, 1, r"parameter 'beta_schedule' is invalid: unknown key"),
        (ok, None, r"parameter 'beta_schedule' is set, so the loss needs the current step"),
        (ok, -1, r"parameter 'step' is invalid"),
        (ok, torch.tensor([1, 2]), r"parameter .step. must be a number or a 0-dim tensor"),
    ]
    for spec, step, message in bad:
        with pytest.raises(LossParameterError, match=r"loss 'x': " + message):
            scheduled_value(1.0, spec, step, loss="x", name="beta")


def test_no_hidden_state_same_step_same_value():
    g = torch.Generator().manual_seed(0)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"predictions": torch.randn(3, 4, generator=g)}
    spec = {"schedule": "linear_warmup", "warmup_steps": 10}
    first = [vae_loss(mo, tg, beta_schedule=spec, step=s)["loss"] for s in (3, 7, 3)]
    torch.testing.assert_close(first[0], first[2])
    assert not torch.allclose(first[0], first[1])


def test_schedule_from_yaml_with_step_per_call(tmp_path):
    path = tmp_path / "loss.yaml"
    path.write_text(
        "loss:\n  class: beta_vae\n  params:\n    beta: 4.0\n"
        "    beta_schedule: {schedule: cyclical, total_steps: 1000, n_cycles: 3, ratio: 0.5}\n"
    )
    loss_fn = loss_from_config(path)
    g = torch.Generator().manual_seed(1)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"target": torch.randn(3, 4, generator=g)}
    for step in (0, 60, 125, 333, 334, 999):
        got = loss_fn(mo, tg, step=step)
        beta = 4.0 * cyclical_annealing(step, 1000, 3, 0.5)
        torch.testing.assert_close(got["metrics"]["beta"], torch.tensor(beta))
        torch.testing.assert_close(got["loss"], beta_vae(mo, tg, beta=beta)["loss"])


def test_tensor_steps_give_the_same_values():
    for t in range(0, 130, 7):
        for step in (torch.tensor(t), torch.tensor(float(t)), torch.tensor(t + 0.5, dtype=torch.float64)):
            value = step.item()
            assert cyclical_annealing(step, 120, 3, 0.25, 0.5, 2.0).item() == pytest.approx(
                cyclical_annealing(value, 120, 3, 0.25, 0.5, 2.0)
            )
            assert cyclical_annealing(step, 100, 7, 0.5).item() == pytest.approx(
                cyclical_annealing(value, 100, 7, 0.5)
            )
            assert linear_warmup(step, 50, 1.0, 3.0).item() == pytest.approx(
                linear_warmup(value, 50, 1.0, 3.0)
            )
            assert linear_capacity(step, 25.0, 100).item() == pytest.approx(linear_capacity(value, 25.0, 100))


def test_scheduled_loss_compiles_once_for_tensor_steps():
    from torch._dynamo.testing import CompileCounterWithBackend

    g = torch.Generator().manual_seed(2)
    mo = {"predictions": torch.randn(3, 4, generator=g), "mu": torch.randn(3, 2, generator=g)}
    mo["logvar"] = torch.randn(3, 2, generator=g)
    tg = {"target": torch.randn(3, 4, generator=g)}
    spec = {"schedule": "cyclical", "total_steps": 100, "n_cycles": 3}

    def step_fn(model_output, targets, step):
        return beta_vae(model_output, targets, beta_schedule=spec, step=step)["loss"]

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(step_fn, fullgraph=True, backend=counter)
    for step in (1, 2, 30, 34, 75, 120):
        expected = beta_vae(mo, tg, beta=4.0 * cyclical_annealing(step, 100, 3))["loss"]
        torch.testing.assert_close(compiled(mo, tg, torch.tensor(step)), expected)
    assert counter.frame_count == 1
