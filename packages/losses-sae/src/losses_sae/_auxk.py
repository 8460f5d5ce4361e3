"""The AuxK auxiliary loss of Gao et al. 2024 ("Scaling and evaluating sparse
autoencoders", sec. 2.4 / A.2), without host synchronisation.

.. math::

    e_t = x_t - \\hat x_t \\ (\\text{detached}),\\quad
    \\hat e_t = \\sum_{i \\in A_t} \\mathrm{ReLU}(h_{ti})\\, W_{dec,i}\\ (+ b_{dec}),\\quad
    \\mathrm{AuxK} = s\\,\\frac{\\sum_t \\lVert e_t - \\hat e_t\\rVert^2}{D}

where :math:`A_t` are the ``k_aux`` largest pre-activations of token :math:`t`
among the dead latents (fewer when fewer are dead, or when ``k_aux`` exceeds
the number of latents; selected by masking the others with :math:`-\\infty`
and a top-k of static size), and

- ``normalize="none"``: :math:`D = T` (SAELens);
- ``normalize="residual_var"``: :math:`D = \\sum_t \\lVert e_t - \\bar e\\rVert^2`
  (OpenAI ``normalized_mse``, dictionary_learning; the paper's choice);
- ``normalize="total_var"``: :math:`D = \\sum_t \\lVert x_t - \\bar x\\rVert^2`
  (EleutherAI sparsify);
- :math:`s = \\min(n_{dead}/k_{aux}, 1)` with ``dead_scale=True`` (sparsify,
  SAELens), else 1 (OpenAI, dictionary_learning). :math:`k_{aux}` here is
  the requested value (default :math:`d_{in} // 2`) *before* it is capped at
  the number of latents, as in both references: an undercomplete dictionary
  (fewer than :math:`d_{in}/2` latents) with few dead latents gets a small
  scale, not 1.

Signed pre-activations: the selected values pass through a ReLU (the
:math:`\\mathrm{ReLU}(h_{ti})` above), as in OpenAI's code, sparsify and
dictionary_learning, whose auxiliary codes are post-ReLU activations, so a
dead latent with a negative pre-activation contributes nothing. SAELens
decodes the raw, possibly negative, pre-activations instead; with
non-negative pre-activations the two agree.

The bias is not added by default (the paper, OpenAI, dictionary_learning);
``include_bias=True`` reproduces SAELens and sparsify before PR #134. With no
dead latent the term is an exact, graph-connected zero (OpenAI needed
``nan_to_num`` there); a zero denominator also gives 0, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import torch

from losses_core.reduction import safe_divide
from losses_sae._decode import sparse_decode
from losses_sae._reconstruction import total_variance
from losses_sae._tokens import require

__all__ = ["AuxKConfig", "AuxKNormalization", "auxk_from_inputs", "auxk_term", "require_for_auxk"]

AuxKNormalization: TypeAlias = Literal["none", "residual_var", "total_var"]
"""The ``normalize`` parameter of the losses with an AuxK term."""


@dataclass(frozen=True)
class AuxKConfig:
    """The AuxK parameters of a loss call."""

    alpha: float
    k_aux: int | None
    normalize: AuxKNormalization
    include_bias: bool
    dead_scale: bool


def require_for_auxk(loss: str, value: torch.Tensor | None, name: str, source: str) -> torch.Tensor:
    """``value``, or raise :class:`losses_core.MissingInputError` for the
    optional input ``name`` (read from ``source``) that AuxK needs: the
    losses with an AuxK term read ``pre_activations``, ``decoder_weight`` and
    ``dead_mask`` only when ``alpha > 0``."""
    return require(loss, value, name, source, when="when alpha > 0 (the AuxK term)", otherwise="set alpha=0")


def auxk_from_inputs(
    loss: str,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    pre: torch.Tensor | None,
    decoder: torch.Tensor | None,
    bias: torch.Tensor | None,
    dead_mask: torch.Tensor | None,
    config: AuxKConfig,
) -> torch.Tensor:
    """:func:`auxk_term` of a call with ``alpha > 0``, whose optional inputs
    ``pre_activations``, ``decoder_weight`` and ``dead_mask`` may be ``None``:
    the first one missing, in that order, raises
    :class:`losses_core.MissingInputError` (:func:`require_for_auxk`)."""
    pre = require_for_auxk(loss, pre, "pre_activations", "model_output")
    decoder = require_for_auxk(loss, decoder, "decoder_weight", "model_output")
    dead = require_for_auxk(loss, dead_mask, "dead_mask", "targets")
    return auxk_term(x, x_hat, pre, decoder, bias, dead, config)


def auxk_term(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    pre: torch.Tensor,
    decoder: torch.Tensor,
    bias: torch.Tensor | None,
    dead: torch.Tensor,
    config: AuxKConfig,
) -> torch.Tensor:
    """The (unweighted) AuxK term for ``x``, ``x_hat`` ``[tokens, d_in]``,
    pre-activations ``[tokens, n_latents]``, ``decoder`` ``[n_latents, d_in]``
    and the bool ``dead`` mask ``[n_latents]``."""
    n_latents = pre.shape[-1]
    requested = config.k_aux if config.k_aux is not None else max(x.shape[-1] // 2, 1)
    k = min(requested, n_latents)
    with torch.no_grad():  # select without building a [tokens, n_latents] backward
        indices = torch.where(dead, pre, float("-inf")).topk(k, dim=-1, sorted=False).indices
    values = pre.gather(-1, indices)
    values = torch.where(dead[indices], values.relu(), torch.zeros_like(values))
    e_hat = sparse_decode(indices, values, decoder)
    if config.include_bias and bias is not None:
        e_hat = e_hat + bias
    residual = (x - x_hat).detach()
    error = (residual - e_hat.to(residual.dtype)).square().sum()
    if config.normalize == "none":
        aux = error / x.shape[0]
    elif config.normalize == "residual_var":
        aux = safe_divide(error, total_variance(residual))
    else:
        aux = safe_divide(error, total_variance(x.detach()))
    num_dead = dead.sum()
    if config.dead_scale:
        # min(n_dead / k_aux, 1) with k_aux as requested, before the cap at n_latents
        aux = aux * (num_dead.to(aux.dtype) / requested).clamp(max=1)
    return torch.where(num_dead > 0, aux, aux * 0)
