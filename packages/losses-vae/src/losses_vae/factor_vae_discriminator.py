"""``factor_vae_discriminator``: the discriminator objective of FactorVAE."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from losses_core import Input, LossReturn, register_loss
from losses_core.results import loss_result

__all__ = ["factor_vae_discriminator", "factor_vae_discriminator_example"]


def factor_vae_discriminator_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 2]`` logits on real and
    on permuted samples."""
    model_output = {
        "discriminator_logits_real": torch.randn(batch_size, 2).to(dtype).requires_grad_(),
        "discriminator_logits_permuted": torch.randn(batch_size, 2).to(dtype).requires_grad_(),
    }
    return model_output, {}, {}


@register_loss(
    aliases=("FactorVAEDiscriminatorLoss",),
    inputs=[
        Input(
            "real_logits",
            "model_output",
            key="discriminator_logits_real",
            shape="B 2",
            dtype="float",
            doc="D(z.detach()) on posterior samples",
        ),
        Input(
            "permuted_logits",
            "model_output",
            key="discriminator_logits_permuted",
            shape="P 2",
            dtype="float",
            doc="D(permute_dims(z'.detach())) on dimension-wise permuted samples",
        ),
    ],
    example_inputs=factor_vae_discriminator_example,
)
def factor_vae_discriminator(real_logits: torch.Tensor, permuted_logits: torch.Tensor) -> LossReturn:
    r"""FactorVAE's discriminator loss (Kim and Mnih 2018): real versus permuted codes.

    .. math::
        \mathcal L_D = \tfrac12\Big[\tfrac1B\sum_b \mathrm{CE}(D(z_b), 0)
        + \tfrac1{B'}\sum_b \mathrm{CE}(D(\tilde z_b), 1)\Big]

    cross-entropy of the two-logit discriminator on posterior samples
    :math:`z` (class 0, ``model_output["discriminator_logits_real"]``,
    ``[B, 2]``) and on dimension-wise permuted samples :math:`\tilde z` (class 1,
    ``model_output["discriminator_logits_permuted"]``, ``[B', 2]``), each
    averaged over its own batch (map other keys with ``keys={"real_logits":
    ..., "permuted_logits": ...}``). ``targets`` is not read; there are no
    parameters.

    Detach rule: this loss must train the discriminator only, so both inputs
    must be computed from **detached** latents, :math:`D(z.\mathrm{detach}())`
    and :math:`D(\mathrm{permute\_dims}(z'.\mathrm{detach}()))`;
    :func:`losses_vae.factor_vae_discriminator_outputs` builds them so.

    :returns: ``loss``; metrics ``ce_real``, ``ce_permuted``, ``accuracy`` (of
        the discriminator on both sets) and ``tc`` (the TC estimate
        :math:`\overline{D_0(z) - D_1(z)}` on the real samples).
    """
    ce_real = -F.log_softmax(real_logits, dim=1)[:, 0].mean()
    ce_permuted = -F.log_softmax(permuted_logits, dim=1)[:, 1].mean()
    loss = 0.5 * (ce_real + ce_permuted)
    correct = (real_logits[:, 0] >= real_logits[:, 1]).to(loss.dtype).sum() + (
        permuted_logits[:, 1] > permuted_logits[:, 0]
    ).to(loss.dtype).sum()
    accuracy = correct / (real_logits.shape[0] + permuted_logits.shape[0])
    return loss_result(
        loss,
        metrics={
            "ce_real": ce_real,
            "ce_permuted": ce_permuted,
            "accuracy": accuracy,
            "tc": (real_logits[:, 0] - real_logits[:, 1]).mean(),
        },
    )
