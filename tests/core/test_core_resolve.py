"""resolve_loss: names, callables, dotted paths, bound defaults, pickling."""

from __future__ import annotations

import pickle
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from losses_core import LossParameterError, UnknownLossError, register_loss, resolve_loss

LOGITS = torch.randn(6, 5)
LABELS = torch.tensor([0, 1, 2, 3, 4, -100])


def test_builtin_by_name_matches_torch():
    result = resolve_loss("token_ce")({"logits": LOGITS}, {"labels": LABELS})
    torch.testing.assert_close(result["loss"], F.cross_entropy(LOGITS, LABELS))
    assert set(result) == {"loss", "metrics", "auxiliary"}


def test_defaults_are_bound_and_overridable():
    fn = resolve_loss("token_ce", label_smoothing=0.1)
    torch.testing.assert_close(
        fn({"logits": LOGITS}, {"labels": LABELS})["loss"],
        F.cross_entropy(LOGITS, LABELS, label_smoothing=0.1),
    )
    torch.testing.assert_close(
        fn({"logits": LOGITS}, {"labels": LABELS}, label_smoothing=0.0)["loss"],
        F.cross_entropy(LOGITS, LABELS),
    )


def custom_loss(outputs, batch, **kwargs):
    return {"loss": outputs["logits"].sum() * 0 + kwargs.get("weight", 1.0)}


def weighted_loss(outputs, batch, weight=1.0, ignore_index=-100):
    return outputs["logits"].float().mean() * weight


def test_callable_is_accepted_directly():
    fn = resolve_loss(custom_loss, weight=3.0)
    assert fn({"logits": LOGITS}, {})["loss"].item() == 3.0


def test_dotted_path_imports_module(tmp_path, monkeypatch):
    package = tmp_path / "my_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "losses.py").write_text(
        textwrap.dedent(
            """
            def weighted_loss(outputs, batch, weight=1.0, ignore_index=-100):
                return {"loss": outputs["logits"].mean() * weight}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = resolve_loss("my_package.losses:weighted_loss", weight=0.5, ignore_index=-100)
    torch.testing.assert_close(fn({"logits": LOGITS}, {})["loss"], LOGITS.mean() * 0.5)
    sys.modules.pop("my_package.losses", None)
    sys.modules.pop("my_package", None)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_such_module_xyz:loss", "cannot import module"),
        ("losses_core:no_such_attr", "has no attribute"),
        (":attr", "invalid dotted path"),
        ("no_such_loss_anywhere", "unknown loss"),
    ],
)
def test_bad_specs_raise_unknown(spec, match):
    with pytest.raises(UnknownLossError, match=match):
        resolve_loss(spec)


def test_strict_parameter_check_catches_typo_despite_kwargs():
    def seed_style(model_output, targets, beta=1.0, reconstruction_weight=1.0, **kwargs):
        return model_output["x"].sum() * beta

    register_loss("SeedStyle", seed_style)
    with pytest.raises(LossParameterError, match=r"'betta' \(did you mean 'beta'\?\)"):
        resolve_loss("SeedStyle", betta=0.5)


def test_kwargs_only_loss_accepts_any_parameter():
    fn = resolve_loss(custom_loss, anything=1)
    assert fn.defaults == {"anything": 1}


def test_parameter_type_checked_against_default():
    with pytest.raises(LossParameterError, match=r"label_smoothing.*expects a number"):
        resolve_loss("token_ce", label_smoothing="0.1")
    with pytest.raises(LossParameterError, match="expects an int"):
        resolve_loss("token_ce", ignore_index=1.5)


def test_resolved_loss_pickles_by_name_and_by_reference():
    by_name = pickle.loads(pickle.dumps(resolve_loss("token_ce", label_smoothing=0.2)))
    torch.testing.assert_close(
        by_name({"logits": LOGITS}, {"labels": LABELS})["loss"],
        F.cross_entropy(LOGITS, LABELS, label_smoothing=0.2),
    )
    by_ref = pickle.loads(pickle.dumps(resolve_loss(weighted_loss, weight=2.0)))
    torch.testing.assert_close(by_ref({"logits": LOGITS}, {})["loss"], LOGITS.mean() * 2.0)


def test_registered_handle_pickles(tmp_path):
    from losses_core import LOSSES

    handle = LOSSES["mse"]
    assert pickle.loads(pickle.dumps(handle)) is handle


def _spawn_worker(payload: bytes) -> float:
    fn = pickle.loads(payload)
    logits = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10
    return float(fn({"logits": logits}, {"labels": torch.tensor([0, 1, 2])})["loss"])


def test_resolved_loss_works_in_spawned_process():
    import multiprocessing as mp

    fn = resolve_loss("token_ce", label_smoothing=0.1)
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        value = pool.apply(_spawn_worker, (pickle.dumps(fn),))
    logits = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10
    expected = F.cross_entropy(logits, torch.tensor([0, 1, 2]), label_smoothing=0.1)
    assert value == pytest.approx(expected.item(), rel=1e-6)


def test_the_repr_caps_each_parameter_value():
    from losses_core import resolve_loss

    resolved = resolve_loss("token_ce", class_weights=[1.0] * 200_000, ignore_index=-1)
    text = repr(resolved)
    assert text.startswith("ResolvedLoss(token_ce@losses-core, class_weights=[1.0, 1.0")
    assert "ignore_index=-1" in text
    assert len(text) < 250
