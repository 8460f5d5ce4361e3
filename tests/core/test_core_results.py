"""losses_core.results: the result builder and the finiteness check."""

from __future__ import annotations

import pytest
import torch

from losses_core import NonFiniteLossError
from losses_core.results import check_finite, loss_result


def test_loss_result_detaches_metrics_and_keeps_the_loss_graph() -> None:
    x = torch.ones(3, requires_grad=True)
    loss = (x * 2).sum()
    result = loss_result(loss, metrics={"half": loss / 2, "count": 3}, auxiliary={"per_item": x * 2})
    assert list(result) == ["loss", "metrics", "auxiliary"]
    assert result["loss"] is loss and loss.requires_grad
    assert not result["metrics"]["half"].requires_grad and result["metrics"]["count"] == 3
    assert result["auxiliary"]["per_item"].requires_grad  # auxiliary is kept as given
    assert loss_result(loss)["metrics"] == {} and loss_result(loss)["auxiliary"] == {}


def test_check_finite_names_the_loss_and_what() -> None:
    ok = torch.tensor([1.0, 2.0])
    assert check_finite("mine", ok) is ok
    with pytest.raises(NonFiniteLossError, match=r"loss 'mine' produced a non-finite loss: nan"):
        check_finite("mine", torch.tensor(float("nan")))
    with pytest.raises(NonFiniteLossError, match=r"non-finite logits: 1 NaN and 1 infinite of 3 elements"):
        check_finite("mine", torch.tensor([1.0, float("nan"), float("inf")]), "logits")
    assert check_finite("mine", torch.tensor([1, 2])).dtype == torch.int64  # integers are always finite


def test_check_finite_stays_in_a_compiled_graph() -> None:
    def step(x: torch.Tensor) -> torch.Tensor:
        return check_finite("mine", x * 2)

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(torch.ones(2)), torch.full((2,), 2.0))
