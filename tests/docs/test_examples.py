"""Every Python and YAML example in README.md and docs/*.md runs as shown.

The blocks of a page run in order in one namespace, in a temporary folder, so
a block may use what an earlier one defined; a block with a title
(```` ```yaml title="config.yaml" ````) is also written to that file first, so
that later blocks can read it. A block that only includes a repository file
(``--8<-- "examples/x.py"``, pymdownx.snippets) runs that file (as a module
that is not ``__main__``) or, for YAML, loads it. A YAML example is a loss
config: every loss in it (top-level ``loss:`` or one per section) is built
with ``loss_from_config``, which validates it strictly.

A block is not run when the HTML comment on the line before its fence says so:

- ``<!-- no-test: REASON -->`` (or a bare ``<!-- no-test -->``): never run;
- ``<!-- requires: MODULE ... -->``: run only where every module imports
  (transformers, lightning, hydra: packages the test environment may lack).

Each block not run here is reported by pytest as a skip with its reason
(``test_example_not_run_here``); a block that imports a missing module without
a ``requires:`` marker fails, naming the marker to add.
"""

from __future__ import annotations

import importlib.util
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_BLOCK = re.compile(
    r"^(?:<!--[ \t]*(?P<marker>[^\n]*?)[ \t]*-->\n)?```(?P<lang>\w+)(?P<attrs>[^\n]*)\n(?P<code>.*?)^```$",
    re.M | re.S,
)
_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.M)
_LANGUAGES = ("python", "yaml")


@dataclass(frozen=True)
class Example:
    """One Python or YAML block of a page."""

    page: str
    line: int
    lang: str
    title: str | None
    code: str
    include: Path | None
    """The repository file the block shows, when the block is only its include line."""
    skip: str | None
    """Why the block is not run in this environment; ``None``: it runs."""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _skip_reason(marker: str | None, where: str) -> str | None:
    if marker is None:
        return None
    if marker == "no-test":
        return "marked no-test"
    if marker.startswith("no-test:"):
        return "marked no-test: " + marker.removeprefix("no-test:").strip()
    if marker.startswith("requires:"):
        modules = marker.removeprefix("requires:").split()
        if not modules:
            raise ValueError(f"{where}: <!-- requires: --> names no module")
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        return f"needs {', '.join(modules)}; not installed: {', '.join(missing)}" if missing else None
    raise ValueError(
        f"{where}: unknown marker <!-- {marker} --> before an example; expected "
        "<!-- no-test: REASON --> or <!-- requires: MODULE ... -->"
    )


def _expand(code: str, root: Path) -> str:
    """``code`` with each pymdownx.snippets include line replaced by the file
    (include paths are relative to ``root``, as mkdocs.yml's ``base_path``)."""
    return _INCLUDE.sub(lambda m: (root / m["path"]).read_text(encoding="utf-8").rstrip("\n"), code)


def page_examples(page: Path, root: Path = ROOT) -> list[Example]:
    """The Python and YAML blocks of ``page`` (a file under ``root``), in order."""
    text = page.read_text(encoding="utf-8")
    name = page.relative_to(root).as_posix()
    found = []
    for match in _BLOCK.finditer(text):
        if match["lang"] not in _LANGUAGES:
            continue
        line = text[: match.start()].count("\n") + 1 + (1 if match["marker"] is not None else 0)
        where = f"{name}:{line}"
        title = re.search(r'title="([^"]+)"', match["attrs"])
        include = _INCLUDE.fullmatch(match["code"].strip())
        found.append(
            Example(
                page=name,
                line=line,
                lang=match["lang"],
                title=title.group(1) if title else None,
                code=_expand(match["code"], root),
                include=root / include["path"] if include else None,
                skip=_skip_reason(match["marker"], where),
            )
        )
    return found


def _all_examples() -> list[Example]:
    return [example for page in PAGES for example in page_examples(page)]


def _build_configs(data: Any, where: str) -> int:
    """Build every loss of a YAML example; returns how many."""
    from losses_core import loss_from_config

    if isinstance(data, dict) and "loss" in data:
        loss_from_config(data)
        return 1
    sections = (
        [k for k, v in data.items() if isinstance(v, dict) and "loss" in v] if isinstance(data, dict) else []
    )
    assert sections, f"{where}: a YAML example that is not a loss config; mark it <!-- no-test: REASON -->"
    for section in sections:
        loss_from_config(data, section=section)
    return len(sections)


def _run(example: Example, namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    if example.lang == "yaml":
        _build_configs(yaml.safe_load(example.code), example.where)
        return
    try:
        if example.include is not None:
            monkeypatch.syspath_prepend(str(example.include.parent))
            runpy.run_path(str(example.include), run_name=f"docs_example_{example.include.stem}")
        else:
            exec(compile(example.code, example.where, "exec"), namespace)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in sys.stdlib_module_names:
            raise
        pytest.fail(
            f"{example.where} imports {error.name}, which is not installed here: if the example needs it, "
            f"mark the block <!-- requires: {error.name} --> (the line before its fence)"
        )


@pytest.fixture
def clean_registry():
    """Undo the runtime registrations and hook plugins a page's code makes."""
    from losses_core.testing import isolated_registry

    with isolated_registry():
        yield


_RUNNABLE_PAGES = [p.relative_to(ROOT).as_posix() for p in PAGES if any(not e.skip for e in page_examples(p))]


@pytest.mark.parametrize("page", _RUNNABLE_PAGES)
def test_examples_on_the_page_run(page, tmp_path, monkeypatch, clean_registry, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "docs_example_" + re.sub(r"\W", "_", Path(page).stem)}
    ran = 0
    for example in page_examples(ROOT / page):
        if example.title:
            target = tmp_path / example.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(example.code, encoding="utf-8")
        if example.skip is None:
            _run(example, namespace, monkeypatch)
            ran += 1
    assert ran, f"{page} has no example to run"


@pytest.mark.parametrize("example", [e for e in _all_examples() if e.skip], ids=lambda e: e.where)
def test_example_not_run_here(example):
    pytest.skip(f"{example.where}: {example.skip}")


def test_the_guide_pages_and_readme_have_examples_that_run():
    runnable = set(_RUNNABLE_PAGES)
    expected = {"README.md", "docs/index.md", "docs/quickstart.md", "docs/config.md", "docs/schedules.md"}
    assert expected <= runnable, expected - runnable


# -- the parser -----------------------------------------------------------------------
def _examples_of(text: str, tmp_path: Path) -> list[Example]:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return page_examples(page, tmp_path)


def test_markers_skip_blocks_with_their_reason(tmp_path):
    (tmp_path / "shown.py").write_text("x = 1\n", encoding="utf-8")
    text = (
        "<!-- no-test: needs a GPU -->\n```python\nrun()\n```\n\n"
        "<!-- requires: json -->\n```python\nimport json\n```\n\n"
        "<!-- requires: json no_such_module_here -->\n```python\nimport no_such_module_here\n```\n\n"
        '```python title="shown.py"\n--8<-- "shown.py"\n```\n\n'
        "```bash\nnot an example\n```\n"
    )
    first, second, third, fourth = _examples_of(text, tmp_path)
    assert (first.skip, first.line) == ("marked no-test: needs a GPU", 2)
    assert second.skip is None
    assert third.skip == "needs json, no_such_module_here; not installed: no_such_module_here"
    assert (fourth.include, fourth.code, fourth.title) == (tmp_path / "shown.py", "x = 1\n", "shown.py")


def test_an_unknown_marker_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"page.md:2: unknown marker <!-- skip-me -->"):
        _examples_of("<!-- skip-me -->\n```python\nx = 1\n```\n", tmp_path)


def test_a_missing_module_asks_for_the_marker(monkeypatch):
    example = Example("page.md", 3, "python", None, "import no_such_module_here\n", None, None)
    with pytest.raises(pytest.fail.Exception, match=r"<!-- requires: no_such_module_here -->"):
        _run(example, {}, monkeypatch)


def test_a_yaml_example_builds_every_section_and_rejects_a_bad_parameter():
    from losses_core import ConfigError

    assert _build_configs({"train": {"loss": {"class": "mse"}}, "val": {"loss": {"class": "mse"}}}, "x") == 2
    with pytest.raises(ConfigError, match="betta"):
        _build_configs({"loss": {"class": "beta_vae", "params": {"betta": 1.0}}}, "x")
    with pytest.raises(AssertionError, match="not a loss config"):
        _build_configs({"jobs": {"test": {}}}, "x")
