"""Flattening the SAE inputs to tokens, and the input checks that span
several inputs beyond what their declarations express.

The declarations (``losses_core.Input``) bind the first and last dimensions
(``"B ... D"``, ``"B ... N"``); the leading dimensions between them, the
decoder's layout (checked here so that a transposed ``nn.Linear`` weight gets
a hint) and the inputs that only some parameter values need are checked
here. Every check reads shapes only, never values.
"""

from __future__ import annotations

import torch

from losses_core import LossInputError, MissingInputError

__all__ = ["check_decoder_weight", "check_leading_dims", "require", "tokens"]


def tokens(t: torch.Tensor) -> torch.Tensor:
    """``t`` ``[..., features]`` flattened to ``[tokens, features]``."""
    return t.reshape(-1, t.shape[-1])


def check_leading_dims(loss: str, activations: torch.Tensor, **codes: torch.Tensor | None) -> None:
    """Raise :class:`LossInputError` unless every tensor of ``codes`` (by input
    name) has the activations' leading dimensions (shape ``[..., n_latents]``)."""
    lead = activations.shape[:-1]
    for name, code in codes.items():
        if code is not None and code.shape[:-1] != lead:
            raise LossInputError(
                f"{loss}: input {name!r} has shape {tuple(code.shape)}; its leading dimensions must "
                f"match the activations' {tuple(lead)} (shape [..., n_latents])"
            )


def check_decoder_weight(loss: str, weight: torch.Tensor, *, n_latents: int, d_in: int) -> torch.Tensor:
    """``weight`` checked to be ``W_dec`` of shape ``[n_latents, d_in]`` (one row per latent)."""
    if weight.shape != (n_latents, d_in):
        hint = ""
        if weight.shape == (d_in, n_latents):
            hint = (
                "; it looks transposed: pass one row per latent, e.g. decoder.weight.T for an "
                "nn.Linear(n_latents, d_in) decoder"
            )
        raise LossInputError(
            f"{loss}: input 'decoder_weight' must have shape [n_latents, d_in] = ({n_latents}, {d_in}) "
            f"(one row per latent), got {tuple(weight.shape)}{hint}"
        )
    return weight


def require(
    loss: str, value: torch.Tensor | None, name: str, source: str, *, when: str, otherwise: str
) -> torch.Tensor:
    """``value``, or raise :class:`MissingInputError` for the optional input
    ``name`` (read from ``source[name]``) that the call's parameters need.

    ``when`` says which parameters need it (``"when alpha > 0 (the AuxK
    term)"``) and ``otherwise`` how to do without it (``"set alpha=0"``); the
    message reads ``"topk_auxk: input 'dead_mask' (targets['dead_mask']) is
    required when alpha > 0 (the AuxK term); pass it, map it with keys=, or
    set alpha=0"``.
    """
    if value is None:
        raise MissingInputError(
            f"{loss}: input {name!r} ({source}[{name!r}]) is required {when}; "
            f"pass it, map it with keys=, or {otherwise}"
        )
    return value
