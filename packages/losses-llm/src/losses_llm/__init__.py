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

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily
from losses_llm._version import __version__

if TYPE_CHECKING:
    from losses_llm.advantages import group_advantages
    from losses_llm.causal_lm import causal_lm
    from losses_llm.cpo import cpo
    from losses_llm.dft import dft
    from losses_llm.distillation import distillation
    from losses_llm.distributed import global_num_items
    from losses_llm.dpo import dpo
    from losses_llm.entropy_regularized_ce import entropy_regularized_ce
    from losses_llm.grpo import grpo
    from losses_llm.kto import kto
    from losses_llm.moe_load_balancing import moe_load_balancing
    from losses_llm.orpo import orpo
    from losses_llm.ppo import ppo
    from losses_llm.router_z_loss import router_z_loss
    from losses_llm.simpo import simpo
    from losses_llm.z_loss import z_loss

_EXPORTS = {
    "causal_lm": "causal_lm",
    "cpo": "cpo",
    "dft": "dft",
    "distillation": "distillation",
    "dpo": "dpo",
    "entropy_regularized_ce": "entropy_regularized_ce",
    "global_num_items": "distributed",
    "group_advantages": "advantages",
    "grpo": "grpo",
    "kto": "kto",
    "moe_load_balancing": "moe_load_balancing",
    "orpo": "orpo",
    "ppo": "ppo",
    "router_z_loss": "router_z_loss",
    "simpo": "simpo",
    "z_loss": "z_loss",
}

__all__ = [
    "__version__",
    "causal_lm",
    "cpo",
    "dft",
    "distillation",
    "dpo",
    "entropy_regularized_ce",
    "global_num_items",
    "group_advantages",
    "grpo",
    "kto",
    "moe_load_balancing",
    "orpo",
    "ppo",
    "router_z_loss",
    "simpo",
    "z_loss",
]


export_lazily(__name__, _EXPORTS)
