"""Where the site's figures go (docs/_scripts/figures.py): each is embedded, with
alt text and a caption, in the section of the loss it illustrates or on its
hand-written page. Drawing them needs matplotlib, which only the docs
environment has: ``hatch run docs:check`` checks the SVGs of the built site."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "docs" / "_scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
docgen = importlib.import_module("docgen")
figures = importlib.import_module("figures")


@pytest.fixture(scope="module")
def pages():
    return docgen.loss_pages(docgen.collect_losses(), figures.section_figures(figures.FIGURES))


def _section(page: str, heading_id: str) -> str:
    """The text of the ``## `` section with ``heading_id``, up to the next one."""
    start = page.index(f"{{ #{heading_id} }}")
    end = page.find("\n## ", start)
    return page[start : end if end >= 0 else len(page)]


def test_the_figures_cover_what_the_site_illustrates():
    assert {f.name for f in figures.FIGURES} >= {
        "vae-schedules",
        "focal-vs-cross-entropy",
        "jumprelu-pseudo-gradient",
        "ndcg-discount",
        "grpo-clipping",
        "ppo-clipping",
    }
    assert len({f.name for f in figures.FIGURES}) == len(figures.FIGURES)
    for figure in figures.FIGURES:
        assert len(figure.alt.split()) >= 15, f"{figure.name}: the alt text should describe the picture"
        assert figure.caption and "]" not in figure.alt and "\n" not in figure.alt


@pytest.mark.parametrize(
    "figure", [f for f in figures.FIGURES if f.section is not None], ids=lambda f: f.name
)
def test_a_figure_of_a_generated_page_is_in_its_loss_section(figure, pages):
    page = pages[figure.page]
    markdown = figures.figure_markdown(figure)
    assert page.count(markdown) == 1, f"{figure.name} is not on {figure.page}"
    if "@" in figure.section:
        assert markdown in _section(page, docgen.loss_anchor(figure.section.split("@")[0]))
    else:  # the distribution: after the page's header, before the first loss
        assert page.index(markdown) < page.index("\n## ")
    assert f"![{figure.alt}](../{figure.path})" in markdown
    assert f"<figcaption>{figure.caption}</figcaption>" in markdown


@pytest.mark.parametrize("figure", [f for f in figures.FIGURES if f.section is None], ids=lambda f: f.name)
def test_a_figure_of_a_hand_written_page_is_embedded_by_the_page(figure):
    text = (ROOT / "docs" / figure.page).read_text(encoding="utf-8")
    assert figures.figure_markdown(figure).strip() in text


def test_a_figure_for_a_section_that_no_page_has_fails_the_pages():
    docs = docgen.collect_losses()
    with pytest.raises(ValueError, match=re.escape("figures for ['nope@losses-core']")):
        docgen.loss_pages(docs, {"nope@losses-core": ["![x](y.svg)"]})


def test_schedules_page_is_in_the_navigation_and_documents_the_module():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^  - [^:\n]+: schedules\.md$", nav, re.M)
    text = (ROOT / "docs" / "schedules.md").read_text(encoding="utf-8")
    assert "::: losses_vae.schedules\n" in text
    from losses_vae import schedules

    for name in ("linear_warmup", "cyclical_annealing", "linear_capacity"):
        assert name in schedules.__all__ and f"{name}(" in text
