"""The built-in hook plugins: NonFiniteGuard and MetricsCollector (keys, means,
host transfers). The reduction across processes is tested with two gloo
processes in test_core_builtin_hooks_distributed.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from losses_core import (
    LOSSES,
    MetricsCollector,
    NonFiniteGuard,
    NonFiniteLossError,
    loss_from_config,
    register_loss,
    resolve_loss,
    use_hooks,
)
from losses_core._registry import make_registrar

MO = {"predictions": torch.tensor([1.0, 2.0, 3.0])}
T = {"target": torch.tensor([1.0, 2.0, 4.0])}
TRANSFERS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__")
"""The tensor methods that copy a value to the host."""


def two_recon_terms() -> object:
    """Two ``mse`` terms reading different predictions: ``recon_a`` from ``a``, ``recon_b`` from ``b``."""
    return loss_from_config(
        {
            "loss": {
                "terms": [
                    {"type": "mse", "name": "recon_a", "keys": {"predictions": "a"}},
                    {"type": "mse", "name": "recon_b", "keys": {"predictions": "b"}, "weight": 0.5},
                ]
            }
        }
    )


@pytest.fixture
def transfers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records the name of every tensor-to-host method called while the test runs."""
    seen: list[str] = []
    for method in TRANSFERS:
        original = getattr(torch.Tensor, method)

        def counting(
            self: torch.Tensor, *args: object, _name: str = method, _original: object = original
        ) -> object:
            seen.append(_name)
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, method, counting)
    yield seen


# -- NonFiniteGuard -----------------------------------------------------------------
def test_non_finite_guard_names_the_loss_its_provider_and_params():
    with use_hooks(NonFiniteGuard()):
        with pytest.raises(
            NonFiniteLossError,
            match=r"^loss 'mse' \(losses-core\) produced a non-finite loss: nan "
            r"with params \{'reduction': 'sum'\}",
        ):
            LOSSES["mse"](
                {"predictions": torch.tensor([float("nan"), 1.0])},
                {"target": torch.zeros(2)},
                reduction="sum",
            )
        LOSSES["mse"](MO, T)  # a finite loss passes


def test_non_finite_guard_names_the_composite_term():
    composite = two_recon_terms()
    inputs = {"a": torch.tensor([1.0]), "b": torch.tensor([float("inf")])}
    with use_hooks(NonFiniteGuard()), pytest.raises(NonFiniteLossError) as info:
        composite(inputs, {"target": torch.zeros(1)})
    assert str(info.value).startswith(
        "loss 'mse' (losses-core; term 'recon_b' of a composite loss) produced a non-finite loss: inf"
    )


def test_non_finite_guard_checks_metrics_when_asked_and_caps_the_values_it_shows():
    def with_bad_metric(mo, t):
        return {"loss": mo["predictions"].sum(), "metrics": {"m": torch.full((10_000,), float("inf"))}}

    register_loss("bad_metric", with_bad_metric)
    with use_hooks(NonFiniteGuard()):
        LOSSES["bad_metric"](MO, T)  # metrics are not checked by default
    with use_hooks(NonFiniteGuard(check_metrics=True)), pytest.raises(NonFiniteLossError) as info:
        LOSSES["bad_metric"](MO, T)
    message = str(info.value)
    assert message.startswith("loss 'bad_metric' (runtime) produced a non-finite metrics['m']: [inf, inf")
    assert len(message) < 400  # 10,000 values would print 50,000 characters


# -- MetricsCollector: keys -------------------------------------------------------------
def test_terms_of_a_composite_are_keyed_by_label_not_by_loss_name():
    composite = two_recon_terms()
    collector = MetricsCollector()
    with use_hooks(collector):
        # recon_a = (1 - 0)^2 = 1, recon_b = (9 - 0)^2 = 81: both are 'mse'
        composite({"a": torch.tensor([1.0]), "b": torch.tensor([9.0])}, {"target": torch.tensor([0.0])})
    assert collector.summary() == {"recon_a/loss": 1.0, "recon_b/loss": 81.0}  # not {'mse': 41.0}


def test_keys_and_means_are_those_of_the_composite_result():
    composite = loss_from_config(
        {
            "loss": {
                "terms": [
                    {"type": "token_ce", "name": "lm"},
                    {"type": "token_ce", "params": {"label_smoothing": 0.1}},
                ]
            }
        }
    )
    collector = MetricsCollector()
    results = []
    with use_hooks(collector):
        for rows in (2, 3):
            logits = torch.randn(rows, 4, 5)
            results.append(composite({"logits": logits}, {"labels": torch.randint(0, 5, (rows, 4))}))
    summary = collector.summary()
    assert list(summary) == list(results[0]["metrics"])  # the composite's own keys, in its order
    assert set(summary) >= {"lm/loss", "lm/num_tokens", "token_ce/loss", "token_ce/num_tokens"}
    for key, mean in summary.items():
        expected = sum(float(result["metrics"][key]) for result in results) / len(results)
        assert mean == pytest.approx(expected), key
    assert summary["lm/num_tokens"] == (2 * 4 + 3 * 4) / 2


def test_a_loss_outside_a_composite_is_keyed_by_its_registered_name():
    collector = MetricsCollector()
    logits, labels = torch.randn(8, 4), torch.randint(0, 4, (8,))
    with use_hooks(collector):
        a = LOSSES["mse"](MO, T)
        b = LOSSES["mse"](MO, {"target": torch.ones(3)})
        ce = resolve_loss("token_ce")({"logits": logits}, {"labels": labels})
    summary = collector.summary()
    assert summary["mse/loss"] == pytest.approx((a.item() + b.item()) / 2)
    assert summary["token_ce/loss"] == pytest.approx(ce["loss"].item())
    assert summary["token_ce/num_tokens"] == 8
    assert set(summary) == {"mse/loss", *(f"token_ce/{k}" for k in ["loss", *ce["metrics"]])}
    collector.reset()
    assert collector.summary() == {}


def test_a_name_from_two_providers_is_qualified_with_the_provider():
    make_registrar("losses-alpha", "1.0")("dup_loss", lambda mo, t: mo["predictions"].sum())
    make_registrar("losses-beta", "2.0")("dup_loss", lambda mo, t: mo["predictions"].sum() * 10)
    collector = MetricsCollector()
    with use_hooks(collector):
        LOSSES["dup_loss@losses-alpha"](MO, T)
    assert collector.summary() == {"dup_loss/loss": 6.0}  # unambiguous among what was collected
    with use_hooks(collector):
        LOSSES["dup_loss@losses-beta"](MO, T)
    assert collector.summary() == {"dup_loss@losses-alpha/loss": 6.0, "dup_loss@losses-beta/loss": 60.0}


# -- MetricsCollector: values -------------------------------------------------------------
def test_each_key_is_averaged_over_the_calls_that_reported_it():
    calls = iter(range(3))

    def sometimes(mo, t):
        i = next(calls)
        metrics = {"number": i * 2, "always": torch.tensor(float(i)), "vector": torch.ones(2), "text": "skip"}
        if i == 1:
            metrics["rare"] = torch.tensor(7.0)
        return {"loss": mo["predictions"].sum() + i, "metrics": metrics}

    register_loss("sometimes", sometimes)
    collector = MetricsCollector()
    with use_hooks(collector):
        for _ in range(3):
            LOSSES["sometimes"](MO, T)
    assert collector.summary() == {
        "sometimes/loss": (6 + 7 + 8) / 3,
        "sometimes/number": (0 + 2 + 4) / 3,
        "sometimes/always": (0 + 1 + 2) / 3,
        "sometimes/rare": 7.0,  # one call reported it: not 7 / 3
    }


def test_low_precision_values_are_summed_in_float64():
    register_loss("bf16_one", lambda mo, t: torch.ones((), dtype=torch.bfloat16))
    collector = MetricsCollector()
    with use_hooks(collector):
        for _ in range(300):
            LOSSES["bf16_one"](MO, T)
    # a bfloat16 sum stops at 256 (256 + 1 rounds to 256): its mean would be 256 / 300
    assert collector.summary() == {"bf16_one/loss": 1.0}


def test_collecting_reads_nothing_and_summary_reads_every_value_in_one_transfer(transfers):
    def many_metrics(mo, t):
        value = mo["predictions"].sum()
        return {"loss": value, "metrics": {f"m{i}": value * i for i in range(20)}}

    register_loss("many_metrics", many_metrics)
    collector = MetricsCollector()
    with use_hooks(collector):
        for _ in range(3):
            LOSSES["many_metrics"](MO, T)
    assert transfers == []
    summary = collector.summary()
    assert transfers == ["tolist"]  # one per key would read 21 values
    assert summary == {"many_metrics/loss": 6.0, **{f"many_metrics/m{i}": 6.0 * i for i in range(20)}}


def test_reduce_across_ranks_without_a_process_group_is_the_local_summary():
    collector = MetricsCollector(reduce_across_ranks=True)
    with use_hooks(collector):
        LOSSES["mse"](MO, T)
    assert collector.summary() == {"mse/loss": pytest.approx(1 / 3)}
    assert repr(collector) == "MetricsCollector(keys=1, reduce_across_ranks=True)"
