"""``factor_vae_discriminator``: the discriminator objective of FactorVAE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from losses_core import LossInputError
from losses_core.inputs import require_tensor

__all__ = ["factor_vae_discriminator"]

NAME = "factor_vae_discriminator"


def _logits(model_output: Mapping[str, Any], key: str) -> torch.Tensor:
    logits = require_tensor(model_output, key, loss=NAME, source="model_output", ndim=2, floating=True)
    if logits.shape[1] != 2:
        raise LossInputError(
            f"{NAME}: model_output[{key!r}] must hold two logits per sample, shape [B, 2], "
            f"got {tuple(logits.shape)}"
        )
    return logits


def factor_vae_discriminator(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    real_logits_key: str = "discriminator_logits_real",
    permuted_logits_key: str = "discriminator_logits_permuted",
) -> dict[str, Any]:
    r"""FactorVAE's discriminator loss (Kim & Mnih 2018), registered as
    ``factor_vae_discriminator``:

    .. math::
        \mathcal L_D = \tfrac12\Big[\tfrac1B\sum_b \mathrm{CE}(D(z_b), 0)
        + \tfrac1{B'}\sum_b \mathrm{CE}(D(\tilde z_b), 1)\Big]

    cross-entropy of the two-logit discriminator on posterior samples
    :math:`z` (class 0, ``model_output[real_logits_key]``, ``[B, 2]``) and on
    dimension-wise permuted samples :math:`\tilde z` (class 1,
    ``model_output[permuted_logits_key]``, ``[B', 2]``), each averaged over its
    own batch. ``targets`` is not read.

    Detach rule: this loss must train the discriminator only, so both inputs
    must be computed from **detached** latents, :math:`D(z.\mathrm{detach}())`
    and :math:`D(\mathrm{permute\_dims}(z'.\mathrm{detach}()))`;
    :func:`losses_vae.factor_vae_discriminator_outputs` builds them so.

    :returns: ``loss``; metrics ``ce_real``, ``ce_permuted``, ``accuracy`` (of
        the discriminator on both sets) and ``tc`` (the TC estimate
        :math:`\overline{D_0(z) - D_1(z)}` on the real samples).
    """
    real = _logits(model_output, real_logits_key)
    permuted = _logits(model_output, permuted_logits_key)
    ce_real = -F.log_softmax(real, dim=1)[:, 0].mean()
    ce_permuted = -F.log_softmax(permuted, dim=1)[:, 1].mean()
    loss = 0.5 * (ce_real + ce_permuted)
    correct = (real[:, 0] >= real[:, 1]).to(real.dtype).sum() + (permuted[:, 1] > permuted[:, 0]).to(
        real.dtype
    ).sum()
    accuracy = correct / (real.shape[0] + permuted.shape[0])
    return {
        "loss": loss,
        "metrics": {
            "ce_real": ce_real.detach(),
            "ce_permuted": ce_permuted.detach(),
            "accuracy": accuracy.detach(),
            "tc": (real[:, 0] - real[:, 1]).mean().detach(),
        },
        "auxiliary": {},
    }
