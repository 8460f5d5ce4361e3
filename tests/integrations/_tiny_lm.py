"""A tiny, randomly initialised Llama and token batches for the integration
tests (nothing is downloaded): 2 layers, hidden size 32, a vocabulary of 64."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB = 64
LENGTH = 12


def tiny_llama() -> LlamaForCausalLM:
    """The same random weights on every call: the global generator is first
    reset to the state a new generator starts from."""
    torch.set_rng_state(torch.Generator().get_state())
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=LENGTH,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def token_rows(rows: int, *, first_label_scored: bool = True) -> list[dict[str, torch.Tensor]]:
    """``rows`` examples: random ``input_ids``, ``labels`` equal to them
    (unshifted, the Hugging Face convention) with ``-100`` from a random
    length on, so that batches hold different numbers of target tokens;
    the first label is scored unless ``first_label_scored=False``."""
    generator = torch.Generator()
    ids = torch.randint(0, VOCAB, (rows, LENGTH), generator=generator)
    lengths = torch.randint(3, LENGTH + 1, (rows,), generator=generator)
    labels = torch.where(torch.arange(LENGTH)[None, :] < lengths[:, None], ids, torch.full_like(ids, -100))
    if not first_label_scored:
        labels[:, 0] = -100
    return [{"input_ids": ids[i], "labels": labels[i]} for i in range(rows)]
