"""The built site makes no request outside itself: no page or stylesheet of
``site/`` loads a script, stylesheet, font, image or frame from another host,
and every asset they name locally is in the site (so the vendored KaTeX fonts
and the figures are really there).

Run by ``hatch run docs:check`` after ``mkdocs build`` (not by ``hatch test``:
the file names do not match ``test_*.py``).
"""

from __future__ import annotations

from _built_site import Load, css_urls, html_pages, is_remote, local_target, page_loads, site


def test_no_page_loads_anything_from_outside_the_site():
    root = site()
    remote = [
        f"{page.relative_to(root)}: <{load.element} {load.attribute}> {load.url}"
        for page in html_pages(root)
        for load in page_loads(page.read_text(encoding="utf-8"))
        if is_remote(load.url)
    ]
    assert len(html_pages(root)) > 20
    assert remote == []


def test_no_stylesheet_imports_or_loads_fonts_from_outside_the_site():
    root = site()
    stylesheets = sorted(root.rglob("*.css"))
    remote = [
        f"{css.relative_to(root)}: {url}"
        for css in stylesheets
        for url in css_urls(css.read_text(encoding="utf-8"))
        if is_remote(url)
    ]
    assert any(css.name == "katex.min.css" for css in stylesheets)
    assert remote == []


def test_every_local_asset_of_the_pages_and_stylesheets_is_in_the_site():
    root = site()
    missing = []
    for page in html_pages(root):
        for load in page_loads(page.read_text(encoding="utf-8")):
            target = None if is_remote(load.url) else local_target(page, load.url, root)
            if target is not None and not target.is_file():
                missing.append(f"{page.relative_to(root)}: {load.url}")
    fonts = 0
    for css in root.rglob("*.css"):
        for url in css_urls(css.read_text(encoding="utf-8")):
            target = None if is_remote(url) else local_target(css, url, root)
            fonts += url.endswith(".woff2")
            if target is not None and not target.is_file():
                missing.append(f"{css.relative_to(root)}: {url}")
    assert fonts >= 20  # KaTeX's fonts were among the checked references
    assert missing == []


def test_no_page_uses_a_theme_feature_that_fetches_from_outside():
    # mkdocs-material loads mermaid from a CDN for a page with a diagram, and
    # the repository's facts from GitHub's API when repo_url is set
    root = site()
    found = [
        f"{page.relative_to(root)}: {marker}"
        for page in html_pages(root)
        for marker in ('class="mermaid"', 'data-md-component="source"')
        if marker in page.read_text(encoding="utf-8")
    ]
    assert found == []


# -- the checks themselves ---------------------------------------------------------------
def test_page_loads_finds_every_kind_of_remote_reference():
    html = """<html><head>
      <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
      <link rel="stylesheet" href="//cdn.example/x.css">
      <link rel="canonical" href="https://example.org/page/">
      <script src="https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"></script>
      <style>@import "https://fonts.example/a.css"; .x { background: url(data:image/png;base64,AA) }</style>
    </head><body>
      <a href="https://example.org">a hyperlink is not a load</a>
      <img src="../figures/a.svg" srcset="a.png 1x, https://img.example/b.png 2x" alt="">
      <div style="background: url('https://img.example/c.png')"></div>
    </body></html>"""
    remote = [(load.element, load.url) for load in page_loads(html) if is_remote(load.url)]
    assert remote == [
        ("link", "https://fonts.gstatic.com"),
        ("link", "//cdn.example/x.css"),
        ("script", "https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"),
        ("style", "https://fonts.example/a.css"),
        ("img", "https://img.example/b.png"),
        ("div", "https://img.example/c.png"),
    ]
    assert Load("img", "src", "../figures/a.svg") in page_loads(html)


def test_css_urls_reads_imports_and_urls():
    css = '@import url("https://a.example/x.css");@import "b.css";src:url(fonts/K.woff2) format("woff2")'
    assert css_urls(css) == ["https://a.example/x.css", "b.css", "fonts/K.woff2"]
