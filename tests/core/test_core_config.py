"""YAML config: both styles (class/params, type/kwargs), keys, sections, composites, validation errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import pytest
import torch
import torch.nn.functional as F

from losses_core import ConfigError, Input, Range, load_config, loss_from_config, register_loss

LOGITS = torch.randn(6, 4)
LABELS = torch.tensor([0, 1, 2, 3, 0, -100])
PRED = {"predictions": torch.randn(3, 2)}
TARGET = {"target": torch.randn(3, 2)}


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def vae_like():
    def vae_loss(model_output, targets, beta=1.0, reconstruction_weight=1.0, **kwargs):
        return model_output["predictions"].sum() * beta + reconstruction_weight

    register_loss("VAELike", vae_loss)
    return vae_loss


def test_seed_002_style(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          type: token_ce
          kwargs:
            ignore_index: -100
            label_smoothing: 0.1
            reduction: mean
        """,
    )
    fn = loss_from_config(path)
    torch.testing.assert_close(
        fn({"logits": LOGITS}, {"labels": LABELS})["loss"],
        F.cross_entropy(LOGITS, LABELS, label_smoothing=0.1),
    )


def test_seed_000_train_val_sections_with_different_params(tmp_path, vae_like):
    path = write(
        tmp_path,
        """
        train:
          loss:
            class: "VAELike"
            params:
              beta: 1.0
        val:
          loss:
            class: "VAELike"
            params:
              beta: 0.5
        """,
    )
    train = loss_from_config(path, section="train")
    val = loss_from_config(path, section="val")
    assert train.defaults == {"beta": 1.0} and val.defaults == {"beta": 0.5}
    total = PRED["predictions"].sum()
    torch.testing.assert_close(train(PRED, {})["loss"], total + 1.0)
    torch.testing.assert_close(val(PRED, {})["loss"], total * 0.5 + 1.0)


def test_bare_name_and_mapping_source():
    fn = loss_from_config({"loss": "mse"})
    torch.testing.assert_close(fn(PRED, TARGET)["loss"], F.mse_loss(PRED["predictions"], TARGET["target"]))


def test_composite_weighted_sum_reports_each_term(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          terms:
            - {type: mse, weight: 2.0}
            - {class: mse, params: {reduction: sum}, weight: 0.5, name: mse_sum}
        """,
    )
    config = load_config(path)
    assert config.composite and len(config.terms) == 2
    out = config.build()(PRED, TARGET)
    mean = F.mse_loss(PRED["predictions"], TARGET["target"])
    total = F.mse_loss(PRED["predictions"], TARGET["target"], reduction="sum")
    torch.testing.assert_close(out["loss"], 2.0 * mean + 0.5 * total)
    torch.testing.assert_close(out["metrics"]["mse/loss"], mean)
    torch.testing.assert_close(out["metrics"]["mse_sum/loss"], total)


def test_composite_passes_call_kwargs_to_terms_that_accept_them():
    fn = loss_from_config({"loss": {"terms": [{"type": "mse"}, {"type": "token_ce", "weight": 0.0}]}})
    out = fn({**PRED, "logits": LOGITS}, {**TARGET, "labels": LABELS}, reduction="sum")
    torch.testing.assert_close(
        out["metrics"]["mse/loss"], F.mse_loss(PRED["predictions"], TARGET["target"], reduction="sum")
    )
    with pytest.raises(TypeError, match="nonsense") as info:
        fn({**PRED, "logits": LOGITS}, {**TARGET, "labels": LABELS}, nonsense=1)
    # every term's parameters are listed, not only the first term's
    assert "ignore_index" in str(info.value) and "reduction" in str(info.value)


@pytest.mark.parametrize(
    ("text", "section", "match"),
    [
        (
            "loss: {class: VAELik}\n",
            None,
            r"config.yaml: loss.class: unknown loss 'VAELik'.*Did you mean: 'VAELike'",
        ),
        (
            "loss: {class: VAELike, params: {betta: 1.0}}\n",
            None,
            r"config.yaml: loss.params: .*'betta' \(did you mean 'beta'\?\)",
        ),
        ("loss: {class: VAELike, params: {beta: fast}}\n", None, r"loss.params: .*'beta' expects a number"),
        ("train: {loss: mse}\n", "val", r"config.yaml: missing section 'val'; sections with a loss: train"),
        ("train: {loss: mse}\n", None, r"no top-level 'loss'; choose a section \(train\)"),
        ("loss: {class: mse, type: mse}\n", None, "exactly one of 'class' or 'type'"),
        ("loss: {class: mse, params: [1]}\n", None, r"loss.params: expected a mapping"),
        ("loss: {class: mse, weigth: 2}\n", None, r"unexpected key\(s\) \['weigth'\]"),
        ("loss: {terms: []}\n", None, "non-empty list"),
        (
            "loss: {terms: [{type: mse, weight: heavy}]}\n",
            None,
            r"loss.terms\[0\].weight: expected a finite number, got .heavy.",
        ),
        ("loss: [\n", None, "invalid YAML"),
        ("- 1\n", None, "expected a mapping at the top level"),
    ],
)
def test_validation_errors_name_file_and_key_path(tmp_path, vae_like, text, section, match):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match):
        load_config(path, section=section)


def test_non_strict_allows_unknown_parameters(tmp_path, vae_like):
    path = write(tmp_path, "loss: {class: VAELike, params: {extra: 1}}\n")
    with pytest.raises(ConfigError):
        load_config(path)
    assert load_config(path, strict=False).terms[0].params == {"extra": 1}


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read loss config"):
        load_config("/nonexistent/losses.yaml")


def test_dotted_path_can_be_disabled(tmp_path, monkeypatch):
    path = write(tmp_path, "loss: {type: 'torch.nn.functional:mse_loss'}\n")
    with pytest.raises(ConfigError, match="imports are disabled"):
        load_config(path, allow_import=False)
    monkeypatch.setenv("LOSSES_CONFIG_ALLOW_IMPORT", "0")
    with pytest.raises(ConfigError, match="LOSSES_CONFIG_ALLOW_IMPORT"):
        load_config(path)
    monkeypatch.setenv("LOSSES_CONFIG_ALLOW_IMPORT", "1")
    assert load_config(path).terms[0].loss == "torch.nn.functional:mse_loss"


def test_yaml_not_imported_until_a_file_is_loaded():
    code = "import sys, losses_core; losses_core.LOSSES['mse']; print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def structured():
    def check_schedule(value: Any) -> None:
        unknown = set(value) - {"warmup_steps"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)}; expected warmup_steps")

    @register_loss(
        inputs=[Input("predictions", "model_output"), Input("target", "targets")],
        validators={"schedule": check_schedule},
    )
    def structured_loss(
        predictions: torch.Tensor,
        target: torch.Tensor,
        *,
        dataset_size: Annotated[int, Range(ge=1)],
        weights: Sequence[float] = (1.0,),
        schedule: Mapping[str, int] | None = None,
    ) -> torch.Tensor:
        return (predictions - target).square().mean() * sum(weights) / dataset_size

    return structured_loss


def test_check_finds_what_only_the_first_step_would_have(tmp_path, structured):
    from losses_core.config import validate_config

    path = write(
        tmp_path,
        """
        loss:
          class: structured_loss
          params:
            weights: 0.5
            schedule: {warmup_step: 10}
          keys: {prediction: recon}
        """,
    )
    problems = "\n".join(validate_config(path))
    assert "missing required parameter(s) 'dataset_size'" in problems
    assert "parameter 'weights' expects Sequence[float], got float 0.5" in problems
    assert "parameter 'schedule' is invalid: unknown key(s) ['warmup_step']" in problems
    assert "names no declared input: 'prediction'" in problems
    lines = problems.splitlines()
    assert sum(line.startswith(f"{path}: loss.params: ") for line in lines) == 3
    keys_problem = next(line for line in lines if "names no declared input" in line)
    assert keys_problem.startswith(f"{path}: loss.keys: ")


def test_keys_section_maps_inputs(tmp_path):
    path = write(
        tmp_path,
        """
        loss:
          type: mse
          kwargs: {reduction: sum}
          keys: {predictions: recon, target: x}
        """,
    )
    recon, x = torch.randn(3, 2), torch.randn(3, 2)
    out = loss_from_config(path)({"recon": recon}, {"x": x})
    torch.testing.assert_close(out["loss"], F.mse_loss(recon, x, reduction="sum"))


def test_non_strict_config_builds_and_passes_undeclared_names_to_kwargs():
    seen = {}

    def open_loss(model_output, targets, *, beta: float = 1.0, **kwargs):
        seen.update(kwargs)
        return model_output["predictions"].sum() * beta

    register_loss("open_loss", open_loss)
    node = {"loss": {"class": "open_loss", "params": {"beta": 2.0, "extra": 1}}}
    with pytest.raises(ConfigError, match="'extra'"):
        load_config(node)
    loss = loss_from_config(node, strict=False)
    assert loss(PRED, {})["loss"].item() == pytest.approx(2 * PRED["predictions"].sum().item())
    assert seen == {"extra": 1}


def test_composite_labels_never_collide():
    node = {"loss": {"terms": [{"type": "mse", "name": "mse_1"}, {"type": "mse"}, {"type": "mse"}]}}
    labels = [label for label, _, _ in loss_from_config(node).terms]
    assert labels == ["mse_1", "mse", "mse_2"]


def test_keys_given_twice_is_a_problem():
    from losses_core.config import validate_config

    node = {"loss": {"type": "mse", "kwargs": {"keys": {"target": "y"}}, "keys": {"target": "x"}}}
    assert any("given both beside and inside 'kwargs'" in p for p in validate_config(node))


# -- files that cannot hurt ------------------------------------------------------
def laughs(levels: int) -> str:
    """A YAML "billion laughs": level 0 is a list of ten strings and each
    level a list of ten aliases of the one below, so the last level stands
    for 10 ** (levels + 1) strings."""
    lines = ['l0: &l0 ["ha","ha","ha","ha","ha","ha","ha","ha","ha","ha"]']
    lines += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nloss: {{type: mse, keys: *l{levels}}}\n"


def test_an_alias_bomb_is_refused_before_anything_walks_it(tmp_path):
    path = write(tmp_path, laughs(8))  # 10^9 strings
    assert path.stat().st_size < 600
    # level k (line k + 1) holds 10^(k + 1) strings: level 5 is the first
    # beyond MAX_NODES = 10^6, and the walk stops there
    with pytest.raises(ConfigError, match=r"line 6: with its aliases expanded, this value holds more than "):
        load_config(path)


def test_the_expanded_size_counts_every_alias(tmp_path, monkeypatch):
    import losses_core._yaml as bounded

    # the top mapping, 'a', the list and its 2 items, 'b', the alias expanded
    # (3), 'loss', 'mse': 1 + 1 + 3 + 1 + 3 + 1 + 1 = 11 values
    path = write(tmp_path, "a: &a [1, 2]\nb: *a\nloss: mse\n")
    monkeypatch.setattr(bounded, "MAX_NODES", 11)
    assert load_config(path).terms[0].loss == "mse"
    monkeypatch.setattr(bounded, "MAX_NODES", 10)
    with pytest.raises(ConfigError, match="more than 10 values"):
        load_config(path)


def test_deep_nesting_is_refused_without_recursion_error(tmp_path):
    path = write(tmp_path, "loss: {type: mse, params: {reduction: " + "[" * 5000 + "]" * 5000 + "}}\n")
    with pytest.raises(ConfigError, match="line 1: nesting deeper than 100 levels"):
        load_config(path)


@pytest.mark.parametrize(("depth", "ok"), [(5, True), (6, False)])
def test_the_depth_limit_is_exact(tmp_path, monkeypatch, depth, ok):
    import losses_core._yaml as bounded

    monkeypatch.setattr(bounded, "MAX_DEPTH", 5)
    # the top mapping is level 1, each list one more
    path = write(tmp_path, "loss: mse\nx: " + "[" * (depth - 1) + "]" * (depth - 1) + "\n")
    if ok:
        load_config(path)
    else:
        with pytest.raises(ConfigError, match="nesting deeper than 5 levels"):
            load_config(path)


def test_depth_through_aliases_and_recursive_aliases(tmp_path):
    chain = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 150)) + "loss: mse\n"
    with pytest.raises(ConfigError, match="with its aliases expanded, this value nests deeper than 100"):
        load_config(write(tmp_path, chain))
    with pytest.raises(ConfigError, match="an alias refers to a value that contains it"):
        load_config(write(tmp_path, "a: &a [1, *a]\nloss: mse\n"))


def test_a_large_file_is_refused_unread(tmp_path, monkeypatch):
    import losses_core._yaml as bounded

    monkeypatch.setattr(bounded, "MAX_BYTES", 64)
    text = "loss: mse\n# " + "x" * 51 + "\n"
    assert len(text.encode()) == 64
    assert load_config(write(tmp_path, text)).terms[0].loss == "mse"
    with pytest.raises(ConfigError, match="larger than 64 bytes"):
        load_config(write(tmp_path, text + "\n"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("loss: mse\nloss: token_ce\n", r"line 2: duplicate key 'loss' \(first given at line 1\)"),
        (
            "loss:\n  type: mse\n  kwargs: {reduction: sum, reduction: mean}\n",
            r"line 3: duplicate key 'reduction' \(first given at line 3\)",
        ),
        ("train: {loss: mse}\nval: {loss: mse}\ntrain: {loss: token_ce}\n", "duplicate key 'train'"),
        ("loss: {terms: [{type: mse, weight: 1, weight: 2}]}\n", "duplicate key 'weight'"),
        ("1: a\n1.0: b\nloss: mse\n", r"duplicate key 1\.0 \(first given at line 1\)"),
    ],
)
def test_a_key_given_twice_is_an_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_a_merged_key_may_be_overridden(tmp_path):
    path = write(
        tmp_path, "base: &base {type: mse, kwargs: {reduction: sum}}\nloss:\n  <<: *base\n  kwargs: {}\n"
    )
    assert load_config(path).terms[0].params == {}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("loss: mse # caf\xe9\n".encode("latin-1"), r"line 1: not UTF-8 text \(byte 0xe9 at offset 15\)"),
        (b"loss: mse\n\xff\xfe", r"line 2: not UTF-8 text \(byte 0xff at offset 10\)"),
        (
            b"loss: {type: mse, params: {reduction: " + b"9" * 5000 + b"}}\n",
            "invalid YAML value: Exceeds the",
        ),
        (b"loss: mse\nwhen: 2024-13-45\n", "invalid YAML value: month must be in 1..12"),
        (b"loss: !!python/name:os.system mse\n", "invalid YAML at line 1, column 7: .*python/name:os.system"),
        (b"loss: mse\n---\nloss: mse\n", "invalid YAML at line 2, column 1: expected a single document"),
        # a control character: "loss: mse\n" and 'x: "' come before it
        (b'loss: mse\nx: "\x01"\n', r"line 2: invalid YAML: character U\+0001 \(offset 14\) cannot appear"),
    ],
)
def test_unusable_files_are_config_errors(tmp_path, data, match):
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=match):
        load_config(path)
    from losses_core.config import validate_config

    (problem,) = validate_config(path)
    assert problem.startswith(f"{path}: ") and "\n" not in problem


def test_the_command_line_reports_an_unusable_file_without_a_traceback(tmp_path, capsys, monkeypatch):
    from losses_core._cli import main
    from losses_core._plugins import LOADER

    monkeypatch.setattr(LOADER, "replay_output", LOADER.replay_output)
    path = tmp_path / "latin.yaml"
    path.write_bytes("loss: mse # caf\xe9\n".encode("latin-1"))
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err == ""
    assert main(["check", str(path), "--json"]) == 1
    out = capsys.readouterr()
    (problem,) = json.loads(out.out)["problems"]
    assert problem.startswith(f"{path}: line 1: not UTF-8 text") and out.err == ""


@pytest.mark.parametrize("weight", [".nan", ".inf", "-.inf", "1e999", "1" + "0" * 400])
def test_a_weight_must_be_finite(weight):
    text = f"loss: {{terms: [{{type: mse, weight: {weight}}}, {{type: mse}}]}}\n"
    import yaml

    with pytest.raises(ConfigError, match=r"loss.terms\[0\].weight: expected a finite number, got "):
        load_config(yaml.safe_load(text))


def test_finite_weights_of_any_sign_are_kept():
    config = load_config({"loss": {"terms": [{"type": "mse", "weight": -0.5}, {"type": "mse", "weight": 0}]}})
    assert [t.weight for t in config.terms] == [-0.5, 0.0]


def nested_billion() -> list[Any]:
    """A list standing for 10^9 items, as an alias bomb gives it (shared)."""
    value: list[Any] = ["ha"] * 10
    for _ in range(8):
        value = [value] * 10
    return value


def test_messages_never_expand_a_huge_value():
    # a mapping source is not bounded by the file limits; its messages still are
    huge, long = nested_billion(), "z" * 100_000
    node = {
        "loss": {
            "terms": [
                {"type": "mse", "kwargs": {"reduction": long}, "keys": huge, "weight": huge, "name": huge},
                {"type": "token_ce", "kwargs": {"label_smoothing": 10**4000, "reduction": huge}},
                {"type": long, "unknown": 1},
            ]
        }
    }
    from losses_core.config import validate_config

    problems = validate_config(node)
    # term 0: reduction, keys, weight, name; term 1: label_smoothing,
    # reduction; term 2: the unexpected key, the unknown name
    assert len(problems) == 8, problems
    for problem in problems:
        assert len(problem) < 400, problem[:400]
    text = "\n".join(problems)
    assert "expected a mapping of input names to keys, got [[[" in text
    assert "parameter 'reduction' must be one of 'mean', 'sum', 'none', got str 'zzz" in text
    assert "parameter 'label_smoothing' must be <= 1, got 1000" in text


def test_losses_check_parses_the_file_once(tmp_path, capsys, monkeypatch):
    import losses_core._yaml as bounded
    from losses_core._cli import main
    from losses_core._plugins import LOADER

    monkeypatch.setattr(LOADER, "replay_output", LOADER.replay_output)
    parse = bounded._parse
    calls: list[str] = []

    def counted(text: str, where: str) -> Any:
        calls.append(where)
        return parse(text, where)

    monkeypatch.setattr(bounded, "_parse", counted)
    path = write(tmp_path, "train:\n  loss: {type: mse}\nval:\n  loss: {type: token_ce}\n")
    for args in (
        ["check", str(path)],
        ["check", str(path), "--json"],
        ["check", str(path), "--section", "val"],
    ):
        calls.clear()
        assert main(args) == 0
        assert calls == [str(path)], args
    out = capsys.readouterr().out
    assert "train: ResolvedLoss(mse" in out and "val: ResolvedLoss(token_ce" in out
    calls.clear()
    load_config(path, section="train")
    assert calls == [str(path)]
