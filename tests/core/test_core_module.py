"""LossModule: a resolved or composite loss as an nn.Module (printed with its
parameters, tensors that move with the model, state_dict, compile)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from losses_core import ConfigError, LossModule, LossParameterError, loss_from_config, resolve_loss
from losses_core.config import load_config

WEIGHTS = torch.tensor([1.0, 2.0, 4.0])


def batch(n: int = 6) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    generator = torch.Generator()
    logits = torch.randn(n, 3, generator=generator, requires_grad=True)
    labels = torch.randint(0, 3, (n,), generator=generator)
    return {"logits": logits}, {"labels": labels}


def scaled_mse(model_output, targets, *, scale: torch.Tensor, offset: float = 0.0):
    """A loss with a tensor parameter that may be trained."""
    return (scale * (model_output["pred"] - targets["target"] - offset) ** 2).mean()


def uses_training(model_output, targets, *, training: torch.Tensor):
    return model_output["pred"].sum() * training


class Classifier(nn.Module):
    def __init__(self, **options) -> None:
        super().__init__()
        self.net = nn.Linear(4, 3)
        self.loss = LossModule("token_ce", class_weights=WEIGHTS.clone(), label_smoothing=0.1, **options)

    def forward(self, x: torch.Tensor, labels: torch.Tensor):
        return self.loss({"logits": self.net(x)}, {"labels": labels})


def test_forward_returns_what_the_resolved_loss_returns():
    outputs, targets = batch()
    module = LossModule("token_ce", class_weights=WEIGHTS, label_smoothing=0.1)
    expected = resolve_loss("token_ce", class_weights=WEIGHTS, label_smoothing=0.1)(outputs, targets)
    result = module(outputs, targets)
    assert set(result) == {"loss", "metrics", "auxiliary"}
    torch.testing.assert_close(result["loss"], expected["loss"])
    assert result["metrics"].keys() == expected["metrics"].keys()
    reference = F.cross_entropy(outputs["logits"], targets["labels"], weight=WEIGHTS, label_smoothing=0.1)
    torch.testing.assert_close(result["loss"], reference)
    # per-call overrides replace bound parameters
    plain = module(outputs, targets, class_weights=None, label_smoothing=0.0)["loss"]
    torch.testing.assert_close(plain, F.cross_entropy(outputs["logits"], targets["labels"]))


def test_print_shows_the_loss_and_its_parameters():
    text = str(Classifier())
    assert "(loss): LossModule(token_ce, class_weights=Tensor(float32[3]), label_smoothing=0.1)" in text
    assert repr(LossModule("mse")) == "LossModule(mse)"
    long = LossModule("token_ce", reduction="sum", keys={"logits": "x" * 1000})
    assert len(repr(long)) < 200  # values through the capped repr


def test_tensor_parameters_are_buffers_that_move_and_convert_with_the_model():
    model = Classifier()
    assert dict(model.named_buffers()) == {"loss.class_weights": model.loss.class_weights}
    model.double()
    weights = model.loss.loss_fn.defaults["class_weights"]
    assert weights is model.loss.class_weights and weights.dtype == torch.float64
    x, labels = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 1])
    loss = model(x, labels)["loss"]
    assert loss.dtype == torch.float64
    expected = F.cross_entropy(model.net(x), labels, weight=WEIGHTS.double(), label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    model.to("meta")  # a device move, without a second device
    assert model.loss.class_weights.device.type == "meta"
    assert model.loss.loss_fn.defaults["class_weights"].device.type == "meta"
    assert "Tensor(float64[3], meta)" in repr(model.loss)


def test_the_callers_resolved_loss_is_copied_not_changed():
    resolved = resolve_loss("token_ce", class_weights=WEIGHTS)
    module = LossModule(resolved).double()
    assert resolved.defaults["class_weights"] is WEIGHTS
    assert module.loss_fn is not resolved and module.class_weights.dtype == torch.float64
    again = LossModule(module)  # a LossModule is copied too
    assert again.loss_fn is not module.loss_fn
    torch.testing.assert_close(again.class_weights, module.class_weights)


def test_state_dict_holds_no_loss_tensor_unless_persistent():
    plain, with_loss = nn.Linear(4, 3), Classifier()
    assert set(with_loss.state_dict()) == {"net.weight", "net.bias"}
    # a checkpoint loads whether or not the model holds a loss
    with_loss.net.load_state_dict(plain.state_dict())
    nn.Sequential(plain).load_state_dict({"0." + k: v for k, v in with_loss.net.state_dict().items()})

    saved = Classifier(persistent=True)
    assert set(saved.state_dict()) == {"net.weight", "net.bias", "loss.class_weights"}
    state = saved.state_dict()
    state["loss.class_weights"] = torch.tensor([3.0, 1.0, 1.0])
    restored = Classifier(persistent=True)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.loss.loss_fn.defaults["class_weights"], torch.tensor([3.0, 1.0, 1.0]))
    swapped = Classifier(persistent=True)
    swapped.load_state_dict(state, assign=True)  # replaces the tensor: the loss follows
    assert swapped.loss.loss_fn.defaults["class_weights"] is state["loss.class_weights"]


def test_a_parameter_default_is_trained():
    scale = nn.Parameter(torch.tensor(2.0))
    module = LossModule(scaled_mse, scale=scale, offset=0.5)
    assert dict(module.named_parameters()) == {"scale": scale}
    assert set(module.state_dict()) == {"scale"}  # parameters are saved, as trained state
    pred, target = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0])
    module({"pred": pred}, {"target": target})["loss"].backward()
    expected = ((pred - target - 0.5) ** 2).mean()
    torch.testing.assert_close(scale.grad, expected)
    assert "scale=Parameter(float32[])" in repr(module)


def test_a_composite_keeps_a_child_per_term():
    config = {
        "terms": [
            {"type": "token_ce", "kwargs": {"label_smoothing": 0.2}},
            {"type": "token_ce", "name": "weighted.ce", "weight": 0.5},
        ]
    }
    module = LossModule(config)
    outputs, targets = batch()
    expected = loss_from_config({"loss": config})(outputs, targets)
    result = module(outputs, targets)
    torch.testing.assert_close(result["loss"], expected["loss"])
    assert (
        result["metrics"].keys()
        == expected["metrics"].keys()
        == {
            "token_ce/loss",
            "token_ce/num_tokens",
            "token_ce/accuracy",
            "weighted.ce/loss",
            "weighted.ce/num_tokens",
            "weighted.ce/accuracy",
        }
    )
    # a label with a dot cannot name a child module: the term's index does
    assert list(module.terms) == ["token_ce", "term1"]
    text = repr(module)
    assert "1.0 * token_ce + 0.5 * weighted.ce" in text
    assert "(token_ce): LossModule(token_ce, label_smoothing=0.2)" in text
    # the same from a whole config, a LossConfig and the built composite
    for source in ({"loss": config}, load_config({"loss": config}), expected_loss(config)):
        torch.testing.assert_close(LossModule(source)(outputs, targets)["loss"], expected["loss"])


def expected_loss(config):
    return loss_from_config({"loss": config})


def test_a_composites_tensors_are_the_terms_buffers():
    weights = WEIGHTS.clone()
    composite = loss_from_config({"loss": {"terms": [{"type": "token_ce"}, {"type": "mse", "weight": 0.1}]}})
    term = composite.terms[0][2]
    term.defaults["class_weights"] = weights  # a tensor bound in code
    module = LossModule(composite, persistent=True)
    assert set(module.state_dict()) == {"terms.token_ce.class_weights"}
    module.double()
    assert module.loss_fn.terms[0][2].defaults["class_weights"].dtype == torch.float64
    assert weights.dtype == torch.float32


def test_parameters_with_a_built_loss_are_refused():
    with pytest.raises(
        LossParameterError, match=r"parameters \['reduction'\] given with a loss that is already"
    ):
        LossModule(resolve_loss("mse"), reduction="sum")
    with pytest.raises(LossParameterError, match="tensor parameter 'training' cannot be an attribute"):
        LossModule(uses_training, training=torch.tensor(1.0))
    with pytest.raises(ConfigError, match="betta"):
        LossModule({"type": "token_ce", "kwargs": {"betta": 1}})


def test_pickle_and_deepcopy_keep_the_loss_and_its_tensors():
    model = Classifier(persistent=True)
    x, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 2, 1])
    expected = model(x, labels)["loss"]
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        torch.testing.assert_close(clone(x, labels)["loss"], expected)
        assert clone.loss.class_weights is not model.loss.class_weights
        assert clone.loss.loss_fn.defaults["class_weights"] is clone.loss.class_weights


def test_a_model_holding_a_loss_module_compiles_to_one_graph():
    model = Classifier()
    x, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 2, 1])
    expected = model(x, labels)["loss"]
    # dynamo's tracing without code generation; fullgraph: the loss call breaks no graph
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, labels)["loss"], expected)
