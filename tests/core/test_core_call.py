"""Validation of what losses return, through LOSSES and resolve_loss."""

from __future__ import annotations

import functools
import pickle
import sys
import threading

import pytest
import torch

from losses_core import LOSSES, LossParameterError, LossResultError, register_loss, resolve_loss

X = {"x": torch.ones(3, requires_grad=True)}


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        (lambda mo: mo["x"].sum().item(), "breaks autograd"),
        (lambda mo: 1.0, "Python float"),
        (lambda mo: mo["x"] * 2, r"shape \(3,\)"),
        (lambda mo: torch.tensor(3), "floating dtype"),
        (lambda mo: {"metrics": {}}, "without a 'loss' key"),
        (lambda mo: {"loss": mo["x"].sum(), "extra": 1}, "unexpected key"),
        (lambda mo: {"loss": mo["x"].sum(), "metrics": [1]}, "expected a mapping"),
        (lambda mo: "nope", "type str"),
    ],
    ids=["item", "float", "non-scalar", "int-tensor", "no-loss", "extra-key", "bad-metrics", "str"],
)
def test_invalid_results_rejected_with_loss_name(returned, match):
    register_loss("bad_result", lambda mo, t: returned(mo))
    with pytest.raises(LossResultError, match=match) as info:
        LOSSES["bad_result"](X, {})
    assert "bad_result" in str(info.value)
    with pytest.raises(LossResultError, match=match):
        resolve_loss("bad_result")(X, {})


def test_registry_call_returns_the_loss_of_a_mapping_result():
    result = {"loss": X["x"].sum(), "metrics": {"m": torch.tensor(1.0)}}
    register_loss("dict_result", lambda mo, t: result)
    assert LOSSES["dict_result"](X, {}) is result["loss"]
    assert resolve_loss("dict_result")(X, {})["metrics"] == {"m": torch.tensor(1.0)}


def test_resolve_normalises_tensor_result():
    register_loss("tensor_result", lambda mo, t: mo["x"].sum())
    out = resolve_loss("tensor_result")(X, {})
    assert set(out) == {"loss", "metrics", "auxiliary"}
    assert out["metrics"] == {} and out["auxiliary"] == {}


def test_unexpected_parameter_names_the_loss_and_suggests():
    def loss(model_output, targets, *, beta=1.0):
        return model_output["x"].sum() * beta

    register_loss("beta_loss", loss)
    with pytest.raises(LossParameterError, match=r"'beta_loss'.*'betta' \(did you mean 'beta'\?\)"):
        LOSSES["beta_loss"](X, {}, betta=2.0)


def test_typeerror_inside_loss_is_not_rewritten():
    def loss(model_output, targets):
        raise TypeError("inner failure with an argument")

    register_loss("inner_typeerror", loss)
    with pytest.raises(TypeError, match="inner failure") as info:
        LOSSES["inner_typeerror"](X, {})
    assert not isinstance(info.value, LossParameterError)


def test_every_registry_result_is_checked_on_every_call():
    calls = {"n": 0}

    def flaky(model_output, targets):
        calls["n"] += 1
        if calls["n"] == 1:
            return model_output["x"].sum()
        if calls["n"] == 2:
            return model_output["x"].sum().item()
        if calls["n"] == 3:
            return torch.tensor(3)
        return model_output["x"]  # shape (3,)

    register_loss("flaky", flaky)
    handle = LOSSES["flaky"]
    assert handle(X, {}).item() == 3.0
    with pytest.raises(LossResultError, match="breaks autograd"):
        handle(X, {})
    with pytest.raises(LossResultError, match="floating dtype"):
        handle(X, {})
    with pytest.raises(LossResultError, match=r"shape \(3,\)"):
        handle(X, {})


def test_first_plain_result_is_checked_in_full():
    register_loss("vector_first", lambda mo, t: mo["x"] * 2)
    with pytest.raises(LossResultError, match="shape"):
        LOSSES["vector_first"](X, {})


def test_missing_required_parameter_names_the_loss():
    def needs(model_output, targets, *, dataset_size):
        return model_output["x"].sum() / dataset_size

    register_loss("needs_size", needs)
    with pytest.raises(LossParameterError, match=r"'needs_size'.*dataset_size"):
        LOSSES["needs_size"](X, {})


def test_result_keys_do_not_depend_on_hooks():
    from losses_core import MetricsCollector, use_hooks

    logits, labels = torch.randn(2, 3, 5), torch.randint(0, 5, (2, 3))
    mo, t = {"logits": logits}, {"labels": labels}
    plain_registry = LOSSES["token_ce"](mo, t)
    plain_resolved = resolve_loss("token_ce")(mo, t)
    with use_hooks(MetricsCollector()):
        hooked_registry = LOSSES["token_ce"](mo, t)
        hooked_resolved = resolve_loss("token_ce")(mo, t)
    for value in (plain_registry, hooked_registry):
        assert isinstance(value, torch.Tensor) and value.ndim == 0
    torch.testing.assert_close(plain_registry, hooked_registry)
    assert list(plain_resolved) == list(hooked_resolved) == ["loss", "metrics", "auxiliary"]
    assert plain_resolved["metrics"].keys() == hooked_resolved["metrics"].keys()


def test_unknown_parameters_are_found_before_the_call_for_decorated_and_class_losses():
    calls = []

    def logged(fn):
        @functools.wraps(fn)
        def wrapper(model_output, targets, **params):
            calls.append(params)
            return fn(model_output, targets, **params)

        return wrapper

    @logged
    def decorated(model_output, targets, *, beta=1.0):
        return model_output["x"].sum() * beta

    class ClassBased:
        def __call__(self, model_output, targets, *, gamma=2.0):
            return model_output["x"].sum() * gamma

    register_loss("decorated_loss", decorated)
    register_loss("class_loss", ClassBased())
    with pytest.raises(
        LossParameterError,
        match=r"'decorated_loss' does not accept parameter\(s\) 'betta' \(did you mean 'beta'\?\)",
    ):
        LOSSES["decorated_loss"](X, {}, betta=2.0)
    assert calls == []  # rejected before the call
    with pytest.raises(
        LossParameterError,
        match=r"'class_loss' does not accept parameter\(s\) 'gama' \(did you mean 'gamma'\?\)",
    ):
        LOSSES["class_loss"](X, {}, gama=1.0)
    assert LOSSES["class_loss"](X, {}, gamma=1.0).item() == 3.0


def test_concurrent_first_lookups_return_one_handle_that_pickles():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(20):
            name = f"raced_{round_}"
            register_loss(name, lambda mo, t: mo["x"].sum())
            barrier = threading.Barrier(32)
            found = []

            def look(name=name, barrier=barrier, found=found):
                barrier.wait()
                found.append(LOSSES[name])

            threads = [threading.Thread(target=look) for _ in range(32)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(found) == 32 and all(h is found[0] for h in found), round_
            assert pickle.loads(pickle.dumps(found[0])) is found[0]
    finally:
        sys.setswitchinterval(interval)
