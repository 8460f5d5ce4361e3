"""Reading the built documentation site (``site/``, from ``mkdocs build``) and
rendering its pages in headless Chromium, for the ``check_*.py`` tests that
``hatch run docs:check`` runs after building the site.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("LOSSES_DOCS_SITE", ROOT / "site"))
"""The built site: ``site/`` (mkdocs.yml's ``site_dir``), or ``$LOSSES_DOCS_SITE``."""

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_REMOTE = re.compile(r"^(?:(?:https?|ftp|wss?):)?//", re.I)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?P<url>[^'")]*)\1\s*\)|@import\s+(['"])(?P<imported>[^'"]+)\3""")
# rel values of <link> that name a document instead of loading it
_HYPERLINK_RELS = {"canonical", "prev", "next", "alternate", "author", "license", "help", "search", "me"}
# attributes that make a browser fetch, by element
_LOADING = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}


def site() -> Path:
    """The built site's folder; fails when there is none."""
    if not (SITE / "index.html").is_file():
        pytest.fail(
            f"no built site at {SITE}: run `hatch run docs:check` (it builds the site first)", pytrace=False
        )
    return SITE


def html_pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def is_remote(url: str) -> bool:
    """Whether a browser would fetch ``url`` from another host (``http:``,
    ``https:``, protocol-relative ``//``...); ``data:`` and local paths are not."""
    return bool(_REMOTE.match(url.strip()))


def css_urls(css: str) -> list[str]:
    """The ``url()`` and ``@import`` targets of a stylesheet."""
    return [m["url"] if m["url"] is not None else m["imported"] for m in _CSS_URL.finditer(css)]


@dataclass(frozen=True)
class Load:
    """Something a page makes the browser fetch."""

    element: str
    attribute: str
    url: str


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[Load] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and values.get("href"):
            rels = set(values.get("rel", "").lower().split())
            if not rels or not rels <= _HYPERLINK_RELS:  # a <link> without rel counts as a load
                self.loads.append(Load("link", "href", values["href"]))
        for attribute in _LOADING.get(tag, ()):
            value = values.get(attribute)
            if not value:
                continue
            urls = (
                [part.split()[0] for part in value.split(",") if part.strip()]
                if "srcset" in attribute
                else [value]
            )
            self.loads += [Load(tag, attribute, url) for url in urls]
        if "style" in values:
            self.loads += [Load(tag, "style", url) for url in css_urls(values["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.loads += [Load("style", "css", url) for url in css_urls(data)]


def page_loads(html: str) -> list[Load]:
    """What the HTML makes a browser fetch: scripts, stylesheets and other
    ``<link>`` loads (preconnect, icons, fonts), images, frames, media, and
    ``url()``/``@import`` in ``<style>`` elements and ``style`` attributes.
    Hyperlinks (``<a href>``, ``<link rel="canonical">``) are not loads."""
    parser = _Loads()
    parser.feed(html)
    parser.close()
    return [load for load in parser.loads if load.url]


def local_target(source: Path, url: str, root: Path) -> Path | None:
    """The file of ``root`` that the local ``url`` of file ``source`` names,
    or ``None`` for a ``data:``/fragment-only URL."""
    parts = urlsplit(url)
    if parts.scheme or not parts.path:
        return None
    path = unquote(parts.path)
    target = Path(
        os.path.normpath((root / path.lstrip("/")) if path.startswith("/") else (source.parent / path))
    )
    return target / "index.html" if path.endswith("/") else target


def page_of(markdown_page: str, root: Path) -> Path:
    """The HTML file mkdocs writes for a docs page (``use_directory_urls``)."""
    stem = markdown_page.removesuffix(".md")
    return root / ("index.html" if stem == "index" else f"{stem}/index.html")


# -- headless Chromium -------------------------------------------------------------------
def browser() -> str:
    """The Chromium (or Chrome) binary: ``$CHROMIUM``, else the first of
    :data:`BROWSERS` on the PATH; fails with how to install one."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.fail(
            "no headless browser: install Debian's chromium (`apt-get install chromium`) "
            f"or set CHROMIUM to one of {', '.join(BROWSERS)}",
            pytrace=False,
        )
    return found


@dataclass(frozen=True)
class Rendered:
    """A page after a browser ran its scripts."""

    dom: str
    """The serialised DOM (``--dump-dom``)."""
    requests: list[str]
    """The URLs the page asked the network for (not the browser's own requests)."""


def render(page: Path, scratch: Path) -> Rendered:
    """Load ``page`` (a file) in headless Chromium with every host name
    unresolvable, let its scripts run, and return its DOM and the network
    requests it made (from Chromium's NetLog)."""
    netlog = scratch / "netlog.json"
    command = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={scratch / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=10000",
        f"--log-net-log={netlog}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"{command[0]} exited {done.returncode} on {page}:\n{done.stderr[-2000:]}")
    return Rendered(dom=done.stdout, requests=page_requests(netlog))


def page_requests(netlog: Path) -> list[str]:
    """The URLs of the network requests that a page started, from a NetLog
    file: a request the browser makes for itself (updates, time, accounts) has
    the initiator ``not an origin``; one a ``file://`` page makes has the
    page's origin (``null``)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start and "url" in params and params.get("initiator") != "not an origin":
            urls.append(params["url"])
    return urls


_FORMULA = re.compile(r'<(?P<tag>span|div) class="arithmatex">\s*(?P<next><[^>]*>)?')


def formulas(dom: str) -> tuple[int, int]:
    """``(formulas, typeset)``: the arithmatex elements of a rendered DOM, and
    how many of them KaTeX replaced by its rendering (their first child is
    KaTeX's ``katex``/``katex-display`` span)."""
    found = list(_FORMULA.finditer(dom))
    typeset = [m for m in found if m["next"] and re.match(r'<span class="katex(?:-display)?"', m["next"])]
    return len(found), len(typeset)
