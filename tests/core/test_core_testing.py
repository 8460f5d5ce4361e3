"""The conformance checker catches what it promises to catch."""

from __future__ import annotations

import pytest
import torch

from losses_core import Input, MissingInputError, register_loss
from losses_core.testing import CHECKS, ConformanceError, assert_conforms, check_loss, loss_names


def example(batch_size=4, dtype=torch.float32):
    x = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    return {"x": x}, {"y": torch.randn(batch_size, 3, dtype=dtype)}, {}


def good(model_output, targets, *, scale: float = 1.0):
    for source, mapping, key in (("model_output", model_output, "x"), ("targets", targets, "y")):
        if key not in mapping:
            raise MissingInputError(f"good: {source}[{key!r}] is missing")
    return {"loss": scale * (model_output["x"] - targets["y"]).square().mean(), "metrics": {}}


def statuses(report):
    return {r.check: r.status for r in report.results}


@pytest.mark.parametrize("name", ["mse", "token_ce", "focal", "margin_ranking", "contrastive"])
def test_builtin_losses_conform(name):
    assert_conforms(name)


def test_good_loss_passes_every_check():
    register_loss("good_loss", good, example_inputs=example)
    report = check_loss("good_loss")
    assert report.ok, str(report)
    assert [r.check for r in report.results] == list(CHECKS)


def test_missing_example_factory_fails_clearly():
    register_loss("no_factory", good)
    report = check_loss("no_factory")
    assert not report.ok and "example_inputs" in report.failures[0].message


def test_item_is_caught_by_call_check():
    register_loss(
        "uses_item", lambda mo, t: (mo["x"] - t["y"]).square().mean().item(), example_inputs=example
    )
    report = check_loss("uses_item")
    assert statuses(report)["call"] == "failed" and "breaks autograd" in report.failures[0].message
    with pytest.raises(ConformanceError, match="uses_item"):
        report.raise_for_failures()


def test_unclear_missing_key_error_is_caught():
    def sloppy(model_output, targets):
        return (model_output.get("x") - targets["y"]).square().mean()

    register_loss("sloppy", sloppy, example_inputs=example)
    report = check_loss("sloppy")
    assert statuses(report)["missing_key"] == "failed"
    assert "TypeError" in report.failures[0].message


def test_silent_downcast_is_caught():
    def downcast(model_output, targets):
        return good(model_output, targets)["loss"].float()

    register_loss("downcast", downcast, example_inputs=example)
    assert statuses(check_loss("downcast"))["float64"] == "failed"


def test_graph_break_is_caught_by_compile_check():
    def prints(model_output, targets):
        print("side effect")
        return good(model_output, targets)["loss"]

    register_loss("prints", prints, example_inputs=example)
    report = check_loss("prints", skip=("missing_key",))
    assert statuses(report)["compile"] == "failed"
    assert statuses(report)["missing_key"] == "skipped"


def test_nan_gradient_is_caught():
    def sqrt_at_zero(model_output, targets):
        return (model_output["x"] * 0).sqrt().sum() + targets["y"].sum() * 0

    register_loss("sqrt_at_zero", sqrt_at_zero, example_inputs=example)
    assert statuses(check_loss("sqrt_at_zero"))["gradients"] == "failed"


def test_unknown_skip_name_is_an_error():
    with pytest.raises(ValueError, match="unknown check"):
        check_loss("mse", skip=("speed",))


def test_loss_names_filters_by_distribution():
    names = loss_names(distribution="losses-core")
    assert set(names) >= {"mse@losses-core", "token_ce@losses-core", "focal@losses-core"}
    assert all(n.endswith("@losses-core") for n in names)


def test_a_name_another_provider_registers_fails_the_names_check():
    register_loss("MSE", good, example_inputs=example)  # the alias of the built-in mse
    report = check_loss("MSE@runtime")
    assert statuses(report)["names"] == "failed"
    assert "'MSE' is also registered by losses-core" in str(report)


def test_declared_optional_input_may_be_needed_by_parameters_and_must_say_so():
    def aux(x, w=None, *, weight: float = 0.0):
        if weight and w is None:
            raise MissingInputError("aux: input 'w' (targets['w']) is required when weight > 0")
        return x.square().mean() + (weight * w.mean() if weight else 0.0)

    def aux_example(batch_size=4, dtype=torch.float32):
        x = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
        return {"x": x}, {"w": torch.rand(batch_size, dtype=dtype)}, {"weight": 0.5}

    inputs = [Input("x", "model_output"), Input("w", "targets", optional=True)]
    register_loss("aux_loss", aux, inputs=inputs, example_inputs=aux_example)
    report = check_loss("aux_loss")
    assert report.ok, str(report)
    assert "w (with these parameters)" in next(r.message for r in report.results if r.check == "missing_key")

    def careless(x, w=None, *, weight: float = 0.0):
        return x.square().mean() + weight * w.mean()  # AttributeError on None

    register_loss("careless_loss", careless, inputs=inputs, example_inputs=aux_example)
    assert statuses(check_loss("careless_loss"))["missing_key"] == "failed"


def test_isolated_registry_restores_hook_plugins_removed_inside():
    from losses_core import hookimpl, register_hooks, unregister_hooks
    from losses_core._hooks import HOOKS
    from losses_core.testing import isolated_registry

    class Hook:
        @hookimpl
        def losses_pre_loss(self, call):
            pass

    hook = Hook()
    register_hooks(hook, name="kept-hook")
    try:
        with isolated_registry():
            unregister_hooks(hook)
            assert not HOOKS.active
        assert HOOKS.active
    finally:
        unregister_hooks(hook)
