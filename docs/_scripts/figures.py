"""The site's figures: what each shows, where it goes, and how it is drawn.

:data:`FIGURES` lists them. ``gen_pages.py`` draws each with matplotlib into
``figures/<name>.svg`` of the build and embeds it (:func:`figure_markdown`,
with alt text and a caption) in the section of the loss it illustrates on the
generated ``losses/<distribution>.md`` pages, or after the page's header when
``section`` is a distribution; a figure of a hand-written page
(``section=None``) is embedded by the page itself. The curves come from
``figure_data``, which calls the packages' own functions.

matplotlib is imported only when a figure is drawn (it is a dependency of the
docs environment alone), so the page generators and their tests can read
:data:`FIGURES` without it.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import figure_data

__all__ = ["FIGURES", "Figure", "figure_markdown", "section_figures", "svg"]

_WIDE = (7.6, 3.0)


@dataclass(frozen=True)
class Figure:
    """One figure of the site."""

    name: str
    """File name without extension: the figure is ``figures/<name>.svg`` in the build."""
    page: str
    """The page that shows it, relative to the docs folder."""
    section: str | None
    """On a generated loss page: the qualified name of the loss whose section
    shows it (``focal@losses-core``), or the distribution's name for the top of
    the page; ``None`` on a hand-written page, which embeds it itself."""
    alt: str
    """What the picture shows, for readers who cannot see it."""
    caption: str
    draw: Callable[[], Any]
    """Returns the matplotlib ``Figure``."""

    @property
    def path(self) -> str:
        """The SVG's path relative to the docs folder."""
        return f"figures/{self.name}.svg"


def figure_markdown(figure: Figure) -> str:
    """The Markdown that embeds ``figure`` (image, alt text, caption) on ``figure.page``."""
    source = posixpath.relpath(figure.path, posixpath.dirname(figure.page) or ".")
    return (
        '<figure markdown="span">\n'
        f"  ![{figure.alt}]({source})\n"
        f"  <figcaption>{figure.caption}</figcaption>\n"
        "</figure>\n"
    )


def section_figures(figures: Iterable[Figure]) -> dict[str, list[str]]:
    """``{section: [markdown, ...]}`` of the figures placed on generated pages,
    for :func:`docgen.loss_pages`."""
    placed: dict[str, list[str]] = {}
    for figure in figures:
        if figure.section is not None:
            placed.setdefault(figure.section, []).append(figure_markdown(figure))
    return placed


def svg(figure: Figure) -> str:
    """``figure`` drawn as SVG text; the same curves give the same bytes (no
    date, fixed element ids)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": figure.name, "font.size": 9}):
        drawn = figure.draw()
        buffer = io.StringIO()
        drawn.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def _axes(columns: int, size: tuple[float, float] = _WIDE) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=size, layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    for ax in axes:
        ax.grid(alpha=0.3)
    return figure, list(axes)


# -- the drawings -------------------------------------------------------------------
def _draw_schedules() -> Any:
    curves = figure_data.schedule_curves()
    figure, (warmup, cyclical, capacity) = _axes(3)
    for ax, key, title, ylabel in (
        (warmup, "linear_warmup", "linear_warmup(t, 2500)", r"factor of $\beta$"),
        (cyclical, "cyclical_annealing", "cyclical_annealing(t, 10000)", r"factor of $\beta$"),
        (capacity, "linear_capacity", "linear_capacity(t, 25, 5000)", "capacity $C$ (nats)"),
    ):
        steps, values = curves[key]
        ax.plot(steps, values, color="C0")
        ax.set_title(title, fontsize=9, family="monospace")
        ax.set_xlabel("training step $t$")
        ax.set_ylabel(ylabel)
    return figure


def _draw_focal() -> Any:
    p_t, curves = figure_data.focal_curves()
    figure, (ax,) = _axes(1, (5.2, 3.4))
    for gamma, loss in curves.items():
        label = rf"$\gamma = {gamma:g}$" + (" (cross-entropy)" if gamma == 0 else "")
        ax.plot(p_t, loss, label=label)
    ax.set_xlabel(r"probability of the true class $p_t$")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.axvspan(0.6, 1.0, color="0.9", zorder=0)
    ax.text(0.8, 4.6, "well classified", ha="center", fontsize=8)
    ax.legend(frameon=False)
    return figure


def _draw_jumprelu() -> Any:
    curves = figure_data.jumprelu_curves()
    theta, eps = curves.threshold, curves.bandwidth
    figure, (forward, backward) = _axes(2)
    forward.plot(curves.z, curves.output, color="C0")
    forward.set_title(r"$\mathrm{JumpReLU}_\theta(z) = z\,H(z-\theta)$")
    backward.plot(
        curves.z, curves.d_output_d_threshold, color="C0", label=r"jumprelu: $-\frac{\theta}{\varepsilon}K$"
    )
    backward.plot(
        curves.z,
        curves.d_step_d_threshold,
        color="C1",
        linestyle="--",
        label=r"heaviside_step: $-\frac{1}{\varepsilon}K$",
    )
    backward.set_title(r"pseudo-derivative in $\theta$")
    backward.legend(frameon=False, loc="center right")
    for ax in (forward, backward):
        ax.axvline(theta, color="0.5", linewidth=0.8)
        ax.axvspan(theta - eps / 2, theta + eps / 2, color="C1", alpha=0.12, zorder=0)
        ax.set_xlabel("pre-activation $z$")
    return figure


def _draw_ndcg() -> Any:
    curves = figure_data.ndcg_discounts()
    figure, (ax,) = _axes(1, (5.2, 3.2))
    ranks, dcg = curves.pop("DCG")
    ax.bar(ranks, dcg, color="0.8", label=r"discount $1/\log_2(1+r)$ (DCG)")
    for (label, (ranks, values)), (marker, size) in zip(curves.items(), (("o", 6), ("s", 3)), strict=False):
        ax.plot(ranks, values, marker=marker, markersize=size, linestyle="none", label=label)
    ax.set_xlabel("rank $r$ of the one relevant item")
    ax.set_ylabel("metric")
    ax.set_xticks(ranks[::2] if len(ranks) > 10 else ranks)
    ax.legend(frameon=False)
    return figure


def _draw_clipping(loss: str, params: dict[str, Any], low: float, high: float) -> Any:
    figure, axes = _axes(2)
    for ax, advantage in zip(axes, (1.0, -1.0), strict=True):
        curve = figure_data.clipped_objective(loss, advantage, params)
        ax.plot(
            curve.ratio, [r * advantage for r in curve.ratio], color="0.6", linestyle=":", label=r"$\rho A$"
        )
        ax.plot(curve.ratio, curve.objective, color="C0", label=f"{loss}: $-\\ell$")
        flat = [r for r, g in zip(curve.ratio, curve.gradient, strict=True) if g == 0]
        if flat:
            ax.axvspan(min(flat), max(flat), color="C3", alpha=0.1, zorder=0, label="clipped: no gradient")
        for bound in (low, high):
            ax.axvline(bound, color="0.4", linewidth=0.8, linestyle="--")
        ax.set_title(f"A = {advantage:+g}")
        ax.set_xlabel(r"ratio $\rho = \pi / \pi_{old}$")
        ax.legend(frameon=False, fontsize=8)
    axes[0].set_ylabel("per-token objective")
    return figure


FIGURES: tuple[Figure, ...] = (
    Figure(
        name="vae-schedules",
        page="schedules.md",
        section=None,
        alt=(
            "Three line plots over 10,000 training steps: linear warm-up rising from 0 to 1 over the "
            "first 2,500 steps then flat; cyclical annealing with four cycles, each rising from 0 to 1 "
            "over its first half then flat at 1; the capacity rising linearly from 0 to 25 nats at step "
            "5,000 then flat."
        ),
        caption=(
            "The schedules of losses_vae.schedules over a 10,000-step run, computed by the functions "
            "themselves."
        ),
        draw=_draw_schedules,
    ),
    Figure(
        name="focal-vs-cross-entropy",
        page="losses/losses-core.md",
        section="focal@losses-core",
        alt=(
            "Loss against the probability of the true class p_t, for gamma 0, 0.5, 1, 2 and 5. Gamma 0 is"
            " cross-entropy; larger gamma pushes the loss of well-classified examples (p_t above 0.6) "
            "towards zero while misclassified examples keep most of theirs."
        ),
        caption=(
            "focal without alpha weighting, one sigmoid prediction, for several gamma; gamma = 0 is "
            "cross-entropy (after Lin et al. 2017, figure 1)."
        ),
        draw=_draw_focal,
    ),
    Figure(
        name="jumprelu-pseudo-gradient",
        page="losses/losses-sae.md",
        section="jumprelu@losses-sae",
        alt=(
            "Left: JumpReLU of z with threshold 0.5 is 0 below the threshold and z above it. Right: the "
            "pseudo-derivative in the threshold is a rectangle of width epsilon = 0.2 centred on the "
            "threshold, of height minus theta over epsilon for jumprelu and minus one over epsilon for "
            "heaviside_step, and 0 elsewhere."
        ),
        caption=(
            "losses_sae.activations.jumprelu and heaviside_step at threshold 0.5, with their "
            "straight-through derivatives in the threshold from autograd; bandwidth 0.2 (the default is "
            "0.001) so that the kernel's window (shaded) is visible."
        ),
        draw=_draw_jumprelu,
    ),
    Figure(
        name="ndcg-discount",
        page="losses/losses-ranking.md",
        section="losses-ranking",
        alt=(
            "Bars of the discount 1 over log2 of 1 plus r for ranks 1 to 20, falling from 1 at rank 1 to "
            "about 0.23 at rank 20; NDCG at 5 follows the bars up to rank 5 and is 0 after it, NDCG at 10"
            " up to rank 10."
        ),
        caption=(
            "The NDCG discount: DCG and NDCG@k of one relevant item placed at rank r, from "
            "losses_ranking.metrics (linear gain). approx_ndcg, neural_ndcg and lambda_loss optimise "
            "smoothed versions of this metric."
        ),
        draw=_draw_ndcg,
    ),
    Figure(
        name="grpo-clipping",
        page="losses/losses-llm.md",
        section="grpo@losses-llm",
        alt=(
            "Two panels of the per-token objective against the ratio pi over pi_old. For advantage +1 it "
            "follows rho A up to 1.28 and is flat above, where the gradient is zero. For advantage -1 it "
            "is flat below 0.8 and follows rho A above it."
        ),
        caption=(
            "grpo's per-token objective (minus the loss), computed by calling the loss on one token's "
            "log-probabilities with epsilon = 0.2 and epsilon_high = 0.28 (DAPO's clip-higher); dashed "
            "lines at 1 - epsilon and 1 + epsilon_high, shaded where autograd gives no gradient."
        ),
        draw=lambda: _draw_clipping("grpo", {"epsilon": 0.2, "epsilon_high": 0.28}, 0.8, 1.28),
    ),
    Figure(
        name="ppo-clipping",
        page="losses/losses-llm.md",
        section="ppo@losses-llm",
        alt=(
            "Two panels of the per-token objective against the ratio pi over pi_old. For advantage +1 it "
            "follows rho A up to 1.2 and is flat above, where the gradient is zero. For advantage -1 it is "
            "flat below 0.8 and follows rho A above it."
        ),
        caption=(
            "ppo's clipped surrogate (minus the policy loss; no values given, so no value loss), computed "
            "by calling the loss on one token's log-probabilities with clip_range = 0.2; dashed lines at "
            "1 - clip_range and 1 + clip_range, shaded where autograd gives no gradient."
        ),
        draw=lambda: _draw_clipping("ppo", {"clip_range": 0.2}, 0.8, 1.2),
    ),
)
"""Every figure of the site."""
