"""The LLM examples run end to end (``examples/llm_loop.py``,
``examples/llm_trainer.py``), the guide page shows them as they are, and the
CUDA benchmark skips cleanly without a GPU.

The examples need transformers (and the Trainer one accelerate); without
them these tests are skipped.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BENCHMARKS = ROOT / "benchmarks"
LOG_2 = math.log(2.0)


def _import(folder: Path, name: str):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def toy():
    pytest.importorskip("transformers")
    return _import(EXAMPLES, "llm_toy")


def _changed(model: torch.nn.Module, initial: torch.nn.Module) -> dict[str, bool]:
    """Per parameter, whether training moved it from its initial value."""
    before = dict(initial.named_parameters())
    return {name: not torch.equal(p, before[name]) for name, p in model.named_parameters()}


def test_toy_rows_follow_the_hugging_face_label_convention(toy):
    g = torch.Generator()
    batch = toy.sft_batch(6, g)
    labels, ids, mask = batch["labels"], batch["input_ids"], batch["attention_mask"].bool()
    assert (labels[:, : toy.PROMPT] == toy.IGNORE).all()
    scored = labels != toy.IGNORE
    assert torch.equal(labels[scored], ids[scored])  # labels are the input ids, not shifted
    assert not (scored & ~mask).any()  # padding is never scored
    # each completion token is the previous one plus the prompt's step
    step = (ids[:, 2] - ids[:, 1]) % (toy.VOCAB - 1)
    nxt = (ids[:, 2:-1] - 1 + step[:, None]) % (toy.VOCAB - 1) + 1
    assert torch.equal(ids[:, 3:][scored[:, 3:]], nxt[scored[:, 3:]])

    pairs = toy.preference_batch(4, g)
    chosen, rejected = pairs["input_ids"][:4], pairs["input_ids"][4:]
    assert torch.equal(chosen[:, : toy.PROMPT], rejected[:, : toy.PROMPT])
    assert torch.equal(pairs["attention_mask"][:4], pairs["attention_mask"][4:])
    assert (chosen[:, toy.PROMPT] != rejected[:, toy.PROMPT]).all()


def test_plain_loop_sft_then_dpo(toy):
    loop = _import(EXAMPLES, "llm_loop")
    from losses_llm import global_num_items

    out = loop.main(["--sft-steps", "15", "--accumulation", "2", "--dpo-steps", "6"])
    sft, dpo = out["sft"], out["dpo"]
    assert len(sft) == 15 and len(dpo) == 6
    assert all(math.isfinite(h["loss"]) for h in sft + dpo)
    # the SFT loss starts near log(V) (a random model) and falls
    assert abs(sft[0]["loss"] - math.log(toy.VOCAB)) < 0.5
    assert sum(h["loss"] for h in sft[-3:]) < sum(h["loss"] for h in sft[:3]) - 0.5
    # the step's count is the target tokens of its two micro-batches: 8 rows each
    g = torch.Generator()
    first = [toy.sft_batch(8, g)["labels"] for _ in range(2)]
    assert sft[0]["num_items"] == float(global_num_items(first))
    # the policy starts equal to the reference: every margin is 0 and the sigmoid loss log 2
    assert dpo[0]["loss"] == pytest.approx(LOG_2, abs=1e-6)
    assert dpo[0]["margin"] == pytest.approx(0.0, abs=1e-6)
    assert any(abs(h["margin"]) > 1e-4 for h in dpo[1:])  # the policy moved away from the reference
    # gradients reached every parameter
    changed = _changed(out["model"], toy.tiny_causal_lm())
    assert all(changed.values()), [name for name, moved in changed.items() if not moved]


@pytest.fixture(scope="module")
def trainer_runs(toy):
    pytest.importorskip("accelerate")
    trainer = _import(EXAMPLES, "llm_trainer")
    return {
        source: trainer.main(["--source", source, "--steps", "12", "--accumulation", "2"])
        for source in ("hidden_states", "logits")
    }


@pytest.mark.parametrize("source", ["hidden_states", "logits"])
def test_trainer_passes_num_items_in_batch_through(trainer_runs, source):
    calls = trainer_runs[source]["calls"]
    assert len(calls) == 24  # 12 steps of 2 micro-batches
    steps = [calls[i : i + 2] for i in range(0, len(calls), 2)]
    for micro in steps:
        # the Trainer's count for the step is the loss's target tokens over its micro-batches
        assert micro[0]["num_items_in_batch"] == micro[1]["num_items_in_batch"]
        assert micro[0]["num_items_in_batch"] == micro[0]["num_tokens"] + micro[1]["num_tokens"]
    step_losses = [
        sum(c["loss"] for c in micro) for micro in steps
    ]  # each call is a share of the step's mean
    assert all(math.isfinite(value) for value in step_losses)
    assert sum(step_losses[-3:]) < sum(step_losses[:3]) - 0.3
    changed = _changed(trainer_runs[source]["model"], _import(EXAMPLES, "llm_toy").tiny_causal_lm())
    assert all(changed.values()), [name for name, moved in changed.items() if not moved]


def test_trainer_hidden_states_and_logits_agree_on_the_first_step(trainer_runs):
    # same initial model, same first batch: the chunked path equals the logits path
    chunked = trainer_runs["hidden_states"]["calls"][:2]
    logits = trainer_runs["logits"]["calls"][:2]
    for a, b in zip(chunked, logits, strict=True):
        assert a["num_items_in_batch"] == b["num_items_in_batch"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


def test_the_config_loads_both_losses():
    from losses_core import load_config

    sft = load_config(EXAMPLES / "llm.yaml", section="sft")
    dpo = load_config(EXAMPLES / "llm.yaml", section="dpo")
    assert [t.loss for t in sft.terms] == ["causal_lm"]
    assert [t.loss for t in dpo.terms] == ["dpo"]
    assert sft.build().name == "causal_lm" and dpo.build().name == "dpo"


def test_the_guide_page_includes_the_examples_as_they_are():
    text = (ROOT / "docs" / "llm-training.md").read_text(encoding="utf-8")
    included = re.findall(r'^--8<-- "([^"]+)"$', text, re.M)
    for name in ("examples/llm_loop.py", "examples/llm_trainer.py", "examples/llm.yaml"):
        assert name in included
    assert all((ROOT / path).is_file() for path in included)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the path taken without a CUDA device")
def test_cuda_benchmark_skips_without_a_device(capsys):
    bench = _import(BENCHMARKS, "bench_llm_cuda")
    assert bench.main([]) == []
    assert "skipped: no CUDA device" in capsys.readouterr().out
