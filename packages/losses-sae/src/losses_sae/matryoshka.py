"""``matryoshka``: the Matryoshka SAE loss over nested latent prefixes
(Bussmann et al. 2025; Nabeshima 2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from losses_core import LossParameterError
from losses_sae._auxk import auxk_term, check_auxk_params, fetch_auxk_inputs
from losses_sae._inputs import fetch_activations, fetch_codes, fetch_decoder_bias, fetch_decoder_weight
from losses_sae._params import check_nonnegative
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token
from losses_sae._result import build_result

__all__ = ["default_group_sizes", "matryoshka"]

NAME = "matryoshka"


def default_group_sizes(n_latents: int) -> list[int]:
    """Groups whose prefixes end at ``n/8, n/4, n/2, n`` (duplicates and empty
    groups dropped for small ``n``)."""
    ends = sorted({max(1, n_latents >> shift) for shift in (3, 2, 1, 0)})
    return [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def _check_groups(
    n_latents: int, group_sizes: Sequence[int] | None, group_weights: Sequence[float] | None
) -> tuple[list[int], list[float]]:
    if group_sizes is None:
        sizes = default_group_sizes(n_latents)
    else:
        if isinstance(group_sizes, (str, bytes)) or not isinstance(group_sizes, Sequence) or not group_sizes:
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'group_sizes' must be a non-empty list of ints, "
                f"got {group_sizes!r}"
            )
        sizes = list(group_sizes)
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'group_sizes' must contain ints >= 1, got {group_sizes!r}"
            )
        if sum(sizes) != n_latents:
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'group_sizes' must sum to n_latents = {n_latents}, "
                f"got {group_sizes!r} (sum {sum(sizes)})"
            )
    if group_weights is None:
        weights = [1.0 / len(sizes)] * len(sizes)
    else:
        if isinstance(group_weights, (str, bytes)) or not isinstance(group_weights, Sequence):
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'group_weights' must be a list of numbers, got {group_weights!r}"
            )
        if len(group_weights) != len(sizes):
            raise LossParameterError(
                f"loss {NAME!r}: parameter 'group_weights' needs one weight per group ({len(sizes)}), "
                f"got {len(group_weights)}"
            )
        weights = [check_nonnegative(NAME, "group_weights", w) for w in group_weights]
    return sizes, weights


def matryoshka(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    group_sizes: Sequence[int] | None = None,
    group_weights: Sequence[float] | None = None,
    sparsity_weight: float = 0.0,
    alpha: float = 0.0,
    k_aux: int | None = None,
    normalize: str = "residual_var",
    include_bias: bool = False,
    dead_scale: bool = False,
    reconstruction: str = "sum_mean",
    latents_key: str = "latents",
    pre_activations_key: str = "pre_activations",
    decoder_weight_key: str = "decoder_weight",
    decoder_bias_key: str | None = "decoder_bias",
    activations_key: str = "activations",
    dead_mask_key: str = "dead_mask",
) -> dict[str, Any]:
    r"""Matryoshka SAE loss, registered as ``matryoshka`` (Bussmann, Nabeshima,
    Karvonen and Nanda 2025, "Learning Multi-Level Features with Matryoshka
    Sparse Autoencoders"; Nabeshima 2024; dictionary_learning
    ``MatryoshkaBatchTopKTrainer``).

    The latents are split into consecutive groups :math:`G_1, \dots, G_M`
    (``group_sizes``); prefix :math:`m` reconstructs from the first
    :math:`m` groups only:

    .. math::

        \hat x^{(m)}_t = b_{dec} + \sum_{i \in G_1\cup\dots\cup G_m} f_{ti} W_{dec,i},
        \qquad
        L = \sum_{m=1}^M w_m \frac1T\sum_t \ell\big(x_t, \hat x^{(m)}_t\big)
            + \lambda\frac1T\sum_t\lVert f_t\rVert_1 + \alpha\,\mathrm{AuxK}

    with :math:`\ell` the ``reconstruction`` convention (default
    ``"sum_mean"``, see :func:`losses_sae.sae_loss`) and weights :math:`w_m`
    (default uniform :math:`1/M`, i.e. the mean over prefixes;
    dictionary_learning multiplies by its weights *and* averages, an extra
    :math:`1/M`). The last prefix is the full reconstruction. The loss decodes
    the prefixes itself (one matmul per group, whose cost sums to one full
    decode; the loop runs over the few, static groups only), so it does not
    read ``model_output["reconstruction"]``. Optional terms, off by default:
    an L1 penalty (``sparsity_weight``, for ReLU Matryoshka SAEs) and AuxK on
    the full reconstruction's residual (``alpha`` and the other AuxK
    parameters as in ``topk_auxk``; dictionary_learning uses ``alpha=1/32``
    with BatchTopK).

    :param group_sizes: consecutive group sizes summing to ``n_latents``;
        ``None``: prefixes ending at ``n/8, n/4, n/2, n``.
    :param group_weights: one non-negative weight per group; ``None``: ``1/M``.
    :param model_output: ``latents`` ``[..., n_latents]``, ``decoder_weight``
        ``[n_latents, d_in]``, optional ``decoder_bias``; ``pre_activations``
        when ``alpha > 0``.
    :param targets: ``activations`` ``[..., d_in]``; ``dead_mask`` when
        ``alpha > 0``.
    :returns: metrics ``reconstruction`` (the weighted prefix sum),
        ``reconstruction_full`` (last prefix), ``l1``, ``auxk`` (when on) and
        the reconstruction metrics of the full reconstruction; auxiliary
        ``prefix_reconstruction`` (``[M]``, detached) and
        ``reconstruction`` (the full :math:`\hat x`, ``[..., d_in]``, with its graph).
    """
    l1_weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    aux_alpha = check_auxk_params(NAME, alpha=alpha, k_aux=k_aux, normalize=normalize)
    check_reconstruction(NAME, reconstruction)
    x, lead_shape = fetch_activations(targets, loss=NAME, activations_key=activations_key)
    latents = fetch_codes(model_output, latents_key, loss=NAME, lead_shape=lead_shape)
    n_latents, d_in = latents.shape[-1], x.shape[-1]
    decoder = fetch_decoder_weight(
        model_output, decoder_weight_key, loss=NAME, n_latents=n_latents, d_in=d_in
    )
    bias = fetch_decoder_bias(model_output, decoder_bias_key, loss=NAME, d_in=d_in)
    sizes, weights = _check_groups(n_latents, group_sizes, group_weights)

    running = torch.zeros_like(x, dtype=decoder.dtype) if bias is None else bias.expand_as(x)
    prefix_terms = []
    groups = zip(torch.split(latents, sizes, dim=-1), torch.split(decoder, sizes, dim=0), strict=True)
    for codes, rows in groups:
        running = running + codes.to(rows.dtype) @ rows
        prefix_terms.append(reconstruction_per_token(x, running.to(x.dtype), reconstruction).mean())
    prefixes = torch.stack(prefix_terms)
    recon = (prefixes * torch.tensor(weights, dtype=prefixes.dtype, device=prefixes.device)).sum()
    x_hat = running.to(x.dtype)
    total = recon
    components = {"reconstruction": recon, "reconstruction_full": prefix_terms[-1]}
    if l1_weight > 0:
        l1 = torch.linalg.vector_norm(latents, ord=1, dim=-1).mean()
        total = total + l1_weight * l1
    else:
        with torch.no_grad():
            l1 = torch.linalg.vector_norm(latents, ord=1, dim=-1).mean()
    components["l1"] = l1
    dead_mask = None
    if aux_alpha > 0:
        inputs = fetch_auxk_inputs(
            model_output,
            targets,
            loss=NAME,
            lead_shape=lead_shape,
            n_latents=n_latents,
            d_in=d_in,
            pre_activations_key=pre_activations_key,
            decoder_weight_key=decoder_weight_key,
            decoder_bias_key=decoder_bias_key,
            dead_mask_key=dead_mask_key,
        )
        dead_mask = inputs.dead_mask
        aux = auxk_term(
            x,
            x_hat,
            inputs,
            k_aux=k_aux,
            normalize=normalize,
            include_bias=include_bias,
            dead_scale=dead_scale,
        )
        total = total + aux_alpha * aux
        components["auxk"] = aux
    return build_result(
        total,
        components,
        x=x,
        x_hat=x_hat,
        latents=latents,
        dead_mask=dead_mask,
        auxiliary={
            "prefix_reconstruction": prefixes.detach(),
            "reconstruction": x_hat.reshape(*lead_shape, d_in),
        },
    )
