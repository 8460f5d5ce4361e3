"""register_loss(inputs=...): the protocol function built around a function of tensors."""

from __future__ import annotations

import inspect
import pickle
from typing import Annotated, Any, Literal

import pytest
import torch

from losses_core import LOSSES, Input, LossParameterError, LossRegistrationError, Range, register_loss


def _scaled(
    x: torch.Tensor, *, scale: Annotated[float, Range(gt=0)] = 1.0, mode: Literal["sum", "mean"] = "sum"
) -> torch.Tensor:
    """Scaled sum."""
    return scale * (x.sum() if mode == "sum" else x.mean())


@pytest.fixture
def scaled() -> Any:
    return register_loss(
        "declared_scale",
        _scaled,
        aliases=("DeclaredScale",),
        inputs=[Input("x", "model_output", dtype="float")],
    )


def test_the_protocol_signature_shows_parameters_and_keys(scaled: Any) -> None:
    sig = inspect.signature(scaled)
    assert list(sig.parameters) == ["model_output", "targets", "scale", "mode", "keys"]
    assert scaled.__name__ == "_scaled" and scaled.__doc__ == "Scaled sum."
    assert scaled.compute(torch.ones(2), scale=2.0).item() == 4.0  # type: ignore[attr-defined]


def test_direct_calls_check_parameters_too(scaled: Any) -> None:
    assert scaled({"x": torch.ones(2)}, {}, scale=3.0).item() == 6.0
    with pytest.raises(LossParameterError, match=r"'declared_scale': parameter 'scale' must be > 0, got 0"):
        scaled({"x": torch.ones(2)}, {}, scale=0)
    with pytest.raises(
        LossParameterError, match=r"does not accept parameter\(s\) 'scael' \(did you mean 'scale'\?\)"
    ):
        scaled({"x": torch.ones(2)}, {}, scael=1.0)


def test_name_defaults_to_the_function_name_and_pickles(scaled: Any) -> None:
    @register_loss(inputs=[Input("x", "model_output")])
    def plain_name(x: torch.Tensor) -> torch.Tensor:
        return x.sum()

    handle = LOSSES["plain_name"]
    assert handle.name == "plain_name" and handle.entry.inputs[0].name == "x"
    assert pickle.loads(pickle.dumps(LOSSES["declared_scale"])) is LOSSES["declared_scale"]


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (
            [Input("y", "model_output")],
            r"positional parameters .* \(x\) must be its declared inputs, in order \(y\)",
        ),
        (
            [Input("x", "model_output"), Input("z", "targets")],
            r"\(x\) must be its declared inputs, in order \(x, z\)",
        ),
        ([Input("x", "model_output", optional=True)], "optional input 'x' needs a default"),
        ([Input("x", "model_output", like="w")], "declared like='w', which is not an earlier input"),
        (["x"], "inputs must be losses_core.Input objects"),
    ],
)
def test_declaration_mismatches_fail_at_registration(inputs: list[Any], match: str) -> None:
    def body(x: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
        return x.sum()

    with pytest.raises(LossRegistrationError, match=match):
        register_loss("bad_declaration", body, inputs=inputs)


def test_keys_is_reserved_for_declared_losses() -> None:
    def body(x: torch.Tensor, *, keys: int = 0) -> torch.Tensor:
        return x.sum()

    with pytest.raises(LossRegistrationError, match="cannot have a parameter named 'keys'"):
        register_loss("reserved", body, inputs=[Input("x", "model_output")])


def test_validators_of_a_declared_loss_are_given_with_its_inputs() -> None:
    def positive(value: Any) -> None:
        if value <= 0:
            raise ValueError("must be positive")

    @register_loss(inputs=[Input("x", "model_output")], validators={"k": positive})
    def with_validator(x: torch.Tensor, *, k: int = 1) -> torch.Tensor:
        return x.sum() * k

    with pytest.raises(LossParameterError, match="parameter 'k' must be positive"):
        LOSSES["with_validator"]({"x": torch.ones(1)}, {}, k=-1)
    with pytest.raises(LossRegistrationError, match="validator for 'nope'"):
        register_loss(
            "v2", with_validator.compute, inputs=[Input("x", "model_output")], validators={"nope": positive}
        )  # type: ignore[attr-defined]


def test_each_declared_loss_and_handle_compiles_with_a_cache_of_its_own() -> None:
    # Every protocol function (and handle) is built from the same closure; each
    # gets its own code object so that compiling more than dynamo's
    # recompile limit (8) of different losses never hits that limit.
    losses = []
    for i in range(10):

        def body(x: torch.Tensor, *, scale: float = 1.0, i: int = i) -> torch.Tensor:
            return x.sum() * scale + i

        losses.append(register_loss(f"compiled_{i}", body, inputs=[Input("x", "model_output")]))
    x = {"x": torch.ones(3)}
    for i, loss in enumerate(losses):
        assert loss.__code__ is not losses[0].__code__ or i == 0
        got = torch.compile(loss, fullgraph=True, backend="eager")(x, {}, scale=2.0)
        assert got.item() == 6.0 + i
        handle = LOSSES[f"compiled_{i}"]
        assert torch.compile(handle, fullgraph=True, backend="eager")(x, {}).item() == 3.0 + i


def test_a_functools_wraps_decorator_around_a_declared_loss_is_a_loss_of_its_own() -> None:
    import functools

    @register_loss(inputs=[Input("x", "model_output")])
    def inner(x: torch.Tensor, *, gamma: float = 1.0) -> torch.Tensor:
        return x.sum() * gamma

    def times_ten(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(model_output: Any, targets: Any, **params: Any) -> Any:
            return fn(model_output, targets, **params) * 10

        return wrapper

    register_loss("inner_times_ten", times_ten(inner))
    x = {"x": torch.ones(3)}
    assert LOSSES["inner_times_ten"](x, {}).item() == 30.0  # the plain path runs the wrapper too
    assert LOSSES["inner_times_ten"](x, {}, gamma=2.0).item() == 60.0
    assert not LOSSES["inner_times_ten"].entry.declared


def test_unannotated_parameters_of_a_declared_loss_take_their_defaults_type() -> None:
    @register_loss(inputs=[Input("x", "model_output")])
    def plain_gamma(x, *, gamma=2.0):  # type: ignore[no-untyped-def]
        return x.sum() * gamma

    with pytest.raises(LossParameterError, match="'gamma' expects a number, got str 'a'"):
        LOSSES["plain_gamma"]({"x": torch.ones(2)}, {}, gamma="a")
