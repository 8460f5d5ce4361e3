"""losses-sae: sparse-autoencoder losses, metrics and dead-latent tracking.

Losses (found by ``losses_core.LOSSES`` through the ``losses.plugins`` entry
point, which names the package's manifest, ``losses_sae/losses.json``, without
importing any code): ``SAELoss``,
``sae_l1_decoder_norm``, ``topk_auxk``, ``multi_topk``, ``batch_topk``,
``jumprelu``, ``jumprelu_target_l0``, ``gated_sae``, ``matryoshka``,
``ghost_grads``, one per module. Each loss's module, whose ``@register_loss``
declaration registers the loss, is imported when the loss is first looked up
or when its name is first accessed on this package (PEP 562);
``import losses_sae`` imports none of them. Each declares its inputs:
``model_output``
``reconstruction``/``latents``/``pre_activations``/``decoder_weight``
(``[n_latents, d_in]``)/``decoder_bias``/``threshold``; ``targets``
``activations``/``dead_mask``; other keys are mapped with ``keys=``. See the
README.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily
from losses_sae._version import __version__

if TYPE_CHECKING:
    from losses_sae import activations, metrics
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

_SUBMODULES = frozenset({"activations", "metrics"})
"""Public names that are submodules themselves."""

_EXPORTS = {
    "DeadLatentTracker": "dead_latents",
    "batch_topk": "batch_topk",
    "gated_sae": "gated_sae",
    "ghost_grads": "ghost_grads",
    "jumprelu": "jumprelu",
    "jumprelu_target_l0": "jumprelu_target_l0",
    "matryoshka": "matryoshka",
    "multi_topk": "multi_topk",
    "sae_l1_decoder_norm": "sae_l1_decoder_norm",
    "sae_loss": "sae_loss",
    "topk_auxk": "topk_auxk",
}

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


export_lazily(__name__, _EXPORTS, _SUBMODULES)
