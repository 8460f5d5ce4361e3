"""A griffe extension that makes the project's reST-flavoured docstrings render as Markdown.

The packages write Sphinx-style docstrings (``:param x:``, ``:raises X:``,
``:returns:``), which mkdocstrings parses with ``docstring_style: sphinx``.
Their free text, though, also uses reST constructs that Markdown does not
know and that would otherwise show up verbatim on the site:

- ``:math:`...``` roles and ``.. math::`` directives, turned into
  ``\\( ... \\)`` and ``$$ ... $$`` for ``pymdownx.arithmatex``;
- ``:class:``, ``:func:``, ``:meth:``, ``:mod:``, ``:data:``, ... roles, turned
  into *optional* autorefs: a link where the target is documented on the
  site, plain code where it is not (never a warning);
- literal blocks introduced by ``::``, turned into fenced code;
- definition lists (a term line followed by an indented body), turned into
  Markdown definition lists (``def_list``);
- section titles underlined with ``===``/``---``, turned into bold lines;
- bullet lists that directly follow a paragraph line get the blank line
  Markdown needs.

The conversion is a pure function of the text (:func:`rst_to_markdown`) so it
is unit-tested without mkdocs; the extension applies it to every docstring
once griffe has loaded a package.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

try:  # griffe is only present in the docs environment; the tests use the pure functions
    from griffe import Extension
except ImportError:  # pragma: no cover - exercised only outside the docs environment

    class Extension:  # type: ignore[no-redef]
        """Stand-in base class when griffe is not installed."""


__all__ = ["RstToMarkdown", "rst_to_markdown"]

_ROLE = re.compile(
    r":(?:py:)?(?P<role>math|class|func|meth|mod|data|attr|exc|obj|const|term|ref):`(?P<body>[^`]+)`"
)
_XREF_TITLE = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
_UNDERLINE = re.compile(r"^(=+|-+|~+|\^+|\*+)$")
_LIST_ITEM = re.compile(r"^(?:[-*+]\s|\d+[.)]\s)")
_MATH_DIRECTIVE = re.compile(r"^(?P<pad>\s*)\.\. math::\s*(?P<first>.*)$")
_DIRECTIVE_OPTION = re.compile(r"^:(label|nowrap|name|class):")
_NOT_A_TERM = (":", "$$", "```", ">", "|", "#", "..", "<")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_block(lines: list[str], start: int, base_indent: int) -> tuple[list[str], int]:
    """The block of lines indented deeper than ``base_indent`` from ``start``
    (blank lines inside it included), dedented; and the index after it."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    block: list[str] = []
    while index < len(lines):
        line = lines[index]
        if line.strip() and _indent(line) <= base_indent:
            break
        block.append(line)
        index += 1
    while block and not block[-1].strip():
        block.pop()
        index -= 1
    if not block:
        return [], start
    return textwrap.dedent("\n".join(block)).split("\n"), index


def _equations(body: list[str]) -> list[list[str]]:
    """The equations of a ``.. math::`` body: its groups of lines separated by
    blank lines (Sphinx typesets each as its own display)."""
    equations: list[list[str]] = [[]]
    for line in body:
        if line:
            equations[-1].append(line)
        elif equations[-1]:
            equations.append([])
    return [e for e in equations if e]


def _aligned(equation: list[str]) -> list[str]:
    """``equation`` wrapped in ``aligned`` when it has line breaks (``\\\\``) or
    alignment points (``&``) outside an environment, as Sphinx wraps it (in
    ``split``): a bare ``&`` is an error in KaTeX and MathJax."""
    text = "\n".join(equation)
    if "\\begin{" in text or not re.search(r"\\\\|(?<!\\)&", text):
        return equation
    return ["\\begin{aligned}", *equation, "\\end{aligned}"]


def _code_language(block: list[str]) -> str:
    if all(re.match(r"^\s*(#.*|- .*|[\w.-]+:(\s.*)?)?$", line) for line in block):
        return "yaml"
    if re.search(r"^\s*(from|import|def|class|with|for|@)\b|\w\(|=", "\n".join(block), re.M):
        return "python"
    return "text"


def _qualify(target: str, obj: Any) -> str:
    """Make a relative reference (``reset``, ``MetricsCollector.reset``)
    absolute by looking it up in the enclosing scopes of ``obj``."""
    if obj is None:
        return target
    first = target.split(".", 1)[0]
    try:
        scope = obj if (obj.is_class or obj.is_module) else obj.parent
        while scope is not None:
            if first in scope.members:
                return f"{scope.path}.{target}"
            scope = scope.parent
    except Exception:  # alias resolution and the like: keep the reference as written
        return target
    return target


def _convert_role(match: re.Match[str], obj: Any) -> str:
    role, body = match["role"], match["body"]
    if role == "math":
        return r"\(" + re.sub(r"\s*\n\s*", " ", body.strip()) + r"\)"
    titled = _XREF_TITLE.match(body)
    if titled:
        title, target = titled["title"], titled["target"].strip()
    else:
        target = body.strip()
        short = target.startswith("~")
        target = target.lstrip("~").lstrip(".")
        title = target.rsplit(".", 1)[-1] if short else target
        if role in ("func", "meth"):
            title += "()"
    identifier = _qualify(target, obj)
    return f'<autoref identifier="{identifier}" optional>`{title}`</autoref>'


def _convert_blocks(lines: list[str]) -> list[str]:
    """``.. math::`` directives, ``::`` literal blocks and underlined titles."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        math = _MATH_DIRECTIVE.match(line)
        if math:
            pad = math["pad"]
            block, index = _take_block(lines, index + 1, len(pad))
            body = [b.strip() for b in ([math["first"]] if math["first"].strip() else []) + block]
            nowrap = any(b.startswith(":nowrap:") for b in body)
            body = [b for b in body if not _DIRECTIVE_OPTION.match(b)]
            if out and out[-1].strip():
                out.append("")
            for equation in _equations(body):
                lines_of = equation if nowrap else _aligned(equation)
                out += [f"{pad}$$", *(f"{pad}{b}" for b in lines_of), f"{pad}$$", ""]
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            block, after = _take_block(lines, index + 1, _indent(line))
            if block:
                pad = " " * _indent(line)
                text = stripped[:-2]
                if text.strip():
                    out.append(pad + (text.rstrip() if text.endswith(" ") else text + ":"))
                    out.append("")
                fence = f"{pad}```"
                out += [fence + _code_language(block), *(pad + b if b else b for b in block), fence]
                index = after
                continue
        nxt = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            stripped
            and _indent(line) == 0
            and _UNDERLINE.match(nxt.strip())
            and len(nxt.strip()) >= len(stripped)
            and _indent(nxt) == 0
        ):
            if out and out[-1].strip():
                out.append("")
            out += [f"**{stripped}**", ""]
            index += 2
            continue
        out.append(line)
        index += 1
    return out


def _is_term(lines: list[str], index: int, previous_blank: bool, in_definition: int | None) -> bool:
    line = lines[index]
    stripped = line.strip()
    if not stripped or stripped.startswith(_NOT_A_TERM) or _LIST_ITEM.match(stripped):
        return False
    indent = _indent(line)
    if not (previous_blank or (in_definition is not None and in_definition == indent)):
        return False
    nxt = lines[index + 1] if index + 1 < len(lines) else ""
    return bool(nxt.strip()) and _indent(nxt) > indent


def _convert_definitions(lines: list[str]) -> list[str]:
    """reST definition lists (term, then an indented body) and list spacing."""
    out: list[str] = []
    index = 0
    fenced = False
    in_definition: int | None = None
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if stripped.startswith("```") or stripped == "$$":
            fenced = not fenced
            out.append(line)
            index += 1
            continue
        if fenced:
            out.append(line)
            index += 1
            continue
        previous_blank = not out or not out[-1].strip()
        if _is_term(lines, index, previous_blank, in_definition):
            indent = _indent(line)
            body, after = _take_block(lines, index + 1, indent)
            pad = " " * indent
            if out and out[-1].strip():
                out.append("")
            out.append(line)
            out.append(f"{pad}:   {body[0]}")
            out += [f"{pad}    {b}" if b.strip() else "" for b in body[1:]]
            index = after
            in_definition = indent
            continue
        if stripped:
            in_definition = None
        if (
            _LIST_ITEM.match(stripped)
            and out
            and out[-1].strip()
            and _indent(out[-1]) == _indent(line)
            and not _LIST_ITEM.match(out[-1].strip())
        ):
            out.append("")
        out.append(line)
        index += 1
    return out


def rst_to_markdown(text: str, obj: Any = None) -> str:
    """Convert the reST constructs of a docstring to Markdown (see the module docstring).

    :param text: a cleaned (dedented) docstring.
    :param obj: the griffe object the docstring belongs to, used to make
        relative cross-references absolute; optional.
    """
    text = _ROLE.sub(lambda m: _convert_role(m, obj), text)
    lines = _convert_blocks(text.split("\n"))
    return "\n".join(_convert_definitions(lines)).rstrip() + ("\n" if text.endswith("\n") else "")


class RstToMarkdown(Extension):
    """Rewrite every docstring of a loaded package with :func:`rst_to_markdown`."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[int] = set()

    def _convert(self, obj: Any) -> None:
        if getattr(obj, "is_alias", False):
            return
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and docstring.value and id(docstring) not in self._done:
            self._done.add(id(docstring))
            docstring.value = rst_to_markdown(docstring.value, obj)

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        self._convert(obj)

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        # on_object does not see the root module of a package
        self._convert(pkg)
