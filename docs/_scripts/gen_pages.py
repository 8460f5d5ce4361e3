"""mkdocs-gen-files script: writes the generated pages into the build.

- ``losses/``: one page per distribution with a section per registered loss,
  an index and the folder's navigation (see :func:`docgen.loss_pages`);
- ``cli.md``: the hand-written CLI reference with every subcommand's help
  filled in from the argument parser (see :func:`docgen.cli_page`);
- ``figures/``: every figure of :data:`figures.FIGURES` as SVG, drawn from
  the packages' own functions and embedded in the loss pages (those of
  hand-written pages are embedded by the pages).

A plugin that fails to import (or is skipped by an environment control) while
the docs build would silently drop its losses from the site, so it is logged as
a warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import mkdocs_gen_files
from mkdocs.structure.files import InclusionLevel

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docgen
import figures

log = logging.getLogger("mkdocs.plugins.losses_docs")


def main() -> None:
    for problem in docgen.plugin_problems():
        log.warning("incomplete loss pages: %s", problem)
    for figure in figures.FIGURES:
        with mkdocs_gen_files.open(figure.path, "w") as image:
            image.write(figures.svg(figure))
    placed = figures.section_figures(figures.FIGURES)
    for path, text in docgen.loss_pages(docgen.collect_losses(), placed).items():
        with mkdocs_gen_files.open(path, "w") as page:
            page.write(text)
    # losses/SUMMARY.md only feeds mkdocs-literate-nav: keep it out of the site.
    summary = mkdocs_gen_files.files.get_file_from_path("losses/SUMMARY.md")
    if summary is not None:
        summary.inclusion = InclusionLevel.EXCLUDED
    template = Path(mkdocs_gen_files.config["docs_dir"], "cli.md").read_text(encoding="utf-8")
    with mkdocs_gen_files.open("cli.md", "w") as page:
        page.write(docgen.cli_page(template))


main()
