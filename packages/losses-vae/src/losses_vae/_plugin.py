"""The ``losses.plugins`` entry point of losses-vae: registers every loss."""

from __future__ import annotations

from losses_core import LossRegistrar, hookimpl
from losses_vae import _examples as ex
from losses_vae.beta_tcvae import beta_tcvae
from losses_vae.beta_vae import beta_vae
from losses_vae.beta_vae_capacity import beta_vae_capacity
from losses_vae.dip_vae import dip_vae
from losses_vae.elbo import elbo
from losses_vae.factor_vae import factor_vae
from losses_vae.factor_vae_discriminator import factor_vae_discriminator
from losses_vae.free_bits import free_bits
from losses_vae.info_vae import info_vae
from losses_vae.iwae import iwae
from losses_vae.vae import vae_loss
from losses_vae.vq_vae import vq_vae
from losses_vae.vq_vae_ema import vq_vae_ema


@hookimpl
def losses_register(register: LossRegistrar) -> None:
    """Register the VAE losses with their aliases and example inputs."""
    register("VAELoss", vae_loss, aliases=("vae_loss",), example_inputs=ex.vae_example)
    register("elbo", elbo, aliases=("ELBOLoss", "negative_elbo"), example_inputs=ex.elbo_example)
    register("beta_vae", beta_vae, aliases=("BetaVAELoss",), example_inputs=ex.beta_vae_example)
    register(
        "beta_vae_capacity",
        beta_vae_capacity,
        aliases=("BetaVAECapacityLoss", "annealed_vae"),
        example_inputs=ex.capacity_example,
    )
    register("beta_tcvae", beta_tcvae, aliases=("BetaTCVAELoss",), example_inputs=ex.beta_tcvae_example)
    register("factor_vae", factor_vae, aliases=("FactorVAELoss",), example_inputs=ex.factor_vae_example)
    register(
        "factor_vae_discriminator",
        factor_vae_discriminator,
        aliases=("FactorVAEDiscriminatorLoss",),
        example_inputs=ex.factor_vae_discriminator_example,
    )
    register("dip_vae", dip_vae, aliases=("DIPVAELoss",), example_inputs=ex.dip_vae_example)
    register("info_vae", info_vae, aliases=("InfoVAELoss", "mmd_vae"), example_inputs=ex.info_vae_example)
    register("vq_vae", vq_vae, aliases=("VQVAELoss",), example_inputs=ex.vq_vae_example)
    register("vq_vae_ema", vq_vae_ema, aliases=("VQVAEEMALoss",), example_inputs=ex.vq_vae_ema_example)
    register("iwae", iwae, aliases=("IWAELoss",), example_inputs=ex.iwae_example)
    register("free_bits", free_bits, aliases=("FreeBitsLoss",), example_inputs=ex.free_bits_example)
