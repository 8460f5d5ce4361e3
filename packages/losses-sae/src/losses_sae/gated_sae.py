"""``gated_sae``: the Gated SAE loss (Rajamanoharan et al. 2024a)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.results import loss_result
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token
from losses_sae._sae_inputs import ACTIVATIONS, DECODER_BIAS, DECODER_WEIGHT, LATENTS, PRE_ACTIVATIONS, X_HAT
from losses_sae._tokens import check_decoder_weight, check_leading_dims, tokens
from losses_sae._toy_sae import SEQ, Example, model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["gated_sae", "gated_sae_example"]

NAME = "gated_sae"


def gated_sae_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a Gated SAE whose gate
    pre-activations are the toy pre-activations."""
    sae = toy_sae(batch_size)
    magnitude = torch.randn(batch_size, SEQ, sae.pre.shape[-1])
    latents = (sae.pre > 0).float() * magnitude.relu()
    out = model_output(sae, latents, dtype, ("reconstruction", "pre_activations"))
    return out, {"activations": sae.x.to(dtype)}, {"sparsity_weight": 0.01}


@register_loss(
    aliases=("gated_sae_loss",),
    inputs=[
        X_HAT,
        LATENTS,
        replace(PRE_ACTIVATIONS, doc="the gate pre-activations pi_gate, the latents' shape"),
        DECODER_WEIGHT,
        ACTIVATIONS,
        DECODER_BIAS,
    ],
    example_inputs=gated_sae_example,
)
def gated_sae(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor,
    decoder_weight: torch.Tensor,
    activations: torch.Tensor,
    decoder_bias: torch.Tensor | None = None,
    *,
    sparsity_weight: Annotated[float, Range(ge=0)] = 0.01,
    aux_weight: Annotated[float, Range(ge=0)] = 1.0,
    detach_decoder: bool = True,
    decoder_norm_weighted: bool = False,
    reconstruction: ReconstructionConvention = "sum_mean",
) -> LossReturn:
    r"""Gated SAE loss: reconstruction, gate L1 and the frozen-decoder gate term.

    Registered as ``gated_sae`` (alias ``gated_sae_loss``; Rajamanoharan et
    al. 2024a, "Improving Dictionary Learning with Gated Sparse
    Autoencoders", eq. 8).

    The model computes :math:`\pi_{gate} = W_{gate}(x - b_{dec}) + b_{gate}`,
    :math:`\pi_{mag} = (e^{r_{mag}}\odot W_{gate})(x - b_{dec}) + b_{mag}`,
    :math:`f = \mathbb 1[\pi_{gate} > 0]\odot\mathrm{ReLU}(\pi_{mag})` and
    :math:`\hat x = f W_{dec} + b_{dec}`. The loss is

    .. math::

        L = \frac1T\sum_t\Big(\ell(x_t, \hat x_t)
            + \lambda \lVert \mathrm{ReLU}(\pi_{gate,t})\rVert_1
            + \mu\, \ell\big(x_t, \hat x_{frozen}(\mathrm{ReLU}(\pi_{gate,t}))\big)\Big)

    where :math:`\hat x_{frozen}(g) = g\,\mathrm{sg}(W_{dec}) +
    \mathrm{sg}(b_{dec})` decodes the gate activations through a *frozen*
    (stop-gradient) copy of the decoder, so that the auxiliary term trains
    only the gate path (the paper; dictionary_learning ``GatedSAETrainer``).
    ``detach_decoder=False`` reproduces SAELens, which does not detach;
    ``decoder_norm_weighted=True`` weights the L1 by :math:`\lVert
    W_{dec,i}\rVert_2` as SAELens does (the paper keeps decoder rows at unit
    norm instead). :math:`\ell` is the ``reconstruction`` convention (default
    ``"sum_mean"``, see :func:`losses_sae.sae_loss`) for both reconstruction
    terms.

    Inputs: ``model_output`` ``reconstruction`` (input ``x_hat``) ``[...,
    d_in]``, ``latents`` (the gated codes :math:`f`) and ``pre_activations``
    (:math:`\pi_{gate}`) ``[..., n_latents]``, ``decoder_weight``
    ``[n_latents, d_in]``, optional ``decoder_bias`` ``[d_in]``; ``targets``
    ``activations`` ``[..., d_in]``.

    :param sparsity_weight: :math:`\lambda`, default 0.01.
    :param aux_weight: :math:`\mu`, default 1 (the paper's).
    :param detach_decoder: freeze the decoder in the auxiliary term (default ``True``).
    :param decoder_norm_weighted: weight the gate L1 by the decoder-row norms
        (default ``False``).
    :param reconstruction: the reconstruction convention, default ``"sum_mean"``.
    :returns: metrics ``reconstruction``, ``l1_gate`` (unweighted),
        ``aux_reconstruction`` and the reconstruction metrics. The loss is a
        mean over tokens.
    """
    check_leading_dims(NAME, activations, latents=latents, pre_activations=pre_activations)
    x, x_hat_t, codes = tokens(activations), tokens(x_hat), tokens(latents)
    decoder = check_decoder_weight(NAME, decoder_weight, n_latents=codes.shape[-1], d_in=x.shape[-1])
    gate = tokens(pre_activations).relu()
    if decoder_norm_weighted:
        l1_gate = (gate @ torch.linalg.vector_norm(decoder, dim=1).to(gate.dtype)).mean()
    else:
        l1_gate = torch.linalg.vector_norm(gate, ord=1, dim=-1).mean()
    frozen_w = decoder.detach() if detach_decoder else decoder
    via_gate = gate.to(frozen_w.dtype) @ frozen_w
    if decoder_bias is not None:
        via_gate = via_gate + (decoder_bias.detach() if detach_decoder else decoder_bias)
    recon = reconstruction_per_token(x, x_hat_t, reconstruction).mean()
    aux_recon = reconstruction_per_token(x, via_gate.to(x.dtype), reconstruction).mean()
    metrics = {"reconstruction": recon, "l1_gate": l1_gate, "aux_reconstruction": aux_recon}
    metrics.update(reconstruction_metrics(x, x_hat_t, codes))
    return loss_result(recon + sparsity_weight * l1_gate + aux_weight * aux_recon, metrics=metrics)
