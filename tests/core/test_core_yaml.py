"""plain_data, and config data that is not a dict or a list where core takes
one: OmegaConf's DictConfig and ListConfig (Hydra) are a MutableMapping and a
MutableSequence, not dict and list subclasses; the stand-ins here are the
same, so these tests need no OmegaConf (the last ones use it where it is
installed; tests/integrations runs them with Hydra)."""

from __future__ import annotations

import types
from collections.abc import Iterator, MutableMapping, MutableSequence
from typing import Any

import pytest
import torch

from losses_core import ConfigError, LossModule, load_config, loss_from_config, resolve_loss
from losses_core._yaml import plain_data


class Node(MutableMapping):
    """A mapping that is not a dict, as OmegaConf's DictConfig."""

    def __init__(self, data: dict[Any, Any]) -> None:
        self._data = data

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Items(MutableSequence):
    """A sequence that is not a list, as OmegaConf's ListConfig."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self._items[index] = value

    def __delitem__(self, index: Any) -> None:
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def insert(self, index: int, value: Any) -> None:
        self._items.insert(index, value)


def wrap(value: Any) -> Any:
    """``value`` with every dict a Node and every list an Items."""
    if isinstance(value, dict):
        return Node({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return Items([wrap(v) for v in value])
    return value


COMPOSITE = {
    "loss": {
        "terms": [
            {
                "type": "token_ce",
                "kwargs": {"class_weights": [1.0, 2.0, 3.0]},
                "keys": {"logits": "lm_logits"},
            },
            {"type": "mse", "weight": 0.5, "name": "aux"},
        ]
    }
}


def test_plain_data_gives_dicts_and_lists_at_any_depth():
    data = wrap({"a": [1, {"b": [2.0, "x"]}], "c": (3, Items([4])), "d": "text"})
    assert plain_data(data) == {"a": [1, {"b": [2.0, "x"]}], "c": (3, [4]), "d": "text"}
    assert type(plain_data(data)["a"][1]) is dict
    proxy = types.MappingProxyType({"r": range(3)})
    assert plain_data(proxy) == {"r": [0, 1, 2]}


def test_plain_data_returns_plain_values_as_they_are():
    tensor, text, raw = torch.ones(2), "abc", b"abc"
    plain = {"t": tensor, "l": [1, (2, 3)], "s": text, "b": raw}
    assert plain_data(plain) is plain
    assert plain_data(plain)["t"] is tensor
    assert plain_data(text) is text and plain_data(raw) is raw and plain_data(None) is None


def test_plain_data_visits_a_shared_container_once_and_stops_at_a_cycle():
    shared: Any = Items(["ha"] * 10)
    for _ in range(8):
        shared = Items([shared] * 10)  # stands for 10^9 strings
    converted = plain_data({"x": shared})["x"]
    assert converted[0] is converted[9]  # one conversion, shared as before
    assert converted[0][0][0][0][0][0][0][0] == ["ha"] * 10
    cycle: list[Any] = []
    cycle.append(cycle)
    assert plain_data(cycle) is cycle


def test_a_composite_config_given_as_a_mapping_like_dictconfig_builds():
    # before plain_data: "loss.terms: expected a non-empty list of loss terms"
    loss = loss_from_config(wrap(COMPOSITE))
    assert repr(loss) == "CompositeLoss(1.0 * token_ce, 0.5 * aux)"
    config = load_config(wrap(COMPOSITE))
    assert config.terms[0].params == {"class_weights": [1.0, 2.0, 3.0], "keys": {"logits": "lm_logits"}}
    assert type(config.terms[0].params["class_weights"]) is list
    assert load_config({"loss": {"terms": tuple(COMPOSITE["loss"]["terms"])}}).composite


def test_a_sectioned_config_like_hydras_reads_its_section():
    data = wrap({"trainer": {"steps": 3}, "train": {"loss": {"type": "token_ce", "kwargs": {"z_loss": 0.1}}}})
    assert load_config(data, section="train").terms[0].params == {"z_loss": 0.1}


def test_a_value_the_container_cannot_read_is_a_config_error():
    class Missing(Node):
        def __getitem__(self, key: Any) -> Any:
            if key == "kwargs":
                raise ValueError("Missing mandatory value: loss.kwargs")
            return super().__getitem__(key)

    with pytest.raises(
        ConfigError, match=r"<config>: loss: cannot read the config: ValueError: Missing mandatory"
    ):
        load_config({"loss": Missing({"type": "token_ce", "kwargs": "???"})})


def test_resolve_loss_binds_mappings_and_sequences_as_dicts_and_lists():
    loss = resolve_loss("token_ce", class_weights=Items([1.0, 2.0, 3.0]), keys=Node({"logits": "lm_logits"}))
    assert loss.defaults == {"class_weights": [1.0, 2.0, 3.0], "keys": {"logits": "lm_logits"}}
    assert type(loss.defaults["keys"]) is dict
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(loss({"lm_logits": logits}, {"labels": labels})["loss"], expected)
    # per call, keys= may be any mapping too
    direct = resolve_loss("token_ce")(
        {"lm_logits": logits}, {"labels": labels}, keys=Node({"logits": "lm_logits"})
    )
    torch.testing.assert_close(direct["loss"], torch.nn.functional.cross_entropy(logits, labels))


def test_a_loss_module_takes_a_mapping_like_loss_node():
    module = LossModule(wrap(COMPOSITE["loss"]))
    assert list(module.terms) == ["token_ce", "aux"]


def test_real_omegaconf_containers():
    omegaconf = pytest.importorskip("omegaconf")
    config = omegaconf.OmegaConf.create(COMPOSITE)
    assert repr(loss_from_config(config)) == "CompositeLoss(1.0 * token_ce, 0.5 * aux)"
    bound = resolve_loss("token_ce", class_weights=config.loss.terms[0].kwargs.class_weights)
    assert type(bound.defaults["class_weights"]) is list
    missing = omegaconf.OmegaConf.create({"loss": {"type": "token_ce", "kwargs": {"z_loss": "???"}}})
    with pytest.raises(ConfigError, match="cannot read the config: MissingMandatoryValue"):
        load_config(missing)
