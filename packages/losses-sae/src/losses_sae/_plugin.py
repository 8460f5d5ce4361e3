"""The ``losses.plugins`` entry point of losses-sae: registers its losses."""

from __future__ import annotations

from losses_core import LossRegistrar, hookimpl
from losses_sae import _examples as ex
from losses_sae.batch_topk import batch_topk
from losses_sae.decoder_norm_l1 import sae_l1_decoder_norm
from losses_sae.gated_sae import gated_sae
from losses_sae.ghost_grads import ghost_grads
from losses_sae.jumprelu_loss import jumprelu_loss
from losses_sae.jumprelu_target_l0 import jumprelu_target_l0
from losses_sae.matryoshka import matryoshka
from losses_sae.multi_topk import multi_topk
from losses_sae.sae_loss import sae_loss
from losses_sae.topk_auxk import topk_auxk


@hookimpl
def losses_register(register: LossRegistrar) -> None:
    register("SAELoss", sae_loss, aliases=("sae_loss", "sae_l1"), example_inputs=ex.sae_example)
    register(
        "sae_l1_decoder_norm",
        sae_l1_decoder_norm,
        aliases=("sae_april_update",),
        example_inputs=ex.decoder_norm_example,
    )
    register("topk_auxk", topk_auxk, aliases=("topk_sae", "auxk"), example_inputs=ex.topk_example)
    register("multi_topk", multi_topk, aliases=("multi_topk_sae",), example_inputs=ex.multi_topk_example)
    register("batch_topk", batch_topk, aliases=("batch_topk_sae",), example_inputs=ex.batch_topk_example)
    register("jumprelu", jumprelu_loss, aliases=("jumprelu_sae",), example_inputs=ex.jumprelu_example)
    register(
        "jumprelu_target_l0",
        jumprelu_target_l0,
        aliases=("jumprelu_sae_target_l0",),
        example_inputs=ex.jumprelu_target_l0_example,
    )
    register("gated_sae", gated_sae, aliases=("gated_sae_loss",), example_inputs=ex.gated_example)
    register("matryoshka", matryoshka, aliases=("matryoshka_sae",), example_inputs=ex.matryoshka_example)
    register("ghost_grads", ghost_grads, aliases=("ghost_grads_sae",), example_inputs=ex.ghost_grads_example)
