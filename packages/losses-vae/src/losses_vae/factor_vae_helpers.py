"""Helpers for FactorVAE training: dimension-wise permutation and discriminator
outputs built with the right detach rules."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["factor_vae_discriminator_outputs", "permute_dims"]


def permute_dims(z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Shuffle each latent dimension independently across the batch (Kim & Mnih
    2018, Alg. 2): samples of :math:`\prod_d q(z_d)` from samples of :math:`q(z)`.

    Vectorised: one ``[B, Z]`` uniform draw, ``argsort`` over the batch, a
    ``gather``. ``generator`` makes it reproducible. ``z`` is ``[B, Z]``.
    """
    noise = torch.rand(z.shape, generator=generator, device=z.device)
    order = noise.argsort(dim=0)
    return z.gather(0, order)


def factor_vae_discriminator_outputs(
    discriminator: nn.Module,
    z: torch.Tensor,
    z_prime: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The three discriminator outputs the FactorVAE losses read, with the
    detach rules of Kim & Mnih 2018 built in, so one ``backward()`` of
    ``factor_vae + factor_vae_discriminator`` updates each network only by its
    own objective:

    - ``"discriminator_logits"``: :math:`D(z)` with the discriminator's
      parameters **detached** (``torch.func.functional_call``): the VAE's TC
      term trains the encoder, never the discriminator;
    - ``"discriminator_logits_real"``: :math:`D(z.\\mathrm{detach}())`;
    - ``"discriminator_logits_permuted"``: :math:`D(\\mathrm{permute\\_dims}(z'.\\mathrm{detach}()))`
      with ``z'`` = ``z_prime`` (a second batch, as in the paper) or ``z``:
      the discriminator loss trains the discriminator, never the encoder.

    Merge the result into ``model_output``. The discriminator maps ``[B, Z]`` to
    two logits ``[B, 2]``: column 0 "sample of q(z)", column 1 "permuted sample".
    It runs three times; a discriminator with running statistics (batch norm)
    updates them on every run in training mode.
    """
    params = {name: p.detach() for name, p in discriminator.named_parameters()}
    buffers = dict(discriminator.named_buffers())
    for_vae = functional_call(discriminator, (params, buffers), (z,))
    source = z if z_prime is None else z_prime
    real = discriminator(z.detach())
    permuted = discriminator(permute_dims(source.detach(), generator=generator))
    return {
        "discriminator_logits": for_vae,
        "discriminator_logits_real": real,
        "discriminator_logits_permuted": permuted,
    }
