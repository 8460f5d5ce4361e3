"""register_loss, signature checks, lookup, conflicts and suggestions."""

from __future__ import annotations

import pytest
import torch

from losses_core import (
    LOSSES,
    LossConflictError,
    LossRegistrationError,
    UnknownLossError,
    register_loss,
)
from losses_core._registry import REGISTRY, make_registrar


def scalar(model_output, targets, **kwargs):
    return model_output["x"].sum()


def test_decorator_registers_and_returns_function_unchanged():
    @register_loss("MyLoss")
    def my_loss(model_output, targets, beta=1.0, **kwargs):
        return beta * model_output["x"].sum()

    assert my_loss({"x": torch.ones(2)}, {}) == 2.0
    handle = LOSSES["MyLoss"]
    assert handle.function is my_loss
    assert handle.provider == "runtime"
    assert handle({"x": torch.ones(3)}, {}, beta=2.0).item() == 6.0


def test_call_form_registers_callable_instance():
    class FocalLike:
        def __init__(self, gamma=2.0):
            self.gamma = gamma

        def __call__(self, outputs, batch, **kwargs):
            return {"loss": outputs["x"].mean() * self.gamma}

    register_loss("focal_like", FocalLike(gamma=3.0))
    out = LOSSES["focal_like"]({"x": torch.ones(2)}, {})
    assert out.ndim == 0 and out.item() == 3.0  # a registry call gives the mapping's "loss"


@pytest.mark.parametrize(
    "bad",
    [
        lambda model_output: model_output,
        lambda *, model_output, targets: model_output,
        lambda a, b, c, /: a,
    ],
    ids=["one-input", "keyword-only-inputs", "positional-only-extra"],
)
def test_signature_that_cannot_work_is_rejected(bad):
    with pytest.raises(LossRegistrationError, match="bad_sig"):
        register_loss("bad_sig", bad)


def test_not_callable_rejected():
    with pytest.raises(LossRegistrationError, match="expected a function"):
        register_loss("not_callable", 3)  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["", " padded", "a@b", "mod:attr"])
def test_invalid_names_rejected(name):
    with pytest.raises(LossRegistrationError):
        register_loss(name, scalar)


def test_var_positional_signature_accepted():
    register_loss("varargs", lambda *args, **kw: args[0]["x"].sum())
    assert LOSSES["varargs"]({"x": torch.ones(2)}, {}).item() == 2.0


def test_aliases_and_folded_lookup():
    register_loss("My-Fancy_Loss", scalar, aliases=("fancy",))
    assert LOSSES["fancy"].function is scalar
    assert LOSSES["my_fancy_loss"].function is scalar
    assert LOSSES["MY-FANCY-LOSS"].function is scalar


def test_exact_match_beats_folded_match():
    def other(model_output, targets):
        return model_output["x"].mean()

    register_loss("Case", scalar)
    register_loss("case", other)
    assert LOSSES["Case"].function is scalar
    assert LOSSES["case"].function is other
    with pytest.raises(LossConflictError):
        LOSSES["CASE"]


def test_unknown_name_suggests_close_matches_and_how_to_list():
    with pytest.raises(UnknownLossError) as info:
        LOSSES["mse_los"]
    message = str(info.value)
    assert "'mse'" in message
    assert "losses list" in message
    assert isinstance(info.value, KeyError)


def test_unknown_name_never_falls_back():
    assert "definitely_not_a_loss" not in LOSSES
    assert LOSSES.get("definitely_not_a_loss") is None


def test_same_definition_reregistration_replaces():
    def again(model_output, targets):
        return model_output["x"].sum()

    register_loss("again", again)
    register_loss("again", again)
    assert [e.name for e in REGISTRY.entries()].count("again") == 1


def test_different_runtime_loss_under_same_name_raises_unless_override():
    register_loss("taken", scalar)

    def replacement(model_output, targets):
        return model_output["x"].mean()

    with pytest.raises(LossRegistrationError, match="override=True"):
        register_loss("taken", replacement)
    register_loss("taken", replacement, override=True)
    assert LOSSES["taken"].function is replacement


def test_conflict_between_providers_is_never_silent():
    def alpha(model_output, targets):
        return model_output["x"].sum()

    def beta(model_output, targets):
        return model_output["x"].mean()

    make_registrar("losses-alpha", "1.0")("dup_loss", alpha)
    make_registrar("losses-beta", "2.0")("dup_loss", beta)
    with pytest.raises(LossConflictError) as info:
        LOSSES["dup_loss"]
    message = str(info.value)
    assert "losses-alpha 1.0" in message and "losses-beta 2.0" in message
    assert "'dup_loss@losses-alpha'" in message
    assert not isinstance(info.value, KeyError)
    assert LOSSES["dup_loss@losses-alpha"].function is alpha
    assert LOSSES["dup_loss@Losses_Beta"].function is beta
    assert "dup_loss@losses-alpha" in list(LOSSES)
    assert "dup_loss" in LOSSES


def test_runtime_override_wins_against_plugin():
    def plugin_version(model_output, targets):
        return model_output["x"].sum()

    def mine(model_output, targets):
        return model_output["x"].mean()

    make_registrar("losses-alpha", "1.0")("ovr", plugin_version)
    register_loss("ovr", mine, override=True)
    assert LOSSES["ovr"].function is mine


def test_qualified_lookup_with_wrong_provider_names_real_providers():
    with pytest.raises(UnknownLossError, match="losses-core"):
        LOSSES["mse@losses-nope"]


def test_mapping_is_read_only_and_live():
    with pytest.raises(TypeError, match="read-only"):
        LOSSES["x"] = scalar  # type: ignore[index]
    for mutate in (
        lambda: LOSSES.update(x=scalar),
        lambda: LOSSES.pop("mse"),
        LOSSES.clear,
        LOSSES.popitem,
        lambda: LOSSES.setdefault("x", scalar),
        lambda: LOSSES.__delitem__("mse"),
    ):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert "mse" in LOSSES
    before = len(LOSSES)
    register_loss("live_one", scalar)
    assert len(LOSSES) == before + 1
    assert "live_one" in list(LOSSES)
    assert "live_one" in LOSSES.keys() and "live_one" in dict(LOSSES.items())  # noqa: SIM118 (keys() itself is under test)
    snapshot = dict(LOSSES)
    assert set(snapshot) == set(LOSSES) and snapshot["mse"] is LOSSES["mse"]


def test_mapping_reads_reflect_registry_not_cache():
    assert LOSSES.get("not_registered_yet") is None
    register_loss("not_registered_yet", scalar)
    assert LOSSES.get("not_registered_yet").function is scalar
    assert {**LOSSES}.keys() == set(LOSSES)


def test_builtins_are_registered_with_provider_and_version():
    from losses_core import __version__

    for name in ("mse", "token_ce", "focal"):
        handle = LOSSES[name]
        assert handle.provider == "losses-core"
        assert handle.version == __version__
