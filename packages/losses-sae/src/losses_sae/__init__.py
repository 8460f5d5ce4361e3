"""losses-sae: sparse-autoencoder losses, metrics and dead-latent tracking.

Losses (registered in ``losses_core.LOSSES`` when this package is imported,
which the ``losses.plugins`` entry point does on first use): ``SAELoss``,
``sae_l1_decoder_norm``, ``topk_auxk``, ``multi_topk``, ``batch_topk``,
``jumprelu``, ``jumprelu_target_l0``, ``gated_sae``, ``matryoshka``,
``ghost_grads``, one per module. Each declares its inputs: ``model_output``
``reconstruction``/``latents``/``pre_activations``/``decoder_weight``
(``[n_latents, d_in]``)/``decoder_bias``/``threshold``; ``targets``
``activations``/``dead_mask``; other keys are mapped with ``keys=``. See the
README.
"""

from __future__ import annotations

from losses_sae import activations, metrics
from losses_sae._version import __version__
from losses_sae.batch_topk import batch_topk
from losses_sae.dead_latents import DeadLatentTracker
from losses_sae.gated_sae import gated_sae
from losses_sae.ghost_grads import ghost_grads
from losses_sae.jumprelu import jumprelu
from losses_sae.jumprelu_target_l0 import jumprelu_target_l0
from losses_sae.matryoshka import matryoshka
from losses_sae.multi_topk import multi_topk
from losses_sae.sae_l1_decoder_norm import sae_l1_decoder_norm
from losses_sae.sae_loss import sae_loss
from losses_sae.topk_auxk import topk_auxk

__all__ = [
    "DeadLatentTracker",
    "__version__",
    "activations",
    "batch_topk",
    "gated_sae",
    "ghost_grads",
    "jumprelu",
    "jumprelu_target_l0",
    "matryoshka",
    "metrics",
    "multi_topk",
    "sae_l1_decoder_norm",
    "sae_loss",
    "topk_auxk",
]
