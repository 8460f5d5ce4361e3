"""Inputs and checks shared by the tests of the per-token losses (``z_loss``,
``entropy_regularized_ce``, ``dft``): a small causal-LM batch given both as
hidden states with the LM head and as the logits they make, and the check that
the chunked path equals the logits path."""

from __future__ import annotations

from typing import Any

import torch

from losses_core import resolve_loss

B, T, H, V = 2, 7, 5, 13
N = B * T
"""Tokens of the batch: the rows the chunked path splits."""


def lm_batch(dtype: torch.dtype = torch.float64, *, bias: bool = True, seed: int = 0) -> dict[str, Any]:
    """Leaves ``hidden`` ``[B, T, H]``, ``weight`` ``[V, H]``, ``bias`` ``[V]``
    (or ``None``), and ``labels`` ``[B, T]`` (input ids) with a 3-token prompt
    masked in the first sequence and 1 in the second."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(B, T, H, generator=g, dtype=dtype).requires_grad_(True)
    weight = torch.randn(V, H, generator=g, dtype=dtype).requires_grad_(True)
    b = torch.randn(V, generator=g, dtype=dtype).requires_grad_(True) if bias else None
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[0, :3] = -100
    labels[1, :1] = -100
    return {"hidden": hidden, "weight": weight, "bias": b, "labels": labels}


def logits_of(batch: dict[str, Any]) -> torch.Tensor:
    """The batch's logits ``hidden @ weight.T + bias``, inside the graph."""
    logits = batch["hidden"] @ batch["weight"].t()
    return logits if batch["bias"] is None else logits + batch["bias"]


def leaves(batch: dict[str, Any]) -> list[torch.Tensor]:
    return [t for t in (batch["hidden"], batch["weight"], batch["bias"]) if t is not None]


def hidden_output(batch: dict[str, Any]) -> dict[str, Any]:
    """``model_output`` of the chunked path."""
    out = {"hidden_states": batch["hidden"], "lm_head_weight": batch["weight"]}
    if batch["bias"] is not None:
        out["lm_head_bias"] = batch["bias"]
    return out


def assert_chunked_equals_logits(
    name: str, chunk_size: int, *, bias: bool, atol: float = 1e-12, **params: Any
) -> None:
    """The loss through the chunked path, with ``chunk_size`` tokens per chunk,
    equals the loss on the materialised logits: value, metrics and the
    gradients of the hidden states, the weight and the bias (float64)."""
    batch = lm_batch(bias=bias)
    targets = {"labels": batch["labels"]}
    fn = resolve_loss(name, **params)
    expected = fn({"logits": logits_of(batch)}, targets)
    expected_grads = torch.autograd.grad(expected["loss"], leaves(batch))
    got = resolve_loss(name, chunk_size=chunk_size, **params)(hidden_output(batch), targets)
    grads = torch.autograd.grad(got["loss"], leaves(batch))
    torch.testing.assert_close(got["loss"], expected["loss"], rtol=0, atol=atol)
    assert got["metrics"].keys() == expected["metrics"].keys()
    for key, value in expected["metrics"].items():
        torch.testing.assert_close(got["metrics"][key], value, rtol=0, atol=atol)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=atol)


def assert_compiled_chunked_value(name: str, **params: Any) -> None:
    """``torch.compile`` (without ``fullgraph``: the chunk loop graph-breaks by
    design) of a step calling the loss on the chunked path gives the eager value
    and gradients (float32)."""
    batch = lm_batch(torch.float32)
    targets = {"labels": batch["labels"]}
    fn = resolve_loss(name, chunk_size=3, **params)

    def step(out: dict[str, Any], tg: dict[str, Any]) -> torch.Tensor:
        return fn(out, tg)["loss"] * 2.0

    expected = step(hidden_output(batch), targets)
    expected_grads = torch.autograd.grad(expected, leaves(batch))
    torch._dynamo.reset()
    got = torch.compile(step, backend="aot_eager")(hidden_output(batch), targets)
    grads = torch.autograd.grad(got, leaves(batch))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-6)


def assert_all_ignored_is_connected_zero(name: str, **params: Any) -> None:
    """Labels that are all ``ignore_index`` give 0, connected to the graph,
    with zero (never NaN) gradients, on both paths."""
    batch = lm_batch()
    targets = {"labels": torch.full((B, T), -100)}
    for out in ({"logits": logits_of(batch)}, hidden_output(batch)):
        result = resolve_loss(name, **params)(out, targets)
        assert result["loss"].requires_grad
        assert float(result["loss"].detach()) == 0.0
        for grad in torch.autograd.grad(result["loss"], leaves(batch)):
            assert bool((grad == 0).all())
        assert int(result["metrics"]["num_tokens"]) == 0
        for value in result["metrics"].values():
            assert bool(torch.isfinite(value.float()).all())
