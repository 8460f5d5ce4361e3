"""``SAELoss``: reconstruction plus an L1 penalty on the latents."""

from __future__ import annotations

from typing import Annotated

import torch

from losses_core import LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result
from losses_sae._reconstruction import ReconstructionConvention, reconstruction_per_token, squared_error
from losses_sae._sae_inputs import ACTIVATIONS, LATENTS, X_HAT
from losses_sae._tokens import check_leading_dims, tokens
from losses_sae._toy_sae import Example, model_output, toy_sae
from losses_sae.metrics import reconstruction_metrics

__all__ = ["sae_loss", "sae_loss_example"]

NAME = "SAELoss"


def sae_loss_example(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
    """Example inputs for the conformance checker: a tiny ReLU SAE forward pass."""
    sae = toy_sae(batch_size)
    out = model_output(sae, sae.pre.relu(), dtype, ("reconstruction", "latents"))
    return out, {"activations": sae.x.to(dtype)}, {"sparsity_weight": 0.01}


@register_loss(
    NAME,
    aliases=("sae_loss", "sae_l1"),
    inputs=[X_HAT, LATENTS, ACTIVATIONS],
    example_inputs=sae_loss_example,
)
def sae_loss(
    x_hat: torch.Tensor,
    latents: torch.Tensor,
    activations: torch.Tensor,
    *,
    sparsity_weight: Annotated[float, Range(ge=0)] = 0.01,
    reconstruction: ReconstructionConvention = "sum_mean",
    reduction: Reduction = "mean",
) -> LossReturn | torch.Tensor:
    r"""Sparse-autoencoder loss: reconstruction plus an L1 penalty on the latents.

    Registered as ``SAELoss`` (aliases ``sae_loss``, ``sae_l1``): the
    reconstruction term plus ``sparsity_weight`` times the L1 norm of the
    latents (Bricken et al. 2023, "Towards Monosemanticity"; Cunningham et
    al. 2023).

    .. math::

        L = \frac1T \sum_t \Big( \ell_t + \lambda \lVert f_t \rVert_1 \Big)

    over the :math:`T` tokens (leading dimensions of the inputs flattened),
    with :math:`\ell_t` the per-token reconstruction term of the
    ``reconstruction`` convention (:math:`e_t = \lVert \hat x_t - x_t\rVert^2`):

    - ``"sum_mean"`` (default; SAELens, dictionary_learning): :math:`\ell_t = e_t`,
      i.e. squared error summed over ``d_in`` and averaged over tokens.
    - ``"mean"``: :math:`e_t / d_{in}`, the per-element mean (``F.mse_loss``).
    - ``"normalized"`` (OpenAI): :math:`e_t / \lVert x_t\rVert^2` (0 for a zero
      :math:`x_t`).
    - ``"fvu"`` (sparsify): :math:`T e_t / \sum_s \lVert x_s - \bar x\rVert^2`,
      whose token mean is the fraction of variance unexplained. When the
      batch has zero total variance (one token, or identical tokens) the
      fraction is undefined; the term is then 0, graph-connected with a zero
      gradient, so the loss is :math:`\lambda` times the L1 term alone and
      never NaN or infinite (sparsify would divide by zero). Use
      ``"sum_mean"`` where such batches occur.

    The paper pairs this loss with unit-norm decoder rows (otherwise the L1
    can be shrunk by growing the decoder); see ``sae_l1_decoder_norm`` for the
    unconstrained April-2024 variant.

    Inputs: ``model_output["reconstruction"]`` :math:`\hat x` ``[..., d_in]``
    (input ``x_hat``), ``model_output["latents"]`` :math:`f` ``[...,
    n_latents]`` (post-activation codes), ``targets["activations"]`` :math:`x`
    ``[..., d_in]``; map other keys with ``keys={"x_hat": ...}``.

    :param sparsity_weight: :math:`\lambda`, default 0.01.
    :param reconstruction: ``"sum_mean"`` (default), ``"mean"``,
        ``"normalized"`` or ``"fvu"``.
    :param reduction: ``"mean"`` over tokens (default), ``"sum"`` over tokens,
        or ``"none"``: the bare per-token losses :math:`\ell_t + \lambda\lVert
        f_t\rVert_1` in the activations' leading shape, a tensor (for direct
        calls; registry calls need a 0-dim loss).
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics ``reconstruction``,
        ``l1`` (unweighted), and ``l0``, ``fvu``, ``explained_variance``,
        ``cosine_similarity``, ``l2_ratio``, ``relative_reconstruction_bias``
        (see :mod:`losses_sae.metrics`), all detached.
    """
    check_leading_dims(NAME, activations, latents=latents)
    x, x_hat_t, codes = tokens(activations), tokens(x_hat), tokens(latents)
    error = squared_error(x, x_hat_t)
    recon_t = reconstruction_per_token(x, x_hat_t, reconstruction, error=error)
    if reduction == "none":
        l1_t = torch.linalg.vector_norm(codes, ord=1, dim=-1)
        per_token: torch.Tensor = recon_t + sparsity_weight * l1_t
        return per_token.reshape(activations.shape[:-1])
    recon = reduce(recon_t, reduction)
    # one reduction over every element: cheaper than per-token norms, same value
    l1 = torch.linalg.vector_norm(codes, ord=1)
    if reduction == "mean":
        l1 = l1 / codes.shape[0]
    metrics = {"reconstruction": recon, "l1": l1}
    metrics.update(reconstruction_metrics(x, x_hat_t, codes, squared_error=error))
    return loss_result(recon + sparsity_weight * l1, metrics=metrics)
