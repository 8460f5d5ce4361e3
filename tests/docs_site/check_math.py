"""Every formula of the built site is typeset in a real browser, offline.

Each page of ``site/`` with formulas is loaded from its file in headless
Chromium with every host name unresolvable; after its scripts ran, each
``arithmatex`` element (the TeX that pymdownx.arithmatex leaves) must hold
KaTeX's rendering, none may be a KaTeX parse error, and the page must not have
asked the network for anything. Run by ``hatch run docs:check``.
"""

from __future__ import annotations

import pytest
from _built_site import SITE, formulas, html_pages, render, site


def _pages_with_math() -> list[str]:
    if not SITE.is_dir():
        return ["<no built site>"]  # the test then fails, saying how to build it
    return [
        p.relative_to(SITE).as_posix()
        for p in html_pages(SITE)
        if 'class="arithmatex"' in p.read_text("utf-8")
    ]


@pytest.mark.parametrize("page", _pages_with_math())
def test_every_formula_of_the_page_is_typeset_offline(page, tmp_path):
    root = site()
    rendered = render(root / page, tmp_path)
    total, typeset = formulas(rendered.dom)
    static, _ = formulas((root / page).read_text(encoding="utf-8"))
    assert total == static > 0
    assert typeset == total, f"{page}: {typeset} of {total} formulas typeset"
    assert "katex-error" not in rendered.dom, f"{page}: KaTeX could not parse a formula"
    assert rendered.requests == []


def test_the_vae_page_has_its_formulas_typeset():
    assert "losses/losses-vae/index.html" in _pages_with_math()


# -- the checks themselves ---------------------------------------------------------------
def test_a_formula_left_as_tex_and_a_remote_script_are_caught(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><script src="https://cdn.example/math.js"></script></head><body>'
        '<span class="arithmatex">\\(x^2\\)</span>'
        '<span class="arithmatex"><span class="katex">x</span></span></body></html>',
        encoding="utf-8",
    )
    rendered = render(page, tmp_path)
    assert formulas(rendered.dom) == (2, 1)
    assert rendered.requests == ["https://cdn.example/math.js"]
