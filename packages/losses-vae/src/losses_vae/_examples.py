"""Example-input factories (for the conformance checker): small random valid
inputs; leaf tensors that need gradients have ``requires_grad=True``."""

from __future__ import annotations

from typing import Any

import torch

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]

_DATA = 6
_LATENT = 3


def _leaf(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return t.to(dtype).requires_grad_(True)


def _gaussian(batch_size: int, dtype: torch.dtype) -> dict[str, Any]:
    mu = torch.randn(batch_size, _LATENT)
    logvar = 0.5 * torch.randn(batch_size, _LATENT)
    z = mu + torch.randn(batch_size, _LATENT) * torch.exp(0.5 * logvar)
    return {
        "predictions": _leaf(torch.randn(batch_size, _DATA), dtype),
        "mu": _leaf(mu, dtype),
        "logvar": _leaf(logvar, dtype),
        "z": _leaf(z, dtype),
    }


def _target(batch_size: int, dtype: torch.dtype) -> dict[str, Any]:
    return {"target": torch.randn(batch_size, _DATA).to(dtype)}


def vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out = _gaussian(batch_size, dtype)
    del out["z"]
    return out, _target(batch_size, dtype), {}


def elbo_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, targets, _ = vae_example(batch_size, dtype)
    return out, targets, {"likelihood": "gaussian"}


def beta_vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, targets, _ = vae_example(batch_size, dtype)
    return out, targets, {"beta": 4.0}


def free_bits_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, targets, _ = vae_example(batch_size, dtype)
    return out, targets, {"free_bits": 0.5}


def capacity_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, targets, _ = vae_example(batch_size, dtype)
    return out, targets, {"gamma": 10.0, "capacity": 2.0}


def beta_tcvae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _gaussian(batch_size, dtype), _target(batch_size, dtype), {"dataset_size": 1000}


def factor_vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out = _gaussian(batch_size, dtype)
    del out["z"]
    out["discriminator_logits"] = _leaf(torch.randn(batch_size, 2), dtype)
    return out, _target(batch_size, dtype), {}


def factor_vae_discriminator_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out = {
        "discriminator_logits_real": _leaf(torch.randn(batch_size, 2), dtype),
        "discriminator_logits_permuted": _leaf(torch.randn(batch_size, 2), dtype),
    }
    return out, {}, {}


def dip_vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out, targets, _ = vae_example(batch_size, dtype)
    return out, targets, {"dip_type": "ii"}


def info_vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    out = _gaussian(batch_size, dtype)
    out["z_prior"] = torch.randn(batch_size, _LATENT).to(dtype)
    return out, _target(batch_size, dtype), {}


def _vq(batch_size: int, dtype: torch.dtype) -> Example:
    num_embeddings, dim = 5, 3
    codebook = torch.randn(num_embeddings, dim)
    indices = torch.randint(0, num_embeddings, (batch_size, 4))
    out = {
        "predictions": _leaf(torch.randn(batch_size, _DATA), dtype),
        "z_e": _leaf(torch.randn(batch_size, 4, dim), dtype),
        "z_q": _leaf(codebook[indices], dtype),
        "indices": indices,
    }
    return out, _target(batch_size, dtype), {"num_embeddings": num_embeddings}


def vq_vae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _vq(batch_size, dtype)


def vq_vae_ema_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    return _vq(batch_size, dtype)


def iwae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    samples = 3
    mu = torch.randn(batch_size, _LATENT)
    logvar = 0.5 * torch.randn(batch_size, _LATENT)
    z = mu.unsqueeze(1) + torch.randn(batch_size, samples, _LATENT) * torch.exp(0.5 * logvar).unsqueeze(1)
    out = {
        "predictions": _leaf(torch.randn(batch_size, samples, _DATA), dtype),
        "mu": _leaf(mu, dtype),
        "logvar": _leaf(logvar, dtype),
        "z": _leaf(z, dtype),
    }
    return out, _target(batch_size, dtype), {}
