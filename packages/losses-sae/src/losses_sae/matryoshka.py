"""``matryoshka``: the Matryoshka SAE loss over nested latent prefixes
(Bussmann et al. 2025; Nabeshima 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch

from losses_core import Input, LossParameterError, LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_sae._auxk import AuxKConfig, AuxKNormalization, auxk_from_inputs
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token
from losses_sae._sae_inputs import AUXK_DEAD_MASK, AUXK_PRE_ACTIVATIONS, DECODER_BIAS, DECODER_WEIGHT, LATENTS
from losses_sae._tokens import check_decoder_weight, check_leading_dims, tokens
from losses_sae._toy_sae import Example, model_output, toy_sae
from losses_sae.activations import topk_relu
from losses_sae.metrics import reconstruction_metrics

__all__ = ["default_group_sizes", "matryoshka", "matryoshka_example"]

NAME = "matryoshka"


def default_group_sizes(n_latents: int) -> list[int]:
    """Groups whose prefixes end at ``n/8, n/4, n/2, n`` (duplicates and empty
    groups dropped for small ``n``)."""
    ends = sorted({max(1, n_latents >> shift) for shift in (3, 2, 1, 0)})
    return [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def _groups(
    n_latents: int, group_sizes: Sequence[int] | None, group_weights: Sequence[float] | None
) -> tuple[list[int], list[float]]:
    """The group sizes and weights, checked against ``n_latents`` and each other."""
    sizes = default_group_sizes(n_latents) if group_sizes is None else list(group_sizes)
    if sum(sizes) != n_latents:
        raise LossParameterError(
            f"loss {NAME!r}: parameter 'group_sizes' must sum to n_latents = {n_latents}, "
            f"got {group_sizes!r} (sum {sum(sizes)})"
        )
    if group_weights is None:
        return sizes, [1.0 / len(sizes)] * len(sizes)
    if len(group_weights) != len(sizes):
        raise LossParameterError(
            f"loss {NAME!r}: parameter 'group_weights' needs one weight per group ({len(sizes)}), "
            f"got {len(group_weights)}"
        )
    return sizes, [float(w) for w in group_weights]


def matryoshka_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a TopK (k=4) SAE's latents
    and decoder, in groups of 2, 2, 4 and 8 latents."""
    sae = toy_sae(batch_size)
    out = model_output(sae, topk_relu(sae.pre, 4), dtype, ("latents", "decoder_weight", "decoder_bias"))
    del out["reconstruction"]
    return out, {"activations": sae.x.to(dtype)}, {"group_sizes": [2, 2, 4, 8]}


@register_loss(
    aliases=("matryoshka_sae",),
    inputs=[
        LATENTS,
        DECODER_WEIGHT,
        Input(
            "activations",
            "targets",
            shape="B ... D",
            dtype="float",
            doc="the input activations x [..., d_in]",
        ),
        DECODER_BIAS,
        AUXK_PRE_ACTIVATIONS,
        AUXK_DEAD_MASK,
    ],
    example_inputs=matryoshka_example,
)
def matryoshka(
    latents: torch.Tensor,
    decoder_weight: torch.Tensor,
    activations: torch.Tensor,
    decoder_bias: torch.Tensor | None = None,
    pre_activations: torch.Tensor | None = None,
    dead_mask: torch.Tensor | None = None,
    *,
    group_sizes: Sequence[Annotated[int, Range(ge=1)]] | None = None,
    group_weights: Sequence[Annotated[float, Range(ge=0)]] | None = None,
    sparsity_weight: Annotated[float, Range(ge=0)] = 0.0,
    alpha: Annotated[float, Range(ge=0)] = 0.0,
    k_aux: Annotated[int, Range(ge=1)] | None = None,
    normalize: AuxKNormalization = "residual_var",
    include_bias: bool = False,
    dead_scale: bool = False,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""Matryoshka SAE loss: weighted reconstructions of nested latent prefixes.

    Registered as ``matryoshka`` (alias ``matryoshka_sae``; Bussmann,
    Nabeshima, Karvonen and Nanda 2025, "Learning Multi-Level Features with
    Matryoshka Sparse Autoencoders"; Nabeshima 2024; dictionary_learning
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
    parameters as in ``topk_auxk``, including its dead-latent scale and the
    ReLU of signed pre-activations; dictionary_learning uses ``alpha=1/32``
    with BatchTopK).

    Inputs: ``model_output`` ``latents`` ``[..., n_latents]``,
    ``decoder_weight`` ``[n_latents, d_in]``, optional ``decoder_bias``
    ``[d_in]``, ``pre_activations`` when ``alpha > 0``; ``targets``
    ``activations`` ``[..., d_in]``, ``dead_mask`` when ``alpha > 0``.

    :param group_sizes: consecutive group sizes (each >= 1) summing to
        ``n_latents``; ``None``: prefixes ending at ``n/8, n/4, n/2, n``.
    :param group_weights: one non-negative weight per group; ``None``: ``1/M``.
    :param sparsity_weight: :math:`\lambda`, default 0 (off).
    :param alpha: the AuxK weight, default 0 (off).
    :param k_aux: dead latents decoded per token by AuxK; default ``d_in // 2``.
    :param normalize: AuxK's normalisation, default ``"residual_var"``.
    :param include_bias: add ``decoder_bias`` to AuxK's reconstruction.
    :param dead_scale: multiply AuxK by :math:`\min(n_{dead}/k_{aux}, 1)`.
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction`` (the weighted prefix sum),
        ``reconstruction_full`` (last prefix), ``l1``, ``auxk`` and
        ``dead_fraction`` (when on) and the reconstruction metrics of the
        full reconstruction; auxiliary ``prefix_reconstruction`` (``[M]``,
        detached) and ``reconstruction`` (the full :math:`\hat x`, ``[...,
        d_in]``, with its graph).
    """
    check_leading_dims(NAME, activations, latents=latents, pre_activations=pre_activations)
    x, codes = tokens(activations), tokens(latents)
    n_latents, d_in = codes.shape[-1], x.shape[-1]
    decoder = check_decoder_weight(NAME, decoder_weight, n_latents=n_latents, d_in=d_in)
    sizes, weights = _groups(n_latents, group_sizes, group_weights)

    bias = decoder_bias
    running = torch.zeros_like(x, dtype=decoder.dtype) if bias is None else bias.expand_as(x)
    prefix_terms = []
    groups = zip(torch.split(codes, sizes, dim=-1), torch.split(decoder, sizes, dim=0), strict=True)
    for group_codes, rows in groups:
        running = running + group_codes.to(rows.dtype) @ rows
        prefix_terms.append(reconstruction_per_token(x, running.to(x.dtype), reconstruction).mean())
    prefixes = torch.stack(prefix_terms)
    recon = (prefixes * torch.tensor(weights, dtype=prefixes.dtype, device=prefixes.device)).sum()
    x_hat = running.to(x.dtype)
    total = recon
    if sparsity_weight > 0:
        l1 = torch.linalg.vector_norm(codes, ord=1, dim=-1).mean()
        total = total + sparsity_weight * l1
    else:
        with torch.no_grad():
            l1 = torch.linalg.vector_norm(codes, ord=1, dim=-1).mean()
    metrics = {"reconstruction": recon, "reconstruction_full": prefix_terms[-1], "l1": l1}
    if alpha > 0:
        pre = None if pre_activations is None else tokens(pre_activations)
        config = AuxKConfig(alpha, k_aux, normalize, include_bias, dead_scale)
        aux = auxk_from_inputs(NAME, x, x_hat, pre, decoder, decoder_bias, dead_mask, config)
        total = total + alpha * aux
        metrics["auxk"] = aux
    metrics.update(reconstruction_metrics(x, x_hat, codes))
    if alpha > 0 and dead_mask is not None:  # dead_fraction with AuxK only
        metrics["dead_fraction"] = dead_mask.to(metrics["fvu"].dtype).mean()
    auxiliary = {
        "prefix_reconstruction": prefixes.detach(),
        "reconstruction": x_hat.reshape(activations.shape),
    }
    return loss_result(total, metrics=metrics, auxiliary=auxiliary)
