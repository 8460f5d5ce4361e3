"""Validation of what losses return, through LOSSES and resolve_loss."""

from __future__ import annotations

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


def test_loss_mapping_result_passes_through_registry_unchanged():
    result = {"loss": X["x"].sum(), "metrics": {"m": torch.tensor(1.0)}}
    register_loss("dict_result", lambda mo, t: result)
    assert LOSSES["dict_result"](X, {}) is result


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


def test_plain_call_validates_fully_at_first_and_always_rejects_python_numbers():
    calls = {"n": 0}

    def flaky(model_output, targets):
        calls["n"] += 1
        if calls["n"] == 1:
            return model_output["x"].sum()
        if calls["n"] == 2:
            return model_output["x"].sum().item()
        return torch.tensor(3)

    register_loss("flaky", flaky)
    handle = LOSSES["flaky"]
    assert handle(X, {}).item() == 3.0
    with pytest.raises(LossResultError, match="breaks autograd"):
        handle(X, {})
    # A later tensor of the wrong dtype on the plain hot path is left to torch;
    # with parameters or through resolve_loss every result is checked in full.
    handle(X, {})
    with pytest.raises(LossResultError, match="floating dtype"):
        resolve_loss("flaky")(X, {})


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
