"""losses_core.inputs: declared inputs fetched, checked and mapped by core."""

from __future__ import annotations

import pytest
import torch

from losses_core import (
    LOSSES,
    Input,
    LossInputError,
    LossParameterError,
    LossRegistrationError,
    MissingInputError,
    register_loss,
    resolve_loss,
)


@pytest.fixture
def ce() -> object:
    @register_loss(
        inputs=[
            Input("logits", "model_output", shape="B T V | N V", dtype="float"),
            Input("labels", "targets", shape="B T | N", dtype="int"),
            Input("mask", "targets", shape="B T | N", dtype="bool", optional=True),
        ]
    )
    def tiny_ce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten())

    return tiny_ce


def test_declared_inputs_are_fetched_and_passed_positionally(ce: object) -> None:
    logits, labels = torch.randn(2, 3, 5), torch.randint(0, 5, (2, 3))
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
    torch.testing.assert_close(LOSSES["tiny_ce"]({"logits": logits}, {"labels": labels}), expected)
    torch.testing.assert_close(ce({"logits": logits}, {"labels": labels}), expected)  # type: ignore[operator]
    torch.testing.assert_close(ce.compute(logits, labels), expected)  # type: ignore[attr-defined]


def test_keys_map_the_callers_names_everywhere(ce: object) -> None:
    logits, labels = torch.randn(4, 5), torch.randint(0, 5, (4,))
    mo, t = {"lm_logits": logits}, {"y": labels}
    keys = {"logits": "lm_logits", "labels": "y"}
    expected = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(LOSSES["tiny_ce"](mo, t, keys=keys), expected)
    torch.testing.assert_close(resolve_loss("tiny_ce", keys=keys)(mo, t)["loss"], expected)
    with pytest.raises(
        MissingInputError,
        match=r"tiny_ce: input 'labels' is required at targets\['Y'\] \(mapped by keys=\{'labels': 'Y'\}\)",
    ):
        LOSSES["tiny_ce"](mo, t, keys={"logits": "lm_logits", "labels": "Y"})
    with pytest.raises(LossParameterError, match="names no declared input: 'logit'"):
        resolve_loss("tiny_ce", keys={"logit": "lm_logits"})


@pytest.mark.parametrize(
    ("model_output", "targets", "error", "match"),
    [
        (
            {},
            {"labels": torch.zeros(4, dtype=torch.long)},
            MissingInputError,
            r"tiny_ce: input 'logits' is required at model_output\['logits'\] but is missing; "
            r"model_output has no keys; if it lives under another key, pass keys=",
        ),
        (
            {"logits": [1.0]},
            {},
            LossInputError,
            r"input 'logits' \(model_output\['logits'\]\) must be a torch.Tensor, got list",
        ),
        (
            {"logits": torch.zeros(4, 5, dtype=torch.long)},
            {},
            LossInputError,
            "must have a floating dtype, got torch.int64",
        ),
        ({"logits": torch.zeros(5)}, {}, LossInputError, r"must have shape \[B T V\] or \[N V\], got \(5,\)"),
        (
            {"logits": torch.zeros(4, 5)},
            {"labels": torch.zeros(4)},
            LossInputError,
            "input 'labels' .* must have an integer dtype",
        ),
        (
            {"logits": torch.zeros(4, 5)},
            {"labels": torch.zeros(3, dtype=torch.long)},
            LossInputError,
            r"dimension N is 3 in input 'labels' \(targets\['labels'\], shape \(3,\)\) "
            r"but 4 in input 'logits'",
        ),
        (
            {"logits": torch.zeros(4, 5)},
            {"labels": torch.zeros(4, dtype=torch.long), "mask": torch.ones(4)},
            LossInputError,
            "input 'mask' .* must have dtype torch.bool",
        ),
        ([], {}, LossInputError, "tiny_ce: model_output must be a mapping"),
    ],
)
def test_bad_inputs_name_loss_input_key_and_expectation(
    ce: object, model_output: object, targets: object, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        LOSSES["tiny_ce"](model_output, targets)


def test_optional_input_absent_or_none_passes_none() -> None:
    seen: list[object] = []

    @register_loss(inputs=[Input("x", "model_output"), Input("w", "targets", optional=True)])
    def opt(x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        seen.append(w)
        return x.sum()

    LOSSES["opt"]({"x": torch.ones(2)}, {})
    LOSSES["opt"]({"x": torch.ones(2)}, {"w": None})
    assert seen == [None, None]


def test_like_and_key_and_non_tensor_inputs() -> None:
    @register_loss(
        inputs=[
            Input("reconstruction", "model_output", key="predictions"),
            Input("target", "targets", key="predictions", like="reconstruction"),
            Input("groups", "targets", tensor=False, optional=True),
        ]
    )
    def recon(reconstruction: torch.Tensor, target: torch.Tensor, groups: object = None) -> torch.Tensor:
        return (reconstruction - target).square().mean()

    x = torch.randn(3, 2)
    assert LOSSES["recon"]({"predictions": x}, {"predictions": x, "groups": [1, 2]}).item() == 0.0
    with pytest.raises(
        LossInputError,
        match=r"input 'target' \(targets\['predictions'\]\) has shape \(3, 1\) "
        r"but input 'reconstruction' has shape \(3, 2\)",
    ):
        LOSSES["recon"]({"predictions": x}, {"predictions": x[:, :1]})


def test_shape_literal_sizes_wildcards_and_ellipsis() -> None:
    @register_loss(inputs=[Input("x", "model_output", shape="B ... 3"), Input("y", "targets", shape="B _")])
    def shaped(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.sum() + y.sum()

    LOSSES["shaped"]({"x": torch.zeros(2, 3)}, {"y": torch.zeros(2, 7)})
    LOSSES["shaped"]({"x": torch.zeros(2, 5, 4, 3)}, {"y": torch.zeros(2, 1)})
    with pytest.raises(LossInputError, match=r"must have shape \[B \.\.\. 3\]"):
        LOSSES["shaped"]({"x": torch.zeros(2, 4)}, {"y": torch.zeros(2, 1)})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "1x", "source": "targets"}, "invalid input name"),
        ({"name": "x", "source": "batch"}, "source must be 'model_output' or 'targets'"),
        ({"name": "x", "source": "targets", "dtype": "floating"}, "dtype must be one of"),
        ({"name": "x", "source": "targets", "shape": "B ... ..."}, "'...' more than once"),
        ({"name": "x", "source": "targets", "shape": "B T-1"}, "invalid dimension 'T-1'"),
    ],
)
def test_bad_declarations_fail_at_definition(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(LossRegistrationError, match=match):
        Input(**kwargs)  # type: ignore[arg-type]


def test_describe() -> None:
    spec = Input("labels", "targets", shape="B T", dtype="int", optional=True)
    assert spec.describe() == "targets['labels'] int [B T] (optional)"


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ([Input("a", "targets", tensor=False), Input("b", "targets", like="a")], "which is not a tensor"),
    ],
)
def test_like_must_name_a_tensor_input(inputs: list[Input], match: str) -> None:
    def body(a: object, b: torch.Tensor) -> torch.Tensor:
        return b.sum()

    with pytest.raises(LossRegistrationError, match=match):
        register_loss("like_bad", body, inputs=inputs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tensor": False, "dtype": "float"}, "cannot have them"),
        ({"tensor": False, "shape": "B"}, "cannot have them"),
        ({"optional": "no"}, "optional must be True or False"),
    ],
)
def test_contradictory_declarations_fail_at_definition(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(LossRegistrationError, match=match):
        Input("x", "targets", **kwargs)  # type: ignore[arg-type]


def test_an_empty_shape_alternative_is_a_0_dim_tensor() -> None:
    @register_loss(inputs=[Input("x", "model_output", shape="N"), Input("t", "targets", shape="N |")])
    def thresholded(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x - t).relu().sum()

    LOSSES["thresholded"]({"x": torch.ones(3)}, {"t": torch.tensor(0.5)})
    LOSSES["thresholded"]({"x": torch.ones(3)}, {"t": torch.zeros(3)})
    with pytest.raises(LossInputError, match=r"must have shape \[N\] or \[\]"):
        LOSSES["thresholded"]({"x": torch.ones(3)}, {"t": torch.zeros(3, 1)})
