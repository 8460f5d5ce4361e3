"""losses-llm: the losses of LLM fine-tuning for the ``losses`` ecosystem.

Supervised fine-tuning (``causal_lm``, computed chunk by chunk from hidden
states and the LM head without materialising ``[tokens, vocab]`` logits),
preference optimisation (``dpo`` and its loss types, ``orpo``, ``simpo``,
``cpo``, ``kto``), RL with verifiable rewards (``grpo`` and its loss types,
``ppo``, :func:`group_advantages`), distillation, and the auxiliary losses of
mixture-of-experts models. Installing the distribution declares every loss to
losses-core through ``losses.plugins`` entry points; a loss's module is
imported when the loss is first looked up or its name first accessed here
(PEP 562): ``import losses_llm`` imports none of them.
"""

from __future__ import annotations

from losses_core.lazy import export_lazily
from losses_llm._version import __version__

_EXPORTS: dict[str, str] = {}

__all__ = ["__version__"]


export_lazily(__name__, _EXPORTS)
