"""Tables and lines sized to the terminal (``losses_core._table``)."""

from __future__ import annotations

import os

import pytest

from losses_core._table import CUT_FLOOR, Column, cut, format_table, terminal_width, wrap_line

COLUMNS = [
    Column("NAME"),
    Column("PROVIDER"),
    Column("ALIASES", "wrap"),
    Column("SUMMARY", "cut", label=False),
]
ROWS = [
    [
        "beta_vae_capacity",
        "losses-vae 0.3.0",
        "BetaVAECapacityLoss, annealed_vae",
        "Capacity-controlled " * 5,
    ],
    ["mse", "losses-core 0.3.0", "MSE, l2", "Mean squared error."],
]


def widths(text: str) -> list[int]:
    return [len(line) for line in text.splitlines()]


def test_a_table_that_fits_keeps_its_natural_widths() -> None:
    text = format_table(COLUMNS[:2], [r[:2] for r in ROWS], 80)
    assert text.splitlines() == [
        "NAME               PROVIDER",  # 17 = len("beta_vae_capacity"), then two spaces
        "-----------------  -----------------",
        "beta_vae_capacity  losses-vae 0.3.0",
        "mse                losses-core 0.3.0",
    ]


def test_wrap_columns_narrow_first_then_cut_ones() -> None:
    text = format_table(COLUMNS, ROWS, 100)
    lines = text.splitlines()
    assert max(widths(text)) <= 100
    # the aliases are wrapped at their longest word, "BetaVAECapacityLoss," (20 characters)...
    assert lines[0].index("SUMMARY") - lines[0].index("ALIASES") == 20 + 2
    assert "BetaVAECapacityLoss," in lines[2] and lines[3].split() == ["annealed_vae"]
    # ...and the summary gets the rest of the 100 columns, cut with an ellipsis
    assert len(lines[2]) == 100 and lines[2].endswith("…")
    assert lines[4].split()[:2] == ["mse", "losses-core"] and lines[4].endswith("Mean squared error.")


def test_a_table_too_narrow_for_whole_words_is_stacked() -> None:
    # NAME (17) + PROVIDER (17) + ALIASES' longest word (20) + SUMMARY's floor (30) + gaps > 70
    assert 17 + 17 + 20 + CUT_FLOOR + 6 > 70
    text = format_table(COLUMNS, ROWS, 70)
    lines = text.splitlines()
    assert max(widths(text)) <= 70
    assert lines[:3] == [
        "NAME               PROVIDER",
        "-----------------  -----------------",
        "beta_vae_capacity  losses-vae 0.3.0",
    ]
    assert lines[3] == "    aliases: BetaVAECapacityLoss, annealed_vae"
    assert lines[4].startswith("    Capacity-controlled") and lines[4].endswith("…") and len(lines[4]) == 70
    assert lines[5:] == [
        "mse                losses-core 0.3.0",
        "    aliases: MSE, l2",
        "    Mean squared error.",
    ]


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_names_are_never_cut(width: int) -> None:
    text = format_table(COLUMNS, ROWS, width)
    for row in ROWS:
        assert any(line.startswith(row[0] + " ") for line in text.splitlines())
    if width >= 40:  # the two whole columns fit in 17 + 2 + 17
        assert max(widths(text)) <= width


def test_columns_empty_in_every_row_are_left_out() -> None:
    text = format_table(
        [Column("NAME"), Column("HOOKS", "wrap"), Column("ERROR", "wrap")], [["a", "", ""]], 80
    )
    assert text.splitlines()[0] == "NAME"


def test_wrap_line_hangs_its_continuation_under_its_indentation() -> None:
    text = wrap_line("  broken plugin: losses-foo (losses-foo = losses_foo:losses.json): it failed", 40)
    assert text.splitlines() == [
        "  broken plugin: losses-foo (losses-foo",
        "      = losses_foo:losses.json): it",
        "      failed",
    ]


def test_cut() -> None:
    assert cut("short", 10) == "short"
    assert cut("exactly ten", 11) == "exactly ten"
    assert cut("a summary that is too long", 12) == "a summary t…"
    assert cut("a  b\nc", 10) == "a b c"


def test_terminal_width_reads_columns_then_falls_back_to_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "123")
    assert terminal_width() == 123

    def not_a_terminal(fd: int = 1) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(os, "get_terminal_size", not_a_terminal)
    assert terminal_width() == 80  # piped or redirected output
