r"""Docstrings as terminal text (``losses_core._text``): LaTeX formulas as
Unicode, reST inline markup and blocks rendered, and the one summary rule.

Each expected string follows from the rules stated in the module: symbols
become their Unicode characters, font commands their argument, ``\frac``
``a/b`` with non-atomic operands in parentheses, subscripts ``_x`` or
``_(...)``, digit superscripts as superscript characters."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from losses_core import list_losses, register_loss
from losses_core._text import docstring_text, first_sentence, inline_text, math_text, summarize

MARKUP = re.compile(r"\\[A-Za-z]+|:[\w:+.-]+:`|``|^\s*\.\. [\w-]+::", re.M)
"""A LaTeX command, a reST role, a literal or a directive."""


@pytest.mark.parametrize(
    ("formula", "text"),
    [
        (r"\beta\,\mathrm{KL}", "β KL"),  # \, is a space, \mathrm gives its argument
        (r"\mathrm{lse}(x)", "lse(x)"),
        (r"\frac{a}{b}", "a/b"),
        (r"\frac{x + y}{2}", "(x + y)/2"),  # a non-atomic operand gets parentheses
        (r"\frac{1}{B(B-1)}", "1/(B(B-1))"),
        (r"\tfrac12 x", "1/2 x"),  # one-character arguments need no braces
        (r"\sum_c p_c \log q_c", "Σ_c p_c log q_c"),
        (r"\sum_{i=1}^{N} x_i", "Σ_(i=1)^N x_i"),
        (r"x^{2} + y^{-1}", "x² + y⁻¹"),  # digits and signs have superscript characters
        (r"W^\top h", "Wᵀ h"),
        (r"\hat{x}", "x\u0302"),  # a combining circumflex
        (r"\widehat{\mathrm{MMD}}", "hat(MMD)"),  # several letters: named
        (r"\left( a + b \right)^2", "(a + b)²"),  # sizing commands vanish
        (r"\lVert x \rVert_2", "‖x‖_2"),  # no space inside delimiters
        (r"\sum_{i\ne j} k", "Σ_(i ≠ j) k"),  # relations are spaced
        (r"\log\sigma^2", "log σ²"),  # an operator's name is a word
        (r"\frac{1}{2}\log(2\pi)", "1/2 log(2π)"),
        (r"\frac{1}{N}\sum_i \ell_i", "1/N Σ_i ℓ_i"),
        (r"\mathbb{E}_{q}[\mathcal{L}]", "𝔼_q[ℒ]"),
        (r"\text{forward\_kl}: &\ a \\ \text{tvd}: &\ b", "forward_kl: a\ntvd: b"),  # \\ ends a line
        (r"\underbrace{a + b}_{\text{sum}}", "[a + b]_sum"),
        (r"\sqrt{d}", "√d"),
        (r"\operatorname{sg}(p)", "sg(p)"),
    ],
)
def test_math_text_renders_latex_as_unicode(formula: str, text: str) -> None:
    assert math_text(formula) == text


def test_math_text_leaves_no_backslash_even_for_unknown_commands() -> None:
    text = math_text(r"\newfangled{x} + \weird y \\ \{a\} \% \_")
    assert "\\" not in text
    assert text.splitlines() == ["newfangled x + weird y", "{a} % _"]


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (r"with :math:`p_t = \sigma(x)` here", "with p_t = σ(x) here"),
        (
            ":func:`~losses_core.resolve_loss` and :class:`losses_core.LossInfo`",
            "resolve_loss and losses_core.LossInfo",
        ),
        (":ref:`the command line <cli>`", "the command line"),
        ('``reduction="mean"`` is **required**, *really*', 'reduction="mean" is required, really'),
        ("2 * 3 * 4, Kim & Mnih", "2 * 3 * 4, Kim & Mnih"),  # no markup: unchanged
        ("a :math:`x\n  + y` spanning lines", "a x + y spanning lines"),
    ],
)
def test_inline_text_renders_roles_literals_and_emphasis(text: str, plain: str) -> None:
    assert inline_text(text) == plain


DOC = r"""The loss, with :math:`\beta` weighting the KL (Higgins et al. 2017).

.. math::
    \ell = \mathrm{recon} + \beta\,\mathrm{KL}

and inline:

.. math:: L = \frac{1}{N} \sum_i \ell_i

- ``"mean"`` (default): the batch mean of :math:`\ell_b`
  over the batch;
- ``"sum"``: their sum.

An example::

    losses show beta_vae

:param beta: the weight :math:`\beta` of the KL, a long description that
    needs more than one line at sixty columns.
:returns: ``loss``; metrics ``kl``.
"""


def test_docstring_text_renders_every_block() -> None:
    text = docstring_text(DOC, 60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines), text
    assert not MARKUP.search(text), text
    assert lines[0] == "The loss, with β weighting the KL (Higgins et al. 2017)."
    assert "    ℓ = recon + β KL" in lines  # the math block, indented by four
    assert "    L = 1/N Σ_i ℓ_i" in lines  # the one-line form too
    assert '- "mean" (default): the batch mean of ℓ_b over the batch;' in lines  # re-wrapped item
    assert "An example:" in lines and "    losses show beta_vae" in lines  # the literal block, kept
    beta = lines.index(next(line for line in lines if line.startswith("beta: ")))
    assert lines[beta + 1].startswith("    ")  # a field's continuation hangs under it
    assert lines[-1] == "Returns: loss; metrics kl."


def test_docstring_text_folds_a_long_formula_and_keeps_its_indentation() -> None:
    formula = " + ".join(rf"\alpha_{{{i}}} x_{{{i}}}" for i in range(30))
    text = docstring_text(f"Sum.\n\n.. math:: {formula}\n", 40)
    body = text.splitlines()[2:]
    assert len(body) > 1 and all(len(line) <= 40 for line in body)
    assert body[0].startswith("    α_0") and all(line.startswith("        ") for line in body[1:])


@pytest.mark.parametrize(
    "abbreviation", ["sec.", "Sec.", "App.", "e.g.", "i.e.", "et al.", "Eq.", "Fig.", "vs.", "cf."]
)
def test_first_sentence_is_never_cut_at_an_abbreviation(abbreviation: str) -> None:
    doc = f"A loss from {abbreviation} 3 of Smith, J. Doe and others. A second sentence."
    assert first_sentence(doc) == f"A loss from {abbreviation} 3 of Smith, J. Doe and others."


@pytest.mark.parametrize(
    ("doc", "sentence"),
    [
        ("Mean squared error.\n\nMore.", "Mean squared error."),
        ("One. Two.", "One."),
        ("Reads `torch.nn`. then goes on. Stop.", "Reads `torch.nn`. then goes on."),  # lower case continues
        ("Ends at :math:`a. B` here. Next.", "Ends at :math:`a. B` here."),  # not inside markup
        ("The loss\nover two lines. Next.", "The loss over two lines."),
        ("The loss:\n\n.. math:: x", "The loss"),
        ("Which? This one.", "Which?"),
        ("", ""),
    ],
)
def test_first_sentence(doc: str, sentence: str) -> None:
    assert first_sentence(doc) == sentence


def test_summarize_is_the_first_sentence_as_plain_text() -> None:
    doc = r"The :math:`\beta`-VAE loss (Higgins et al. 2017), ``beta`` times the KL. More."
    assert summarize(doc) == "The β-VAE loss (Higgins et al. 2017), beta times the KL."


def test_a_registered_loss_lists_the_summary_of_its_docstring() -> None:
    @register_loss("summary_probe")
    def summary_probe(model_output, targets):  # type: ignore[no-untyped-def]
        r"""Probe from Sec. 3 of the paper, weighted by :math:`\lambda`. Second sentence."""
        return model_output["x"].sum()

    (info,) = list_losses("summary_probe")
    assert info.summary == "Probe from Sec. 3 of the paper, weighted by λ."


def test_one_function_makes_summaries() -> None:
    """Listings, manifests (the generator reads ``LossEntry.summary``) and
    the scaffold all call ``_text.summarize``; no module has its own."""
    core = Path(inspect.getfile(summarize)).parent
    defining = sorted(
        path.name
        for path in core.rglob("*.py")
        if re.search(r"^def (summarize|first_sentence)\(", path.read_text(encoding="utf-8"), re.M)
    )
    assert defining == ["_text.py"]
