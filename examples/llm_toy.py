"""A toy language and a tiny, randomly initialised Llama for the LLM examples
(``llm_trainer.py``, ``llm_loop.py``); nothing is downloaded.

A sentence is an arithmetic progression modulo ``VOCAB - 1`` over the tokens
``1 .. VOCAB - 1``: the prompt ``[BOS, a, a + k]`` fixes the start ``a`` and
the step ``k`` (1, 2 or 3), the completion continues ``a + 2k, a + 3k, ...``
for 8 to 20 tokens, and ``PAD`` fills the rest of the row. A causal LM learns
it in a few dozen steps: its loss falls from about ``log(VOCAB)``.

Labels follow the Hugging Face convention: they equal the input ids (the loss
shifts them), with ``-100`` at the prompt and the padding.
"""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB = 64
BOS = PAD = 0
PROMPT = 3
MAX_COMPLETION = 20
LENGTH = PROMPT + MAX_COMPLETION + 1
IGNORE = -100


def tiny_causal_lm() -> LlamaForCausalLM:
    """A 2-layer Llama (hidden size 64, 4 heads, untied LM head) built from its
    config with random weights, the same on every call: the global generator is
    first reset to the state a new generator starts from."""
    torch.set_rng_state(torch.Generator().get_state())
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=LENGTH,
        tie_word_embeddings=False,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=None,
    )
    return LlamaForCausalLM(config)


def _progression(start: torch.Tensor, step: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, n]`` tokens ``start + i * step`` modulo ``VOCAB - 1``, in ``1 .. VOCAB - 1``."""
    i = torch.arange(n)
    return (start[:, None] - 1 + i[None, :] * step[:, None]) % (VOCAB - 1) + 1


def _rows(progressions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rows ``[BOS, progression...]`` cut at ``PROMPT + length``, padded to ``LENGTH``."""
    batch = progressions.shape[0]
    ids = torch.cat([torch.full((batch, 1), BOS), progressions], dim=1)[:, :LENGTH]
    keep = torch.arange(LENGTH)[None, :] < (PROMPT + lengths)[:, None]
    input_ids = torch.where(keep, ids, torch.full_like(ids, PAD))
    labels = torch.where(keep, ids, torch.full_like(ids, IGNORE))
    labels[:, :PROMPT] = IGNORE  # the prompt is given, not learnt
    return {"input_ids": input_ids, "attention_mask": keep.long(), "labels": labels}


def sft_batch(batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels``, each ``[batch, LENGTH]``."""
    start = torch.randint(1, VOCAB, (batch,), generator=generator)
    step = torch.randint(1, 4, (batch,), generator=generator)
    lengths = torch.randint(8, MAX_COMPLETION + 1, (batch,), generator=generator)
    return _rows(_progression(start, step, LENGTH - 1), lengths)


def preference_batch(pairs: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``2 * pairs`` rows, the chosen first: the same prompt, then the
    completion with the prompt's step (chosen) or with another step
    (rejected), of the same length."""
    start = torch.randint(1, VOCAB, (pairs,), generator=generator)
    step = torch.randint(1, 4, (pairs,), generator=generator)
    wrong = (step + torch.randint(1, 3, (pairs,), generator=generator) - 1) % 3 + 1
    lengths = torch.randint(8, MAX_COMPLETION + 1, (pairs,), generator=generator)
    chosen = _progression(start, step, LENGTH - 1)
    rejected = chosen.clone()
    last = chosen[:, PROMPT - 2]  # the prompt's a + k
    tail = LENGTH - 1 - (PROMPT - 1)
    rejected[:, PROMPT - 1 :] = _progression((last - 1 + wrong) % (VOCAB - 1) + 1, wrong, tail)
    rows = _rows(torch.cat([chosen, rejected]), torch.cat([lengths, lengths]))
    return rows
