"""losses_core.params: parameter checks from annotations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import pytest
import torch

from losses_core import LossParameterError, Range, register_loss, resolve_loss
from losses_core.params import annotation_checker, describe_annotation


@pytest.mark.parametrize(
    ("annotation", "good", "bad", "message"),
    [
        (float, [0, 1.5, -2, float("inf")], [True, "1", None, float("nan")], "expects a number"),
        (int, [0, -3], [1.0, True, "2"], "expects an int"),
        (bool, [True, False], [0, 1, "yes"], "expects a bool"),
        (str, ["a"], [1, None], "expects a string"),
        (Literal["mean", "sum"], ["mean", "sum"], ["avg", 1, None], "must be one of 'mean', 'sum'"),
        (Literal[1, 2], [1, 2], [True, 1.0, 3], "must be one of 1, 2"),
        (float | None, [None, 1.0, 2], ["x"], "expects float | None"),
        (Sequence[float], [[1.0, 2], (0.5,), []], [1.0, "ab", [1.0, "x"], [True]], ""),
        (tuple[int, ...], [(1, 2), [3]], [(1, 2.5)], "item 1"),
        (tuple[int, str], [(1, "a")], [(1, 2), (1,)], ""),
        (Mapping[str, float], [{"a": 1.0}], [{"a": "b"}, {1: 1.0}, [("a", 1.0)]], ""),
        (torch.Tensor, [torch.ones(1)], [1.0, [1.0]], "expects Tensor"),
        (Annotated[float, Range(ge=0, lt=1)], [0, 0.5], [-0.1, 1, 1.5], "must be"),
        (Annotated[int, Range(gt=0)], [1], [0, -1, 1.5], ""),
        (float | Sequence[float] | None, [0.25, [0.1, 0.2], None], ["x", ["a"]], ""),
        (Any, [object(), None, "x"], [], ""),
    ],
)
def test_checker_accepts_and_rejects(annotation: Any, good: list[Any], bad: list[Any], message: str) -> None:
    check = annotation_checker(annotation)
    for value in good:
        assert check(value) is None, (annotation, value)
    for value in bad:
        problem = check(value)
        assert problem is not None, (annotation, value)
        assert message in problem


def test_sequence_checks_every_item_not_a_sample() -> None:
    check = annotation_checker(Sequence[float])
    assert check([1.0] * 50 + ["x"]) == "item 50: expects a number, got str 'x'"


def test_describe_annotation_is_readable() -> None:
    assert describe_annotation(float | Sequence[float] | None) == "float | Sequence[float] | None"
    assert describe_annotation(Literal["a", "b"]) == "'a' | 'b'"
    assert describe_annotation(Annotated[float, Range(ge=0)]) == "float (>= 0)"


def test_declared_sequence_parameter_accepts_a_list_and_rejects_a_scalar() -> None:
    @register_loss
    def per_class(
        model_output: Mapping[str, Any], targets: Mapping[str, Any], *, alpha: Sequence[float] = (1.0,)
    ) -> torch.Tensor:
        return model_output["x"].sum() * sum(alpha)

    resolve_loss("per_class", alpha=[0.1, 0.2, 0.3, 0.4])
    with pytest.raises(
        LossParameterError, match=r"'per_class': parameter 'alpha' expects Sequence\[float\], got float 0.5"
    ):
        resolve_loss("per_class", alpha=0.5)


def test_unannotated_parameters_take_their_defaults_type() -> None:
    @register_loss
    def legacy(model_output: Any, targets: Any, beta=1.0, steps=3, **kwargs):  # type: ignore[no-untyped-def]
        return model_output["x"].sum() * beta

    resolve_loss("legacy", beta=2)  # an int stands in for a float
    with pytest.raises(LossParameterError, match="'beta' expects a number"):
        resolve_loss("legacy", beta="fast")
    with pytest.raises(LossParameterError, match="'steps' expects an int"):
        resolve_loss("legacy", steps=2.5)


def test_validator_runs_before_training_and_on_calls() -> None:
    def check_schedule(value: Any) -> None:
        unknown = set(value) - {"warmup_steps"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)}")

    @register_loss(validators={"schedule": check_schedule})
    def scheduled(
        model_output: Any, targets: Any, *, schedule: Mapping[str, int] | None = None
    ) -> torch.Tensor:
        return model_output["x"].sum()

    resolve_loss("scheduled", schedule={"warmup_steps": 3})
    resolve_loss("scheduled", schedule=None)  # validators do not see None
    with pytest.raises(
        LossParameterError, match=r"'schedule' is invalid: unknown key\(s\) \['warmup_step'\]"
    ):
        resolve_loss("scheduled", schedule={"warmup_step": 3})


def test_missing_required_parameter_is_named() -> None:
    @register_loss
    def needs_size(
        model_output: Any, targets: Any, *, dataset_size: Annotated[int, Range(ge=1)]
    ) -> torch.Tensor:
        return model_output["x"].sum() / dataset_size

    with pytest.raises(
        LossParameterError,
        match=r"'needs_size': missing required parameter\(s\) 'dataset_size' \(dataset_size: int \(>= 1\)\)",
    ):
        resolve_loss("needs_size")
    assert resolve_loss("needs_size", dataset_size=2)({"x": torch.ones(2)}, {})["loss"].item() == 1.0


def test_an_optional_bounded_parameter_reports_its_bound() -> None:
    check = annotation_checker(Annotated[float, Range(gt=0)] | None)
    assert check(-1.0) == "must be > 0, got -1.0"
    assert check("x") == "expects float (> 0) | None, got str 'x'"
    assert check(None) is None
