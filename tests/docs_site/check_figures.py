"""The figures of the built site are the current drawings, embedded with their
alt text and caption on their pages. Run by ``hatch run docs:check`` (drawing
needs matplotlib, which the docs environment has)."""

from __future__ import annotations

import sys
from html.parser import HTMLParser

import pytest
from _built_site import ROOT, local_target, page_of, site

sys.path.insert(0, str(ROOT / "docs" / "_scripts"))
import figures


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str]] = []
        self.captions: list[str] = []
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append({k: v or "" for k, v in attrs})
        elif tag == "figcaption":
            self._caption = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._caption is not None:
            self.captions.append("".join(self._caption).strip())
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._caption is not None:
            self._caption.append(data)


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.name)
def test_the_figure_is_on_its_page_with_alt_text_and_caption(figure):
    root = site()
    page = page_of(figure.page, root)
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    shown = [i for i in parser.images if local_target(page, i.get("src", ""), root) == root / figure.path]
    assert len(shown) == 1, f"{figure.path} is not on {figure.page}"
    assert shown[0].get("alt") == figure.alt
    assert figure.caption in parser.captions


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.name)
def test_the_sites_svg_is_the_current_drawing(figure):
    drawn = (site() / figure.path).read_text(encoding="utf-8")
    assert "<svg" in drawn and "<path" in drawn
    assert drawn == figures.svg(figure), f"{figure.path} differs from a fresh drawing: rebuild the site"
