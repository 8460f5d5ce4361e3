"""losses-vae: variational-autoencoder losses for the ``losses`` ecosystem.

Installing the distribution makes every loss known to losses-core through the
``losses.plugins`` entry point, which names the package's manifest,
``losses_vae/losses.json``: losses are found there without importing any code.
Each loss's module, whose ``@register_loss`` declaration registers the loss,
is imported when the loss is first looked up (``LOSSES["beta_tcvae"]``, ...)
or when its name is first accessed on this package (PEP 562): the functions
are importable here too, and ``import losses_vae`` imports none of them.
``logvar`` is always clamped to [-30, 20] before ``exp``. Coefficient
schedules live in :mod:`losses_vae.schedules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily
from losses_vae._version import __version__

if TYPE_CHECKING:
    from losses_vae.beta_tcvae import beta_tcvae
    from losses_vae.beta_vae import beta_vae
    from losses_vae.beta_vae_capacity import beta_vae_capacity
    from losses_vae.codebook import ema_codebook_update
    from losses_vae.dip_vae import dip_vae
    from losses_vae.elbo import elbo
    from losses_vae.factor_vae import factor_vae
    from losses_vae.factor_vae_discriminator import factor_vae_discriminator
    from losses_vae.factor_vae_helpers import factor_vae_discriminator_outputs, permute_dims
    from losses_vae.free_bits import free_bits
    from losses_vae.info_vae import info_vae
    from losses_vae.iwae import iwae
    from losses_vae.total_correlation import log_importance_weight_matrix
    from losses_vae.vae_loss import vae_loss
    from losses_vae.vq_vae import vq_vae
    from losses_vae.vq_vae_ema import vq_vae_ema

_EXPORTS = {
    "beta_tcvae": "beta_tcvae",
    "beta_vae": "beta_vae",
    "beta_vae_capacity": "beta_vae_capacity",
    "dip_vae": "dip_vae",
    "elbo": "elbo",
    "ema_codebook_update": "codebook",
    "factor_vae": "factor_vae",
    "factor_vae_discriminator": "factor_vae_discriminator",
    "factor_vae_discriminator_outputs": "factor_vae_helpers",
    "free_bits": "free_bits",
    "info_vae": "info_vae",
    "iwae": "iwae",
    "log_importance_weight_matrix": "total_correlation",
    "permute_dims": "factor_vae_helpers",
    "vae_loss": "vae_loss",
    "vq_vae": "vq_vae",
    "vq_vae_ema": "vq_vae_ema",
}

__all__ = [
    "__version__",
    "beta_tcvae",
    "beta_vae",
    "beta_vae_capacity",
    "dip_vae",
    "elbo",
    "ema_codebook_update",
    "factor_vae",
    "factor_vae_discriminator",
    "factor_vae_discriminator_outputs",
    "free_bits",
    "info_vae",
    "iwae",
    "log_importance_weight_matrix",
    "permute_dims",
    "vae_loss",
    "vq_vae",
    "vq_vae_ema",
]


export_lazily(__name__, _EXPORTS)
