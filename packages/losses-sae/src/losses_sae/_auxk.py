"""The AuxK auxiliary loss of Gao et al. 2024 ("Scaling and evaluating sparse
autoencoders", sec. 2.4 / A.2), without host synchronisation.

.. math::

    e_t = x_t - \\hat x_t \\ (\\text{detached}),\\quad
    \\hat e_t = \\sum_{i \\in A_t} \\mathrm{ReLU}(h_{ti})\\, W_{dec,i}\\ (+ b_{dec}),\\quad
    \\mathrm{AuxK} = s\\,\\frac{\\sum_t \\lVert e_t - \\hat e_t\\rVert^2}{D}

where :math:`A_t` are the ``k_aux`` largest pre-activations of token :math:`t`
among the dead latents (fewer when fewer are dead; selected by masking the
others with :math:`-\\infty` and a top-k of static size), and

- ``normalize="none"``: :math:`D = T` (SAELens);
- ``normalize="residual_var"``: :math:`D = \\sum_t \\lVert e_t - \\bar e\\rVert^2`
  (OpenAI ``normalized_mse``, dictionary_learning; the paper's choice);
- ``normalize="total_var"``: :math:`D = \\sum_t \\lVert x_t - \\bar x\\rVert^2`
  (EleutherAI sparsify);
- :math:`s = \\min(n_{dead}/k_{aux}, 1)` with ``dead_scale=True`` (sparsify,
  SAELens), else 1 (OpenAI, dictionary_learning).

The bias is not added by default (the paper, OpenAI, dictionary_learning);
``include_bias=True`` reproduces SAELens and sparsify before PR #134. With no
dead latent the term is an exact, graph-connected zero (OpenAI needed
``nan_to_num`` there); a zero denominator also gives 0, never NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from losses_core.reduction import safe_divide
from losses_sae._decode import sparse_decode
from losses_sae._inputs import fetch_codes, fetch_dead_mask, fetch_decoder_bias, fetch_decoder_weight
from losses_sae._params import check_choice, check_nonnegative, check_positive_int
from losses_sae._reconstruction import total_variance

__all__ = ["AUXK_NORMALIZATIONS", "AuxKInputs", "auxk_term", "check_auxk_params", "fetch_auxk_inputs"]

AUXK_NORMALIZATIONS = ("none", "residual_var", "total_var")


class AuxKInputs(NamedTuple):
    pre_activations: torch.Tensor
    decoder_weight: torch.Tensor
    decoder_bias: torch.Tensor | None
    dead_mask: torch.Tensor


def check_auxk_params(loss: str, *, alpha: float, k_aux: int | None, normalize: str) -> float:
    """Validate the AuxK parameters; return ``alpha`` as a float."""
    weight = check_nonnegative(loss, "alpha", alpha)
    if k_aux is not None:
        check_positive_int(loss, "k_aux", k_aux)
    check_choice(loss, "normalize", normalize, AUXK_NORMALIZATIONS)
    return weight


def fetch_auxk_inputs(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    loss: str,
    lead_shape: torch.Size,
    n_latents: int,
    d_in: int,
    pre_activations_key: str,
    decoder_weight_key: str,
    decoder_bias_key: str | None,
    dead_mask_key: str,
) -> AuxKInputs:
    """The pre-activations, decoder and dead mask AuxK needs, checked."""
    pre = fetch_codes(
        model_output, pre_activations_key, loss=loss, lead_shape=lead_shape, n_latents=n_latents
    )
    decoder = fetch_decoder_weight(
        model_output, decoder_weight_key, loss=loss, n_latents=n_latents, d_in=d_in
    )
    bias = fetch_decoder_bias(model_output, decoder_bias_key, loss=loss, d_in=d_in)
    dead = fetch_dead_mask(targets, dead_mask_key, loss=loss, n_latents=n_latents)
    return AuxKInputs(pre, decoder, bias, dead)


def auxk_term(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    inputs: AuxKInputs,
    *,
    k_aux: int | None,
    normalize: str,
    include_bias: bool,
    dead_scale: bool,
) -> torch.Tensor:
    """The (unweighted) AuxK term for ``x``, ``x_hat`` ``[tokens, d_in]``."""
    pre, decoder, bias, dead = inputs
    n_latents = pre.shape[-1]
    k = min(k_aux if k_aux is not None else max(x.shape[-1] // 2, 1), n_latents)
    with torch.no_grad():  # select without building a [tokens, n_latents] backward
        indices = torch.where(dead, pre, float("-inf")).topk(k, dim=-1, sorted=False).indices
    values = pre.gather(-1, indices)
    values = torch.where(dead[indices], values.relu(), torch.zeros_like(values))
    e_hat = sparse_decode(indices, values, decoder)
    if include_bias and bias is not None:
        e_hat = e_hat + bias
    residual = (x - x_hat).detach()
    error = (residual - e_hat.to(residual.dtype)).square().sum()
    if normalize == "none":
        aux = error / x.shape[0]
    elif normalize == "residual_var":
        aux = safe_divide(error, total_variance(residual))
    else:
        aux = safe_divide(error, total_variance(x.detach()))
    num_dead = dead.sum()
    if dead_scale:
        aux = aux * (num_dead.to(aux.dtype) / k).clamp(max=1)
    return torch.where(num_dead > 0, aux, aux * 0)
