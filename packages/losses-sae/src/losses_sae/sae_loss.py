"""``SAELoss``: reconstruction plus an L1 penalty on the latents (seed 000)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_sae._inputs import fetch_codes, fetch_reconstruction
from losses_sae._params import check_nonnegative, check_reduction
from losses_sae._reconstruction import check_reconstruction, reconstruction_per_token, squared_error
from losses_sae._result import build_result, reduce_tokens

__all__ = ["sae_loss"]

NAME = "SAELoss"


def sae_loss(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    sparsity_weight: float = 0.01,
    reconstruction: str = "sum_mean",
    reduction: str = "mean",
    reconstruction_key: str = "reconstruction",
    latents_key: str = "latents",
    activations_key: str = "activations",
) -> dict[str, Any] | torch.Tensor:
    r"""Sparse-autoencoder loss, registered as ``SAELoss``: reconstruction plus
    ``sparsity_weight`` times the L1 norm of the latents (Bricken et al. 2023,
    "Towards Monosemanticity"; Cunningham et al. 2023).

    .. math::

        L = \frac1T \sum_t \Big( \ell_t + \lambda \lVert f_t \rVert_1 \Big)

    over the :math:`T` tokens, with :math:`\ell_t` the per-token reconstruction
    term of the ``reconstruction`` convention (:math:`e_t = \lVert \hat x_t -
    x_t\rVert^2`):

    - ``"sum_mean"`` (default; SAELens, dictionary_learning): :math:`\ell_t = e_t`,
      i.e. squared error summed over ``d_in`` and averaged over tokens.
    - ``"mean"``: :math:`e_t / d_{in}`, the per-element mean (``F.mse_loss``).
    - ``"normalized"`` (OpenAI): :math:`e_t / \lVert x_t\rVert^2`.
    - ``"fvu"`` (sparsify): :math:`T e_t / \sum_s \lVert x_s - \bar x\rVert^2`,
      whose token mean is the fraction of variance unexplained.

    The paper pairs this loss with unit-norm decoder rows (otherwise the L1
    can be shrunk by growing the decoder); see ``sae_l1_decoder_norm`` for the
    unconstrained April-2024 variant.

    :param model_output: ``reconstruction`` :math:`\hat x` ``[..., d_in]`` and
        ``latents`` :math:`f` ``[..., n_latents]`` (post-activation codes);
        leading dimensions are flattened to tokens.
    :param targets: ``activations`` :math:`x` ``[..., d_in]``.
    :param sparsity_weight: :math:`\lambda` (seed default 0.01).
    :param reconstruction: ``"sum_mean"``, ``"mean"``, ``"normalized"`` or ``"fvu"``.
    :param reduction: ``"mean"`` over tokens (default), ``"sum"`` over tokens,
        or ``"none"``: the bare per-token losses :math:`\ell_t + \lambda\lVert
        f_t\rVert_1` in the activations' leading shape (for direct calls; the
        registry accepts only scalars).
    :returns: ``{"loss", "metrics", "auxiliary"}``; metrics ``reconstruction``,
        ``l1`` (unweighted), and ``l0``, ``fvu``, ``explained_variance``,
        ``cosine_similarity``, ``l2_ratio``, ``relative_reconstruction_bias``
        (see :mod:`losses_sae.metrics`), all detached.
    """
    weight = check_nonnegative(NAME, "sparsity_weight", sparsity_weight)
    check_reconstruction(NAME, reconstruction)
    check_reduction(NAME, reduction)
    rec = fetch_reconstruction(
        model_output,
        targets,
        loss=NAME,
        reconstruction_key=reconstruction_key,
        activations_key=activations_key,
    )
    latents = fetch_codes(model_output, latents_key, loss=NAME, lead_shape=rec.lead_shape)
    error = squared_error(rec.x, rec.x_hat)
    recon_t = reconstruction_per_token(rec.x, rec.x_hat, reconstruction, error=error)
    if reduction == "none":
        l1_t = torch.linalg.vector_norm(latents, ord=1, dim=-1)
        return reduce_tokens(recon_t + weight * l1_t, reduction, rec.lead_shape)
    recon = reduce_tokens(recon_t, reduction, rec.lead_shape)
    # one reduction over every element: cheaper than per-token norms, same value
    l1 = torch.linalg.vector_norm(latents, ord=1)
    if reduction == "mean":
        l1 = l1 / latents.shape[0]
    return build_result(
        recon + weight * l1,
        {"reconstruction": recon, "l1": l1},
        x=rec.x,
        x_hat=rec.x_hat,
        latents=latents,
        squared_error=error,
    )
