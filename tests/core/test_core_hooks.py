"""Every hook of losses_core.hookspecs: registration, pre-loss, post-loss;
runtime register/unregister/scoping, gating, errors, built-in hook plugins."""

from __future__ import annotations

import pytest
import torch

from losses_core import (
    LOSSES,
    HookError,
    LossResultError,
    NonFiniteGuard,
    NonFiniteLossError,
    hookimpl,
    loss_from_config,
    register_hooks,
    resolve_loss,
    unregister_hooks,
    use_hooks,
)
from losses_core._hooks import HOOKS

MO = {"predictions": torch.tensor([1.0, 2.0, 3.0], requires_grad=True)}
T = {"target": torch.zeros(3)}
MSE = (1 + 4 + 9) / 3


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def losses_pre_loss(self, call):
        self.calls.append(("pre", call.name, call.provider, dict(call.params)))

    @hookimpl
    def losses_post_loss(self, call):
        self.calls.append(("post", call.name, float(call.result["loss"].detach())))


def test_hook_losses_register_from_runtime_plugin():
    class Provider:
        @hookimpl
        def losses_register(self, register):
            register("from_hook", lambda mo, t: mo["predictions"].sum(), aliases=("fh",))

    register_hooks(Provider())
    assert LOSSES["fh"](MO, T).item() == 6.0
    assert LOSSES["from_hook"].provider == "runtime"


def test_hook_losses_pre_loss_sees_call_and_can_replace_params_and_inputs():
    class Halve:
        @hookimpl
        def losses_pre_loss(self, call):
            call.params = {**call.params, "reduction": "sum"}
            call.model_output = {"predictions": call.model_output["predictions"] / 2}

    recorder = Recorder()
    # pluggy calls the last registered first: Halve runs, then the recorder sees its change.
    with use_hooks(recorder, Halve()):
        out = LOSSES["mse"](MO, T)
    assert out.item() == pytest.approx(0.25 + 1 + 2.25)
    assert recorder.calls[0] == ("pre", "mse", "losses-core", {"reduction": "sum"})
    assert ("post", "mse", pytest.approx(3.5)) in recorder.calls


def test_hooks_see_the_label_of_a_composite_term_and_none_elsewhere():
    seen = []

    class Labels:
        @hookimpl
        def losses_pre_loss(self, call):
            seen.append(("pre", call.name, call.label))

        @hookimpl
        def losses_post_loss(self, call):
            seen.append(("post", call.name, call.label, repr(call)))

    composite = loss_from_config({"loss": {"terms": ["mse", {"type": "mse", "name": "aux"}, "token_ce"]}})
    with use_hooks(Labels()):
        composite({**MO, "logits": torch.randn(2, 3)}, {**T, "labels": torch.tensor([0, 2])})
        LOSSES["mse"](MO, T)
        resolve_loss("mse")(MO, T)
    assert [entry[:3] for entry in seen] == [
        ("pre", "mse", "mse"),  # the label of an unnamed term is the loss name
        ("post", "mse", "mse"),
        ("pre", "mse", "aux"),
        ("post", "mse", "aux"),
        ("pre", "token_ce", "token_ce"),
        ("post", "token_ce", "token_ce"),
        ("pre", "mse", None),
        ("post", "mse", None),
        ("pre", "mse", None),
        ("post", "mse", None),
    ]
    assert seen[3][3] == "LossCall(name='mse', provider='losses-core', label='aux', params={})"
    assert seen[7][3] == "LossCall(name='mse', provider='losses-core', params={})"


def test_hook_losses_post_loss_can_scale_and_add_metrics():
    class ScaleAndMeasure:
        @hookimpl
        def losses_post_loss(self, call):
            call.result = {**call.result, "loss": call.result["loss"] * 10}
            call.result["metrics"]["scaled"] = torch.tensor(1.0)

    with use_hooks(ScaleAndMeasure()):
        bare = LOSSES["mse"](MO, T)
        full = resolve_loss("mse")(MO, T)
    assert isinstance(bare, torch.Tensor) and bare.item() == pytest.approx(MSE * 10)
    assert full["loss"].item() == pytest.approx(MSE * 10)
    assert "scaled" in full["metrics"]
    bare.backward()
    assert MO["predictions"].grad is not None
    MO["predictions"].grad = None


def test_post_loss_result_is_validated_again():
    class Breaks:
        @hookimpl
        def losses_post_loss(self, call):
            call.result = {"loss": 1.0}

    with use_hooks(Breaks()), pytest.raises(Exception, match="Python float"):
        LOSSES["mse"](MO, T)


def test_hooks_are_gated_and_state_refreshes():
    assert not HOOKS.active
    recorder = Recorder()
    register_hooks(recorder)
    assert HOOKS.active and HOOKS.has_pre and HOOKS.has_post
    LOSSES["mse"](MO, T)
    unregister_hooks(recorder)
    assert not HOOKS.active
    LOSSES["mse"](MO, T)
    assert len(recorder.calls) == 2


def test_use_hooks_unregisters_on_error():
    recorder = Recorder()
    with pytest.raises(RuntimeError), use_hooks(recorder):
        raise RuntimeError("boom")
    assert not HOOKS.active


def test_raising_hook_error_names_plugin_and_hook():
    class Faulty:
        @hookimpl
        def losses_pre_loss(self, call):
            raise ValueError("bad input")

    register_hooks(Faulty(), name="faulty-plugin")
    with pytest.raises(
        HookError,
        match="'losses_pre_loss' of plugin 'faulty-plugin' raised ValueError during loss 'mse': bad input",
    ):
        LOSSES["mse"](MO, T)


def test_hook_order_tryfirst():
    order = []

    class First:
        @hookimpl(tryfirst=True)
        def losses_pre_loss(self, call):
            order.append("first")

    class Second:
        @hookimpl
        def losses_pre_loss(self, call):
            order.append("second")

    with use_hooks(First(), Second()):
        LOSSES["mse"](MO, T)
    assert order == ["first", "second"]


def test_every_hookspec_is_documented_and_tested():
    import pathlib

    from losses_core import hookspecs

    names = [n for n in dir(hookspecs) if n.startswith("losses_")]
    assert sorted(names) == ["losses_post_loss", "losses_pre_loss", "losses_register"]
    source = pathlib.Path(__file__).read_text()
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name
        assert f"``{name}(" in (hookspecs.__doc__ or ""), name
        assert f"def test_hook_{name}" in source, f"no test_hook_{name} test"


def test_a_hook_that_writes_an_invalid_result_is_named():
    class Shaper:
        @hookimpl
        def losses_post_loss(self, call):
            call.result["loss"] = call.result["loss"].expand(2)

    register_hooks(Shaper(), name="shaper-plugin")
    with pytest.raises(
        LossResultError,
        match=r"hook 'losses_post_loss' of plugin 'shaper-plugin' \(loss 'mse'\) "
        r"returned 'loss' of shape \(2,\)",
    ):
        LOSSES["mse"](MO, T)


def test_a_losses_error_from_a_hook_keeps_its_type_and_names_the_plugin():
    with pytest.raises(NonFiniteLossError) as info, use_hooks(NonFiniteGuard()):
        LOSSES["mse"]({"predictions": torch.tensor([float("nan")])}, {"target": torch.zeros(1)})
    assert any("hook 'losses_post_loss' of plugin" in note for note in info.value.__notes__)


def test_wrapper_implementations_go_through_pluggy_and_errors_still_name_the_plugin():
    seen = []

    class Wrapping:
        @hookimpl(wrapper=True)
        def losses_post_loss(self, call):
            seen.append("before")
            result = yield
            seen.append("after")
            return result

    class Faulty:
        @hookimpl
        def losses_post_loss(self, call):
            raise KeyError("boom")

    register_hooks(Wrapping(), name="wrapping-plugin")
    assert HOOKS.post is None  # the wrapper needs pluggy's caller
    torch.testing.assert_close(LOSSES["mse"](MO, T), torch.tensor(MSE))
    assert seen == ["before", "after"]
    register_hooks(Faulty(), name="faulty-post")
    with pytest.raises(HookError, match="'losses_post_loss' of plugin 'faulty-post' raised KeyError"):
        LOSSES["mse"](MO, T)


def test_a_plugin_whose_registration_fails_is_not_left_registered():
    class FailsToRegister:
        @hookimpl
        def losses_register(self, register):
            raise RuntimeError("no losses today")

        @hookimpl
        def losses_pre_loss(self, call):
            raise AssertionError("must never run")

    with pytest.raises(RuntimeError, match="no losses today"), use_hooks(FailsToRegister()):
        pass
    assert not HOOKS.active
    LOSSES["mse"](MO, T)


def test_registering_twice_or_unregistering_a_stranger_is_a_hook_error():
    recorder = Recorder()
    with use_hooks(recorder), pytest.raises(HookError, match="cannot register hook plugin"):
        register_hooks(recorder)
    with pytest.raises(HookError, match="is not registered"):
        unregister_hooks(recorder)
