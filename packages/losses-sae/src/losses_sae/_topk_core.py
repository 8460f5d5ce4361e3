"""The shared body of the TopK-family losses (``topk_auxk``, ``multi_topk``,
``batch_topk``): reconstruction + alpha * AuxK [+ the Multi-TopK term]."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from losses_core import LossReturn
from losses_core.results import loss_result
from losses_sae._auxk import AuxKConfig, auxk_from_inputs
from losses_sae._decode import sparse_decode
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token, squared_error
from losses_sae._tokens import check_decoder_weight, check_leading_dims, tokens
from losses_sae.metrics import min_positive_activation, reconstruction_metrics

__all__ = ["MultiTopK", "topk_family_loss"]


@dataclass(frozen=True)
class MultiTopK:
    """The second TopK reconstruction of ``multi_topk``: its ``k`` and weight."""

    k: int
    weight: float


def topk_family_loss(
    name: str,
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    pre_activations: torch.Tensor | None,
    decoder_weight: torch.Tensor | None,
    decoder_bias: torch.Tensor | None,
    activations: torch.Tensor,
    dead_mask: torch.Tensor | None,
    *,
    reconstruction: ReconstructionConvention,
    auxk: AuxKConfig,
    multi: MultiTopK | None = None,
    batch_threshold: bool = False,
) -> LossReturn:
    """The TopK-family loss of the declared inputs (see ``topk_auxk``).

    ``pre_activations``, ``decoder_weight`` and ``dead_mask`` may be ``None``
    when ``auxk.alpha == 0`` (and, for ``pre_activations`` and
    ``decoder_weight``, without ``multi``); with ``alpha > 0`` a missing one
    raises :class:`losses_core.MissingInputError` naming it. Inputs that are
    given are checked whether or not the call uses them; ``dead_fraction``
    is reported whenever ``dead_mask`` is given.
    """
    check_leading_dims(name, activations, latents=latents, pre_activations=pre_activations)
    x, x_hat_t, codes = tokens(activations), tokens(x_hat), tokens(latents)
    n_latents, d_in = codes.shape[-1], x.shape[-1]
    pre = None if pre_activations is None else tokens(pre_activations)
    decoder = None
    if decoder_weight is not None:
        decoder = check_decoder_weight(name, decoder_weight, n_latents=n_latents, d_in=d_in)
    error = squared_error(x, x_hat_t)
    recon = reconstruction_per_token(x, x_hat_t, reconstruction, error=error).mean()
    total = recon
    metrics = {"reconstruction": recon}
    if auxk.alpha > 0:
        aux = auxk_from_inputs(name, x, x_hat_t, pre, decoder, decoder_bias, dead_mask, auxk)
        total = total + auxk.alpha * aux
        metrics["auxk"] = aux
    if multi is not None:
        # multi_topk declares pre_activations and decoder_weight required
        assert pre is not None and decoder is not None
        values, indices = pre.topk(min(multi.k, n_latents), dim=-1, sorted=False)
        multi_recon = sparse_decode(indices, values.relu(), decoder)
        if decoder_bias is not None:
            multi_recon = multi_recon + decoder_bias
        multi_term = reconstruction_per_token(x, multi_recon.to(x.dtype), reconstruction).mean()
        total = total + multi.weight * multi_term
        metrics["multi_topk_reconstruction"] = multi_term
    metrics.update(reconstruction_metrics(x, x_hat_t, codes, squared_error=error))
    if dead_mask is not None:
        metrics["dead_fraction"] = dead_mask.to(metrics["fvu"].dtype).mean()
    if batch_threshold:
        metrics["min_positive_activation"] = min_positive_activation(codes)
    return loss_result(total, metrics=metrics)
