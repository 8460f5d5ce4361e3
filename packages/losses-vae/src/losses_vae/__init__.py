"""losses-vae: variational-autoencoder losses for the ``losses`` ecosystem.

Installing the distribution registers every loss with losses-core through the
``losses.plugins`` entry point, which names this package: importing it imports
every loss module, whose ``@register_loss`` declaration registers the loss
(``LOSSES["beta_tcvae"]``, ...). The functions are importable here too.
``logvar`` is always clamped to [-30, 20] before ``exp``. Coefficient
schedules live in :mod:`losses_vae.schedules`.
"""

from __future__ import annotations

from losses_vae._version import __version__
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
