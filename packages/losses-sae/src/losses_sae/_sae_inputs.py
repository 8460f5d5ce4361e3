"""The inputs the SAE losses read, each declared once.

Every loss lists the ones it reads, in the order of its function's
positional parameters (``inputs=[X_HAT, LATENTS, ACTIVATIONS, ...]``). The
default keys are the names, except ``x_hat``, read from
``model_output["reconstruction"]``. An input that only some parameter values
need is declared optional with :func:`optional`, which says when in its doc;
the body raises :class:`losses_core.MissingInputError` naming it when those
values come without it.
"""

from __future__ import annotations

from dataclasses import replace

from losses_core import Input

__all__ = [
    "ACTIVATIONS",
    "AUXK_DEAD_MASK",
    "AUXK_DECODER_BIAS",
    "AUXK_DECODER_WEIGHT",
    "AUXK_PRE_ACTIVATIONS",
    "DEAD_MASK",
    "DECODER_BIAS",
    "DECODER_WEIGHT",
    "LATENTS",
    "PRE_ACTIVATIONS",
    "THRESHOLD",
    "X_HAT",
    "optional",
]

X_HAT = Input(
    "x_hat",
    "model_output",
    key="reconstruction",
    shape="B ... D",
    dtype="float",
    doc="the reconstruction x_hat [..., d_in]",
)
LATENTS = Input(
    "latents",
    "model_output",
    shape="B ... N",
    dtype="float",
    doc="the post-activation codes f [..., n_latents], the activations' leading dimensions",
)
ACTIVATIONS = Input(
    "activations", "targets", like="x_hat", dtype="float", doc="the input activations x [..., d_in]"
)
PRE_ACTIVATIONS = Input(
    "pre_activations",
    "model_output",
    like="latents",
    dtype="float",
    doc="the encoder outputs h before the activation function, the latents' shape",
)
THRESHOLD = Input(
    "threshold",
    "model_output",
    shape="N |",
    dtype="float",
    doc="the JumpReLU threshold theta, [n_latents] or 0-dim",
)
DECODER_WEIGHT = Input(
    "decoder_weight",
    "model_output",
    shape="_ _",
    dtype="float",
    doc="W_dec [n_latents, d_in], one row per latent",
)
DECODER_BIAS = Input(
    "decoder_bias", "model_output", shape="D", dtype="float", optional=True, doc="b_dec [d_in]"
)
DEAD_MASK = Input("dead_mask", "targets", shape="N", dtype="bool", doc="True for dead latents [n_latents]")


def optional(declared: Input, note: str) -> Input:
    """``declared`` as an optional input, with ``note`` (when the loss reads
    it) in parentheses after its doc."""
    return replace(declared, optional=True, doc=f"{declared.doc} ({note})")


AUXK_PRE_ACTIVATIONS = optional(PRE_ACTIVATIONS, "needed when alpha > 0")
AUXK_DECODER_WEIGHT = optional(DECODER_WEIGHT, "needed when alpha > 0")
AUXK_DEAD_MASK = optional(DEAD_MASK, "needed when alpha > 0")
"""The inputs that only the AuxK term reads (``alpha > 0``; see
:func:`losses_sae._auxk.auxk_from_inputs`)."""
AUXK_DECODER_BIAS = optional(DECODER_BIAS, "used only with include_bias")
"""``decoder_bias`` of the losses whose only use of it is AuxK's ``include_bias``."""
