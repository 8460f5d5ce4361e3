"""Tables and lines sized to the terminal, for the ``losses`` command line.

The width is ``shutil.get_terminal_size()``'s: ``$COLUMNS`` when set, else
the terminal's width, else 80 (output piped or redirected), as ``git`` and
``rich`` do. ``format_table`` fits a table to it: the columns that must stay
whole (names) keep their width, the others are wrapped at spaces (lists of
names) or cut with ``…`` (summaries). When that cannot fit, with no name
broken, each row becomes a line of its whole columns followed by one
indented line per other column (as ``psql``'s ``\\x auto`` does).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

GAP = "  "
"""Between two columns."""

CUT_FLOOR = 30
"""The narrowest a cut column may get in the grid layout: a shorter summary
tells nothing."""

INDENT = "    "
"""Of the lines of the stacked layout under each row."""


def terminal_width() -> int:
    """The width to print at: ``$COLUMNS``, the terminal's, or 80 when
    standard output is not a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` wrapped at spaces (a word longer than a line is broken, the
    last resort), each line prefixed ``first`` then ``rest``."""
    width = max(width, len(first) + 1, len(rest) + 1)
    lines = textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)
    return lines or [first.rstrip()]


def wrap_line(text: str, width: int, hang: int = 4) -> str:
    """One line of a report, wrapped to ``width``: its continuation lines
    indented ``hang`` more than its own leading spaces."""
    indent = text[: len(text) - len(text.lstrip(" "))]
    return "\n".join(_wrap(text.strip(), width, indent, indent + " " * hang))


def cut(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, ``…`` marking a cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)].rstrip() + "…"


@dataclass(frozen=True)
class Column:
    """One column of a table.

    ``fit`` says what happens when the table is too wide: ``"keep"`` (the
    column is never narrowed: names), ``"wrap"`` (wrapped at spaces onto
    more lines: lists of names, messages) or ``"cut"`` (one line, cut with
    ``…``: summaries). ``label``: whether the stacked layout shows the
    column's header before its value.
    """

    header: str
    fit: Literal["keep", "wrap", "cut"] = "keep"
    label: bool = True


def _floor(column: Column, cells: list[str], natural: int) -> int:
    if column.fit == "wrap":
        longest_word = max((len(w) for c in cells for w in c.split()), default=0)
        return max(len(column.header), longest_word)
    return max(len(column.header), min(natural, CUT_FLOOR))


def _fill(naturals: list[int], floors: list[int], room: int) -> list[int]:
    """Widths between each floor and natural width adding up to at most
    ``room`` (the floors when even they do not fit), the widest columns
    narrowed first."""
    low, high = 0, max(naturals, default=0)
    while low < high:  # the largest cap whose widths fit
        cap = (low + high + 1) // 2
        if sum(max(f, min(n, cap)) for n, f in zip(naturals, floors, strict=True)) <= room:
            low = cap
        else:
            high = cap - 1
    widths = [max(f, min(n, low)) for n, f in zip(naturals, floors, strict=True)]
    for index in sorted(range(len(widths)), key=lambda i: -naturals[i]):  # the rest of the room
        if sum(widths) < room and widths[index] < naturals[index]:
            widths[index] += 1
    return widths


def _narrow(
    columns: list[Column], naturals: list[int], floors: dict[int, int], room: int
) -> list[int] | None:
    """The widths of a table ``room`` wide: the ``"wrap"`` columns narrowed
    first (wrapping loses nothing), then the ``"cut"`` ones; ``None`` when
    the floors do not fit."""
    if sum(floors.values()) + sum(n for i, n in enumerate(naturals) if i not in floors) > room:
        return None
    widths = list(naturals)
    for kind in ("wrap", "cut"):
        group = [i for i in floors if columns[i].fit == kind]
        others = sum(w for i, w in enumerate(widths) if i not in group)
        fitted = _fill([naturals[i] for i in group], [floors[i] for i in group], room - others)
        for index, width in zip(group, fitted, strict=True):
            widths[index] = width
    return widths


def _cell_lines(text: str, column: Column, width: int) -> list[str]:
    if column.fit == "wrap":
        return _wrap(text, width)
    if column.fit == "cut":
        return [cut(text, width)]
    return [text]


def _grid(columns: Sequence[Column], rows: list[list[str]], widths: list[int]) -> str:
    lines = [GAP.join(c.header.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append(GAP.join("-" * w for w in widths))
    for row in rows:
        cells = [_cell_lines(t, c, w) for t, c, w in zip(row, columns, widths, strict=True)]
        for index in range(max(len(c) for c in cells)):
            parts = [
                (c[index] if index < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines)


def _stacked(columns: Sequence[Column], rows: list[list[str]], width: int) -> str:
    whole = [i for i, c in enumerate(columns) if c.fit == "keep"]
    widths = [max([len(columns[i].header), *(len(r[i]) for r in rows)]) for i in whole]
    lines = [GAP.join(columns[i].header.ljust(w) for i, w in zip(whole, widths, strict=True)).rstrip()]
    lines.append(GAP.join("-" * w for w in widths))
    for row in rows:
        lines.append(GAP.join(row[i].ljust(w) for i, w in zip(whole, widths, strict=True)).rstrip())
        for index, column in enumerate(columns):
            if index in whole or not row[index]:
                continue
            label = f"{column.header.lower()}: " if column.label else ""
            if column.fit == "cut":
                lines.append(INDENT + cut(label + row[index], width - len(INDENT)))
            else:
                lines += _wrap(row[index], width, INDENT + label, INDENT + " " * len(label))
    return "\n".join(lines)


def format_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> str:
    """``rows`` under the headers of ``columns``, at most ``width`` characters
    wide unless a ``"keep"`` cell alone is wider.

    A column empty in every row (but the first) is left out. The columns
    keep their natural widths when the table fits; otherwise the ``"wrap"``
    and ``"cut"`` columns are narrowed, the widest first, down to their
    longest word (``"wrap"``: no name is broken) or to 30 characters
    (``"cut"``). When even that is too wide, the table is stacked: each row
    is the line of its ``"keep"`` cells (aligned under their headers), then
    one indented line per other non-empty cell, ``header: value``, wrapped
    or cut to the width.
    """
    table = [[" ".join(str(cell).split()) for cell in row] for row in rows]
    shown = [i for i, _ in enumerate(columns) if i == 0 or any(row[i] for row in table)]
    picked = [columns[i] for i in shown]
    table = [[row[i] for i in shown] for row in table]
    naturals = [max([len(c.header), *(len(r[i]) for r in table)]) for i, c in enumerate(picked)]
    if sum(naturals) + len(GAP) * (len(picked) - 1) <= width:
        return _grid(picked, table, naturals)
    floors = {
        i: _floor(c, [r[i] for r in table], naturals[i]) for i, c in enumerate(picked) if c.fit != "keep"
    }
    widths = _narrow(picked, naturals, floors, width - len(GAP) * (len(picked) - 1))
    return _stacked(picked, table, width) if widths is None else _grid(picked, table, widths)


__all__ = ["Column", "cut", "format_table", "terminal_width", "wrap_line"]
