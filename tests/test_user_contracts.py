"""The two user guides of the losses ecosystem are its public contract.

One guide teaches registry calls (``LOSSES[name](model_output, targets,
**params)``, ``@register_loss(name)``, ``class:``/``params:`` configs with
``train``/``val`` sections); the other teaches resolved losses
(``resolve_loss(spec, **params)``, dotted paths, ``type:``/``kwargs:``
configs, built-in losses). Their code blocks are read from the guides at test
time and run exactly as written, against losses-core, after

- stand-in modules for the import paths the guides use (``src.losses``,
  ``src.losses.registry`` and ``tensafe.training.losses``) that re-export
  losses-core's ``LOSSES``, ``register_loss`` and ``resolve_loss``;
- torch implementations of the names the examples leave to the reader
  (``model_logits``, ``compute_loss``, ``softmax``, ``cross_entropy``, a
  ``my_package.losses`` module, a model and a data loader...).

The assertions check computed values, gradients, loaded configs and errors,
not merely that the code ran.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml

import losses_core
from losses_core import (
    LOSSES,
    ConfigError,
    LossParameterError,
    LossResultError,
    hookimpl,
    load_config,
    loss_from_config,
    register_loss,
    resolve_loss,
    use_hooks,
)

GUIDES = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"

if not GUIDES.is_dir():
    pytest.skip(
        f"the user guides are not checked out next to the repository (expected {GUIDES}); CI provides them",
        allow_module_level=True,
    )


def _guide(prefix: str) -> Path:
    found = sorted(GUIDES.glob(f"{prefix}_*.txt"))
    assert len(found) == 1, f"expected one guide {prefix}_*.txt in {GUIDES}, found {found}"
    return found[0]


REGISTRY_GUIDE = _guide("000")  # registry calls
RESOLVE_GUIDE = _guide("002")  # resolved losses


# -- reading the guides -------------------------------------------------------------
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a guide, with its first line number."""

    guide: Path
    lang: str
    code: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.guide.name}:{self.line}"

    def compile(self) -> types.CodeType:
        return compile(self.code, self.where, "exec")

    def run(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Execute the block as written in ``namespace``; return the namespace."""
        exec(self.compile(), namespace)
        return namespace

    def load(self) -> Any:
        return yaml.safe_load(self.code)


def blocks(guide: Path, lang: str | None = None) -> list[Block]:
    text = guide.read_text(encoding="utf-8")
    found = [
        Block(guide, m["lang"], m["code"], text[: m.start()].count("\n") + 2) for m in _FENCE.finditer(text)
    ]
    return [b for b in found if lang is None or b.lang == lang]


def block(guide: Path, lang: str, marker: str) -> Block:
    """The one ``lang`` block of ``guide`` that contains ``marker``."""
    found = [b for b in blocks(guide, lang) if marker in b.code]
    assert len(found) == 1, (
        f"expected one {lang} block containing {marker!r} in {guide.name}, found {len(found)}"
    )
    return found[0]


# Every block is identified by a marker; each test below uses its blocks
# through these markers, and test_every_block_of_the_guides_is_exercised
# fails when a guide gains a block no test runs.
REGISTRY_BLOCKS = {
    "python": [
        '@register_loss("MyLoss")',
        "'predictions': torch.Tensor,",
        "'numerical': torch.Tensor | None,",
        '@register_loss("VAELoss")',
        "def my_loss(model_output, targets, beta=1.0, weight=0.5, **kwargs):",
        "return loss.item()",
        "LOSSES = {}",
        'loss_fn = LOSSES["VAELoss"]',
    ],
    "yaml": [
        'class: "MyLoss"',
        "reconstruction_weight: 1.0",
        'class: "SAELoss"',
        "weight: 0.5",
        "val:",
    ],
}
RESOLVE_BLOCKS = {
    "python": [
        'resolve_loss("token_ce")',
        'register_loss("my_loss", my_custom_loss)',
        'resolve_loss("my_package.losses:custom_loss")',
        "class LossReturn(TypedDict, total=False):",
        '@register_loss("entropy_regularized")',
        "class FocalLoss:",
        "def test_custom_loss():",
        "for batch in dataloader:",
    ],
    "yaml": ["type: token_ce"],
}


# -- the stand-in modules, isolation and the reader's names ---------------------------
@pytest.fixture(autouse=True)
def _isolated_registry():
    """Registrations and hook plugins a guide's code makes are undone after each test."""
    from losses_core.testing import isolated_registry

    with isolated_registry():
        yield


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []  # a package, so that submodules import
    vars(module).update(attributes)
    return module


@pytest.fixture(autouse=True)
def guide_imports(monkeypatch):
    """``src.losses``, ``src.losses.registry`` and ``tensafe.training.losses``,
    re-exporting losses-core's public API."""
    registry = _module("src.losses.registry", LOSSES=LOSSES, register_loss=register_loss)
    src_losses = _module("src.losses", LOSSES=LOSSES, register_loss=register_loss, registry=registry)
    src = _module("src", losses=src_losses)
    training_losses = _module(
        "tensafe.training.losses", resolve_loss=resolve_loss, register_loss=register_loss, LOSSES=LOSSES
    )
    training = _module("tensafe.training", losses=training_losses)
    tensafe = _module("tensafe", training=training)
    for module in (src, src_losses, registry, tensafe, training, training_losses):
        monkeypatch.setitem(sys.modules, module.__name__, module)


def _as_float(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.float32)


def _as_long(value: Any) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.long)


def compute_loss(logits: Any, labels: Any) -> torch.Tensor:
    """Mean cross-entropy over the non-ignored positions (lists are accepted)."""
    logits, labels = _as_float(logits), _as_long(labels)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def per_sample_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, reduction="none")


def softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def reader_names(**extra: Any) -> dict[str, Any]:
    """The names the guides leave to the reader, as real torch functions."""
    return {
        "__name__": "user_guide_example",
        "torch": torch,
        "compute_loss": compute_loss,
        "compute_cross_entropy": compute_loss,
        "cross_entropy": per_sample_cross_entropy,
        "softmax": softmax,
        "log": torch.log,
        "exp": torch.exp,
        "sum": torch.sum,
        **extra,
    }


def vae_inputs(batch: int = 5, data: int = 6, latent: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    model_output = {
        "predictions": torch.randn(batch, data, generator=g).requires_grad_(),
        "mu": torch.randn(batch, latent, generator=g).requires_grad_(),
        "logvar": (0.5 * torch.randn(batch, latent, generator=g)).requires_grad_(),
    }
    return model_output, {"predictions": torch.randn(batch, data, generator=g)}


def reference_kl(model_output: dict[str, torch.Tensor]) -> torch.Tensor:
    mu, logvar = model_output["mu"], model_output["logvar"]
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.size(0)


def classification_inputs(batch: int = 6, classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=g).requires_grad_()
    labels = torch.randint(0, classes, (batch,), generator=g)
    return {"logits": logits}, {"labels": labels}


def token_inputs(batch: int = 2, length: int = 7, vocab: int = 11, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, length, vocab, generator=g).requires_grad_()
    labels = torch.randint(0, vocab, (batch, length), generator=g)
    labels[:, -2:] = -100  # padding
    return logits, labels


def assert_scalar_loss(value: Any) -> torch.Tensor:
    assert isinstance(value, torch.Tensor), f"expected a tensor, got {type(value).__name__}"
    assert value.ndim == 0 and value.is_floating_point(), (value.shape, value.dtype)
    assert torch.isfinite(value)
    return value


def assert_resolved_result(result: Any) -> torch.Tensor:
    assert isinstance(result, dict) and set(result) == {"loss", "metrics", "auxiliary"}, result
    return assert_scalar_loss(result["loss"])


# -- the guides themselves ------------------------------------------------------------
@pytest.mark.parametrize(
    ("guide", "markers"),
    [(REGISTRY_GUIDE, REGISTRY_BLOCKS), (RESOLVE_GUIDE, RESOLVE_BLOCKS)],
    ids=["registry", "resolve"],
)
def test_every_block_of_the_guides_is_exercised(guide, markers):
    for lang in ("python", "yaml"):
        for found in blocks(guide, lang):
            used = [m for m in markers[lang] if m in found.code]
            assert len(used) == 1, (
                f"{found.where}: the {lang} block is exercised by {len(used)} tests' markers"
            )
        for marker in markers[lang]:
            block(guide, lang, marker)  # exactly one block per marker
    assert {b.lang for b in blocks(guide)} <= {"python", "yaml"}


@pytest.mark.parametrize("guide", [REGISTRY_GUIDE, RESOLVE_GUIDE], ids=["registry", "resolve"])
def test_every_yaml_block_parses(guide):
    for found in blocks(guide, "yaml"):
        data = found.load()
        assert isinstance(data, dict) and data, found.where


# -- registry calls -------------------------------------------------------------------
def test_interface_template_registers_and_its_placeholder_result_is_rejected():
    ns = block(REGISTRY_GUIDE, "python", '@register_loss("MyLoss")').run(reader_names())
    handle = LOSSES["MyLoss"]
    assert handle.provider == "runtime"
    assert handle.function is ns["my_loss"]  # @register_loss returns the function unchanged
    model_output, targets = vae_inputs()
    assert ns["my_loss"](model_output, targets) is Ellipsis  # the template's `loss = ...`
    with pytest.raises(LossResultError, match="MyLoss"):
        LOSSES["MyLoss"](model_output, targets)


def test_input_format_blocks_describe_mappings_of_tensors():
    model_output = eval(
        block(REGISTRY_GUIDE, "python", "'predictions': torch.Tensor,").code, {"torch": torch}
    )
    targets = eval(
        block(REGISTRY_GUIDE, "python", "'numerical': torch.Tensor | None,").code, {"torch": torch}
    )
    assert model_output == {"predictions": torch.Tensor, "mu": torch.Tensor, "logvar": torch.Tensor}
    assert set(targets) == {"numerical", "categorical", "embeddings"}
    assert all(isinstance(torch.zeros(1), t) and isinstance(None, t) for t in targets.values())


def test_params_from_a_class_config_reach_the_loss_as_keyword_arguments():
    ns = block(REGISTRY_GUIDE, "python", '@register_loss("MyLoss")').run(reader_names())
    data = block(REGISTRY_GUIDE, "yaml", 'class: "MyLoss"').load()
    config = load_config(data)
    (term,) = config.terms
    assert (term.loss, term.params) == ("MyLoss", {"param1": "value1", "param2": "value2"})

    seen: list[dict[str, Any]] = []

    class Capture:
        @hookimpl
        def losses_pre_loss(self, call):
            seen.append(dict(call.params))

    model_output, targets = vae_inputs()
    with use_hooks(Capture()), pytest.raises(LossResultError):  # the template returns `...`
        loss_from_config(data)(model_output, targets)
    assert seen == [{"param1": "value1", "param2": "value2"}]
    assert callable(ns["my_loss"])


def test_vae_example_implementation_equals_the_registered_vae_loss():
    model_output, targets = vae_inputs()
    # "Access in code": the registry call, with the VAELoss that losses-vae provides
    access = block(REGISTRY_GUIDE, "python", 'loss_fn = LOSSES["VAELoss"]')
    registry_ns = access.run(reader_names(model_output=model_output, targets=targets))
    loss = assert_scalar_loss(registry_ns["loss"])
    assert registry_ns["loss_fn"].provider == "losses-vae"

    # "Example Implementation", run as written
    example_ns = block(REGISTRY_GUIDE, "python", '@register_loss("VAELoss")').run(reader_names())
    reference = example_ns["vae_loss"](model_output, targets, beta=1.0)
    torch.testing.assert_close(loss, reference)

    # the same gradients, through .backward() on the registry result
    leaves = [model_output[k] for k in ("predictions", "mu", "logvar")]
    expected_grads = torch.autograd.grad(reference, leaves)
    loss.backward()
    for leaf, expected in zip(leaves, expected_grads, strict=True):
        torch.testing.assert_close(leaf.grad, expected)

    # other parameters, and the example itself called through the registry
    for params in ({"beta": 0.25, "reconstruction_weight": 2.0}, {"beta": 0.0}):
        torch.testing.assert_close(
            LOSSES["VAELoss@losses-vae"](model_output, targets, **params),
            example_ns["vae_loss"](model_output, targets, **params),
        )
    torch.testing.assert_close(LOSSES["VAELoss@runtime"](model_output, targets, beta=1.0), reference)


def test_available_losses_configs_load_and_compute():
    vae = block(REGISTRY_GUIDE, "yaml", "reconstruction_weight: 1.0").load()
    (term,) = load_config(vae).terms
    assert (term.loss, term.params) == ("VAELoss", {"beta": 1.0, "reconstruction_weight": 1.0})
    model_output, targets = vae_inputs(seed=1)
    result = loss_from_config(vae)(model_output, targets)
    recon = F.mse_loss(model_output["predictions"], targets["predictions"])
    torch.testing.assert_close(assert_resolved_result(result), recon + reference_kl(model_output))

    sae = block(REGISTRY_GUIDE, "yaml", 'class: "SAELoss"').load()
    (term,) = load_config(sae).terms
    assert (term.loss, term.params) == ("SAELoss", {"sparsity_weight": 0.01})
    sae_loss = loss_from_config(sae)
    model_output, targets, _ = LOSSES["SAELoss"].entry.example_inputs(batch_size=4)
    with_penalty = assert_resolved_result(sae_loss(model_output, targets))
    without = assert_resolved_result(sae_loss(model_output, targets, sparsity_weight=0.0))
    assert with_penalty > without  # the configured sparsity weight is applied


def test_params_only_config_fragment_and_named_kwargs():
    ns = block(REGISTRY_GUIDE, "python", "def my_loss(model_output, targets, beta=1.0, weight=0.5").run(
        reader_names()
    )
    fragment = block(REGISTRY_GUIDE, "yaml", "weight: 0.5").load()
    assert fragment == {"loss": {"params": {"beta": 1.0, "weight": 0.5}}}
    register_loss("my_loss", ns["my_loss"])
    (term,) = load_config({"loss": {"class": "my_loss", **fragment["loss"]}}).terms
    assert term.params == {"beta": 1.0, "weight": 0.5}
    # named parameters are checked even though the function also takes **kwargs
    with pytest.raises(ConfigError, match="did you mean 'beta'"):
        load_config({"loss": {"class": "my_loss", "params": {"betta": 1.0}}})


def _loss_with_body(body: str) -> types.FunctionType:
    """A loss whose body is ``body``, as written, after computing ``loss``."""
    source = "def scalar_example(model_output, targets, **kwargs):\n"
    source += "    loss = F.mse_loss(model_output['predictions'], targets['predictions'])\n"
    source += textwrap.indent(body, "    ")
    ns: dict[str, Any] = {"F": F}
    exec(compile(source, REGISTRY_GUIDE.name, "exec"), ns)
    return ns["scalar_example"]


def test_return_a_scalar_tensor_not_a_python_float():
    code = block(REGISTRY_GUIDE, "python", "return loss.item()").code
    good, bad = code.split("# Bad")
    assert "return loss " in good and "return loss.item()" in bad
    model_output, targets = vae_inputs()

    register_loss("good_scalar", _loss_with_body(good))
    loss = assert_scalar_loss(LOSSES["good_scalar"](model_output, targets))
    assert loss.requires_grad
    loss.backward()
    assert model_output["predictions"].grad is not None

    register_loss("bad_scalar", _loss_with_body("# Bad" + bad))
    with pytest.raises(LossResultError, match=r"\.item\(\)"):
        LOSSES["bad_scalar"](model_output, targets)
    with pytest.raises(LossResultError, match=r"\.item\(\)"):
        resolve_loss("bad_scalar")(model_output, targets)


def test_the_dict_registry_of_the_guide_and_losses_core_are_interchangeable():
    ns = block(REGISTRY_GUIDE, "python", "LOSSES = {}").run(reader_names())

    def weighted_mse(model_output, targets, weight=1.0):
        return weight * F.mse_loss(model_output["predictions"], targets["predictions"])

    assert ns["register_loss"]("WeightedMSE")(weighted_mse) is weighted_mse
    assert register_loss("WeightedMSE")(weighted_mse) is weighted_mse
    model_output, targets = vae_inputs()
    torch.testing.assert_close(
        LOSSES["WeightedMSE"](model_output, targets, weight=0.5),
        ns["LOSSES"]["WeightedMSE"](model_output, targets, weight=0.5),
    )


def test_train_and_val_sections_use_different_beta(tmp_path):
    config = block(REGISTRY_GUIDE, "yaml", "val:")
    path = tmp_path / "config.yaml"
    path.write_text(config.code, encoding="utf-8")
    train, val = load_config(path, section="train"), load_config(path, section="val")
    assert [(t.loss, t.params) for t in train.terms] == [("VAELoss", {"beta": 1.0})]
    assert [(t.loss, t.params) for t in val.terms] == [("VAELoss", {"beta": 0.5})]

    model_output, targets = vae_inputs(seed=2)
    train_loss = assert_resolved_result(loss_from_config(path, section="train")(model_output, targets))
    val_loss = assert_resolved_result(loss_from_config(path, section="val")(model_output, targets))
    torch.testing.assert_close(train_loss - val_loss, 0.5 * reference_kl(model_output))
    with pytest.raises(ConfigError, match="train"):
        load_config(path)  # two sections and no top-level loss: choose one


# -- resolved losses ------------------------------------------------------------------
def test_builtin_token_ce_by_name(capsys):
    logits, labels = token_inputs()
    ns = block(RESOLVE_GUIDE, "python", 'resolve_loss("token_ce")').run(
        reader_names(model_logits=logits, input_labels=labels)
    )
    loss = assert_resolved_result(ns["result"])
    expected = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, expected)
    printed = capsys.readouterr().out
    assert printed.startswith("Loss: ")
    assert math.isclose(float(printed.removeprefix("Loss: ")), loss.item(), rel_tol=1e-6)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_custom_callable_and_registered_function():
    ns = block(RESOLVE_GUIDE, "python", 'register_loss("my_loss", my_custom_loss)').run(reader_names())
    outputs, batch = classification_inputs()
    expected = F.cross_entropy(outputs["logits"], batch["labels"])

    torch.testing.assert_close(assert_resolved_result(ns["loss_fn"](outputs, batch)), expected)  # option 2
    torch.testing.assert_close(
        assert_resolved_result(resolve_loss(ns["my_custom_loss"])(outputs, batch)), expected
    )  # option 1
    assert LOSSES["my_loss"].provider == "runtime"
    # a registry call gives the 0-dim loss even though the function returns a mapping
    torch.testing.assert_close(assert_scalar_loss(LOSSES["my_loss"](outputs, batch)), expected)


MY_PACKAGE_LOSSES = '''\
"""Losses of a user package, resolved through dotted paths."""

import torch.nn.functional as F


def custom_loss(outputs, batch, **kwargs):
    logits, labels = outputs["logits"], batch["labels"]
    return {"loss": F.cross_entropy(logits, labels)}


def weighted_loss(outputs, batch, weight: float = 1.0, ignore_index: int = -100):
    ce = F.cross_entropy(outputs["logits"], batch["labels"], ignore_index=ignore_index)
    return {"loss": weight * ce, "metrics": {"ce": ce.detach()}}
'''


@pytest.fixture
def my_package(tmp_path, monkeypatch):
    package = tmp_path / "my_package"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "losses.py").write_text(MY_PACKAGE_LOSSES, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m == "my_package" or m.startswith("my_package.")]:
        del sys.modules[name]


def test_losses_from_an_external_module_by_dotted_path(my_package):
    ns = block(RESOLVE_GUIDE, "python", 'resolve_loss("my_package.losses:custom_loss")').run(reader_names())
    outputs, batch = classification_inputs()
    batch["labels"][0] = -100
    ce = F.cross_entropy(outputs["logits"], batch["labels"], ignore_index=-100)

    weighted = ns["loss_fn"]
    assert weighted.defaults == {"weight": 0.5, "ignore_index": -100}
    result = weighted(outputs, batch)
    torch.testing.assert_close(assert_resolved_result(result), 0.5 * ce)
    torch.testing.assert_close(result["metrics"]["ce"], ce)
    torch.testing.assert_close(weighted(outputs, batch, weight=2.0)["loss"], 2.0 * ce)  # per-call override

    custom = resolve_loss("my_package.losses:custom_loss")
    torch.testing.assert_close(assert_resolved_result(custom(outputs, batch)), ce)
    with pytest.raises(LossParameterError, match="did you mean 'weight'"):
        resolve_loss("my_package.losses:weighted_loss", wieght=0.5)


def test_type_kwargs_config_for_token_ce():
    data = block(RESOLVE_GUIDE, "yaml", "type: token_ce").load()
    (term,) = load_config(data).terms
    assert term.loss == "token_ce"
    assert term.params == {"ignore_index": -100, "label_smoothing": 0.1, "reduction": "mean"}
    logits, labels = token_inputs(seed=3)
    loss = assert_resolved_result(loss_from_config(data)({"logits": logits}, {"labels": labels}))
    expected = F.cross_entropy(
        logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100, label_smoothing=0.1
    )
    torch.testing.assert_close(loss, expected)


def builtin_table() -> dict[str, list[str]]:
    """``{name: [common args]}`` from the guide's table of built-in losses."""
    text = RESOLVE_GUIDE.read_text(encoding="utf-8")
    section = text.split("## Built-in Losses", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+?) \|$", section, re.M)
    return {name: re.findall(r"`(\w+)`", args) for name, args in rows}


COMMON_ARG_VALUES = {
    "ignore_index": -100,
    "label_smoothing": 0.1,
    "margin": 0.5,
    "temperature": 0.1,
    "reduction": "sum",
}


def test_the_builtin_table_lists_four_losses():
    assert builtin_table() == {
        "token_ce": ["ignore_index", "label_smoothing"],
        "margin_ranking": ["margin"],
        "contrastive": ["margin", "temperature"],
        "mse": ["reduction"],
    }


@pytest.mark.parametrize("name", sorted(builtin_table()))
def test_builtin_losses_come_with_losses_core_and_accept_their_common_args(name):
    handle = LOSSES[name]
    assert handle.provider == "losses-core"
    args = builtin_table()[name]
    assert set(args) <= set(inspect.signature(handle.function).parameters), args
    model_output, targets, _ = handle.entry.example_inputs(batch_size=4)
    default = assert_resolved_result(resolve_loss(name)(model_output, targets))
    params = {arg: COMMON_ARG_VALUES[arg] for arg in args}
    configured = resolve_loss(name, **params)
    assert configured.defaults == params
    assert_resolved_result(configured(model_output, targets))
    loaded = loss_from_config({"loss": {"type": name, "kwargs": params}})
    torch.testing.assert_close(
        loaded(model_output, targets)["loss"], configured(model_output, targets)["loss"]
    )
    for arg in args:
        assert_resolved_result(resolve_loss(name, **{arg: COMMON_ARG_VALUES[arg]})(model_output, targets))
    assert default.requires_grad


def test_builtin_losses_need_no_plugin():
    names = sorted(builtin_table())
    script = (
        "import json\nfrom losses_core import LOSSES, list_plugins\n"
        f"print(json.dumps({{n: LOSSES[n].provider for n in {names!r}}}))\n"
        "print(json.dumps(sorted(p.name for p in list_plugins() if p.status == 'loaded')))\n"
    )
    env = {**os.environ, "LOSSES_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    providers, loaded = (yaml.safe_load(line) for line in done.stdout.splitlines()[-2:])
    assert providers == dict.fromkeys(names, "losses-core")
    assert loaded == []


def test_the_loss_protocol_template():
    ns = block(RESOLVE_GUIDE, "python", "class LossReturn(TypedDict, total=False):").run(reader_names())
    assert set(ns["LossReturn"].__annotations__) == set(losses_core.LossReturn.__annotations__)
    assert ns["LossReturn"].__required_keys__ == frozenset()
    resolved = resolve_loss(ns["my_loss"])  # the signature is a valid loss
    outputs, batch = classification_inputs()
    with pytest.raises(LossResultError):
        resolved(outputs, batch)  # its body is a placeholder (returns None)


def test_entropy_regularized_example():
    ns = block(RESOLVE_GUIDE, "python", '@register_loss("entropy_regularized")').run(reader_names())
    outputs, batch = classification_inputs(seed=4)
    logits = outputs["logits"]
    probs = torch.softmax(logits, -1)
    ce, entropy = F.cross_entropy(logits, batch["labels"]), -(probs * probs.log()).sum()

    result = resolve_loss("entropy_regularized")(outputs, batch)
    torch.testing.assert_close(assert_resolved_result(result), ce - 0.1 * entropy)
    assert set(result["metrics"]) == {"ce_loss", "entropy"}
    torch.testing.assert_close(result["metrics"]["entropy"], entropy)
    torch.testing.assert_close(
        resolve_loss("entropy_regularized", entropy_weight=0.5)(outputs, batch)["loss"], ce - 0.5 * entropy
    )
    registry_loss = assert_scalar_loss(LOSSES["entropy_regularized"](outputs, batch))
    torch.testing.assert_close(registry_loss, ce - 0.1 * entropy)
    registry_loss.backward()
    assert logits.grad is not None
    assert LOSSES["entropy_regularized"].function is ns["entropy_regularized_loss"]

    loaded = loss_from_config({"loss": {"type": "entropy_regularized", "kwargs": {"entropy_weight": 0.2}}})
    torch.testing.assert_close(loaded(outputs, batch)["loss"], ce - 0.2 * entropy)
    with pytest.raises(ConfigError, match="did you mean 'entropy_weight'"):
        load_config({"loss": {"type": "entropy_regularized", "kwargs": {"entropy_wieght": 0.2}}})


def test_class_based_focal_loss_example():
    ns = block(RESOLVE_GUIDE, "python", "class FocalLoss:").run(reader_names())
    outputs, batch = classification_inputs(seed=5)
    ce = F.cross_entropy(outputs["logits"], batch["labels"], reduction="none")
    expected = (0.25 * (1 - torch.exp(-ce)) ** 2.0 * ce).mean()

    assert LOSSES["focal_loss@runtime"].function.gamma == 2.0
    result = resolve_loss("focal_loss")(outputs, batch)
    torch.testing.assert_close(assert_resolved_result(result), expected)
    torch.testing.assert_close(assert_scalar_loss(LOSSES["focal_loss"](outputs, batch)), expected)
    instance = ns["FocalLoss"](gamma=0.0, alpha=1.0)  # no focusing: plain cross-entropy
    torch.testing.assert_close(resolve_loss(instance)(outputs, batch)["loss"], ce.mean())


def test_testing_your_custom_loss_example():
    ns = block(RESOLVE_GUIDE, "python", 'register_loss("my_loss", my_custom_loss)').run(reader_names())
    # the test looks the function up under its own name
    register_loss("my_custom_loss", ns["my_custom_loss"])
    test_ns = block(RESOLVE_GUIDE, "python", "def test_custom_loss():").run(reader_names())
    test_ns["test_custom_loss"]()  # passes as written

    outputs = {"logits": [[0.1, 0.9], [0.8, 0.2]]}
    batch = {"labels": [1, 0]}
    loss = assert_resolved_result(resolve_loss("my_custom_loss")(outputs, batch))
    # row 1: -log softmax([0.1, 0.9])[1]; row 2: -log softmax([0.8, 0.2])[0]
    expected = (math.log1p(math.exp(-0.8)) + math.log1p(math.exp(-0.6))) / 2
    torch.testing.assert_close(loss, torch.tensor(expected))


class TinyLanguageModel(torch.nn.Module):
    def __init__(self, vocab: int = 13, width: int = 8) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.embed(input_ids))}


def test_integration_with_training():
    config_data = block(RESOLVE_GUIDE, "yaml", "type: token_ce").load()
    config = types.SimpleNamespace(loss=types.SimpleNamespace(**config_data["loss"]))
    torch.manual_seed(0)
    model = TinyLanguageModel()
    g = torch.Generator().manual_seed(6)
    dataloader = []
    for _ in range(3):
        input_ids = torch.randint(0, 13, (4, 9), generator=g)
        labels = torch.randint(0, 13, (4, 9), generator=g)
        labels[:, :2] = -100  # prompt tokens, not predicted
        dataloader.append({"input_ids": input_ids, "labels": labels})
    logged: list[tuple[str, Any]] = []

    ns = block(RESOLVE_GUIDE, "python", "for batch in dataloader:").run(
        reader_names(
            config=config, dataloader=dataloader, model=model, log_metric=lambda n, v: logged.append((n, v))
        )
    )

    last = dataloader[-1]
    expected = F.cross_entropy(
        model(last["input_ids"])["logits"].reshape(-1, 13),
        last["labels"].reshape(-1),
        ignore_index=-100,
        label_smoothing=0.1,
    )
    torch.testing.assert_close(ns["loss"], expected)
    for parameter in model.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
    metric_names = set(ns["loss_result"]["metrics"])
    assert metric_names, "token_ce reports metrics"
    assert [name for name, _ in logged] == [name for _ in dataloader for name in ns["loss_result"]["metrics"]]
