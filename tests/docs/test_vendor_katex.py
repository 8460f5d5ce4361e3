"""The vendored KaTeX (docs/vendor/katex, written by docs/_scripts/vendor_katex.py)
is complete: the stylesheet names only fonts that are there, and the site's
configuration loads KaTeX from it, not from a CDN."""

from __future__ import annotations

import importlib
import io
import re
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "docs" / "_scripts"
VENDORED = ROOT / "docs" / "vendor" / "katex"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
vendor_katex = importlib.import_module("vendor_katex")

_FACE = (
    '@font-face{font-family:KaTeX_AMS;src:url(fonts/KaTeX_AMS-Regular.woff2) format("woff2"),'
    'url(fonts/KaTeX_AMS-Regular.woff) format("woff"),url(fonts/KaTeX_AMS-Regular.ttf) format("truetype")}'
)


def test_woff2_only_keeps_the_woff2_source_of_each_font():
    css = _FACE + ".katex{font:normal 1.21em KaTeX_Main}" + _FACE.replace("AMS", "Main")
    reduced = vendor_katex.woff2_only(css)
    assert re.findall(r"url\(([^)]*)\)", reduced) == [
        "fonts/KaTeX_AMS-Regular.woff2",
        "fonts/KaTeX_Main-Regular.woff2",
    ]
    assert ".katex{font:normal 1.21em KaTeX_Main}" in reduced


def test_woff2_only_rejects_a_font_without_woff2():
    with pytest.raises(ValueError, match="reduced 0 of 1 @font-face"):
        vendor_katex.woff2_only('@font-face{src:url(fonts/a.woff) format("woff")}')


def _tarball(path: Path) -> Path:
    files = {
        "package/LICENSE": b"The MIT License (MIT)\n",
        "package/dist/katex.min.js": b"var katex;",
        "package/dist/katex.min.css": _FACE.encode(),
        "package/dist/katex.css": b"/* not vendored */",
        "package/dist/fonts/KaTeX_AMS-Regular.woff2": b"woff2",
        "package/dist/fonts/KaTeX_AMS-Regular.woff": b"woff",
        "package/dist/contrib/auto-render.min.js": b"// not vendored",
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_vendor_writes_only_what_the_site_needs(tmp_path):
    destination = tmp_path / "katex"
    (destination / "stale").mkdir(parents=True)
    written = vendor_katex.vendor(_tarball(tmp_path / "katex.tgz"), destination)
    names = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())
    assert names == ["LICENSE", "fonts/KaTeX_AMS-Regular.woff2", "katex.min.css", "katex.min.js"]
    assert sorted(p.relative_to(destination).as_posix() for p in written) == names
    assert "woff)" not in (destination / "katex.min.css").read_text(encoding="utf-8")


def test_the_vendored_stylesheet_names_only_vendored_fonts():
    css = (VENDORED / "katex.min.css").read_text(encoding="utf-8")
    urls = re.findall(r"url\(([^)]*)\)", css)
    assert len(urls) == css.count("@font-face") >= 20
    assert all(u.endswith(".woff2") and (VENDORED / u).is_file() for u in urls), urls
    fonts = sorted(p.name for p in (VENDORED / "fonts").iterdir())
    assert fonts == sorted(Path(u).name for u in set(urls))  # no font the stylesheet does not use
    assert "MIT License" in (VENDORED / "LICENSE").read_text(encoding="utf-8")
    assert (VENDORED / "katex.min.js").stat().st_size > 100_000


def test_the_site_configuration_loads_its_assets_from_the_site():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assets = config.get("extra_javascript", []) + config.get("extra_css", [])
    assert "vendor/katex/katex.min.js" in assets and "vendor/katex/katex.min.css" in assets
    for asset in assets:
        path = asset if isinstance(asset, str) else asset["path"]
        assert not re.match(r"^([a-z]+:)?//", path), f"mkdocs.yml loads {path} from outside the site"
        assert (ROOT / "docs" / path).is_file(), path
    assert config["theme"]["font"] is False  # mkdocs-material's default loads Google Fonts
