"""torch.compile(fullgraph=True) through LOSSES, with and without hooks."""

from __future__ import annotations

import torch

from losses_core import LOSSES, hookimpl, resolve_loss, use_hooks

PRED = torch.randn(8, 4, requires_grad=True)
TARGET = torch.randn(8, 4)


def step(pred, target):
    return LOSSES["mse"]({"predictions": pred}, {"target": target})


def test_compile_fullgraph_without_hooks():
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(PRED, TARGET), step(PRED, TARGET))


class Scale:
    """A compile-friendly hook: tensor arithmetic only, no printing or logging."""

    @hookimpl
    def losses_post_loss(self, call):
        call.result = {**call.result, "loss": call.result["loss"] * 2}


def test_compile_fullgraph_with_compile_friendly_hook():
    torch._dynamo.reset()
    with use_hooks(Scale()):
        compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
        out = compiled(PRED, TARGET)
    torch.testing.assert_close(out, 2 * torch.nn.functional.mse_loss(PRED, TARGET))


def test_compile_resolved_loss_dict_result():
    torch._dynamo.reset()
    fn = resolve_loss("token_ce", label_smoothing=0.1)

    def ce(logits, labels):
        return fn({"logits": logits}, {"labels": labels})["loss"]

    logits, labels = torch.randn(6, 5), torch.randint(0, 5, (6,))
    compiled = torch.compile(ce, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(logits, labels), ce(logits, labels))


def test_first_lookup_inside_compiled_function_in_fresh_process():
    """Discovery and the first lookup of a name happen while torch.compile
    traces the function: they must not break the graph (fullgraph=True)."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from losses_core import LOSSES\n"
        "def step(p, t):\n"
        "    return LOSSES['mse']({'predictions': p}, {'target': t})\n"
        "compiled = torch.compile(step, fullgraph=True, backend='aot_eager')\n"
        "p, t = torch.randn(4, 3), torch.randn(4, 3)\n"
        "torch.testing.assert_close(compiled(p, t), torch.nn.functional.mse_loss(p, t))\n"
        "torch.testing.assert_close(compiled(p, t), step(p, t))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"
