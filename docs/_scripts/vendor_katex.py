"""Vendor KaTeX into ``docs/vendor/katex/`` from its npm package tarball.

The site typesets its formulas with the KaTeX files committed there, so that a
built site makes no request outside itself. To update KaTeX::

    npm pack katex@VERSION
    python docs/_scripts/vendor_katex.py katex-VERSION.tgz

and change the version in ``mkdocs.yml``'s comment. Only what a browser needs
is kept: ``katex.min.js``, ``katex.min.css`` with each ``@font-face`` reduced
to its WOFF2 source (every browser KaTeX supports reads WOFF2, so the WOFF and
TrueType fallbacks would be dead weight), the WOFF2 fonts and the LICENSE.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tarfile
from pathlib import Path

DESTINATION = Path(__file__).resolve().parents[1] / "vendor" / "katex"
_FONT_SOURCES = re.compile(
    r"src:(url\([^)]*\.woff2\) format\(\"woff2\"\))(?:,url\([^)]*\) format\(\"[a-z]+\"\))*"
)


def woff2_only(css: str) -> str:
    """``css`` with every ``@font-face`` ``src`` reduced to its WOFF2 ``url()``.

    :raises ValueError: a ``src`` has no WOFF2 source (the stylesheet's layout changed).
    """
    reduced, count = _FONT_SOURCES.subn(r"src:\1", css)
    fonts = css.count("@font-face")
    if count != fonts:
        raise ValueError(f"reduced {count} of {fonts} @font-face rules to WOFF2: KaTeX's stylesheet changed")
    return reduced


def vendor(tarball: Path, destination: Path = DESTINATION) -> list[Path]:
    """Write the files the site needs from the npm ``tarball`` into ``destination``
    (emptied first); returns the written paths."""
    if destination.exists():
        shutil.rmtree(destination)
    (destination / "fonts").mkdir(parents=True)
    written = []
    with tarfile.open(tarball) as archive:

        def read(name: str) -> bytes:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise FileNotFoundError(f"{tarball} has no package/{name}")
            return member.read()

        for name, data in (
            ("LICENSE", read("LICENSE")),
            ("katex.min.js", read("dist/katex.min.js")),
            ("katex.min.css", woff2_only(read("dist/katex.min.css").decode("utf-8")).encode("utf-8")),
        ):
            (destination / name).write_bytes(data)
            written.append(destination / name)
        for member in archive.getmembers():
            if member.isfile() and re.fullmatch(r"package/dist/fonts/[\w-]+\.woff2", member.name):
                path = destination / "fonts" / Path(member.name).name
                path.write_bytes(read(member.name.removeprefix("package/")))
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tarball", type=Path, help="the file `npm pack katex@VERSION` wrote")
    args = parser.parse_args()
    written = vendor(args.tarball)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({size / 1024:.0f} KiB) to {DESTINATION}")


if __name__ == "__main__":
    main()
