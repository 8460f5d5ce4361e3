"""Loss names and distribution names: validation, folding, qualifiers.

Nothing here imports torch, so the command line can list and check names from
package metadata alone.
"""

from __future__ import annotations

PROJECT_NAME = "losses"
"""The pluggy project name: hook markers write ``losses_impl``/``losses_spec``."""

ENTRY_POINT_GROUP = "losses.plugins"
"""The entry-point group that installed distributions use to provide plugins."""

QUALIFIER = "@"
"""Separates a loss name from its provider: ``"focal@losses-foo"``. It cannot
appear in a ``"package.module:attr"`` dotted path, so the two never mix."""

RUNTIME_PROVIDER = "runtime"
"""The provider of losses registered from code at runtime."""

CORE_PROVIDER = "losses-core"
"""The provider of the built-in losses."""


def fold_loss_name(name: str) -> str:
    """The case-insensitive form of a loss name, with ``-`` and ``_`` folded."""
    return name.casefold().replace("-", "_")


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Losses_Foo`` → ``losses-foo``):
    lower case, every run of ``-``, ``_`` and ``.`` one ``-``."""
    folded = name.lower().replace("_", "-").replace(".", "-")
    while "--" in folded:
        folded = folded.replace("--", "-")
    return folded


def is_distribution_name(name: str) -> bool:
    """Whether ``name`` is a valid distribution name (the core metadata rule:
    ASCII letters and digits, with ``.``, ``_``, ``-`` inside)."""
    import re

    return re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name) is not None


def check_loss_name(name: object) -> str:
    """Return ``name`` if it is a valid loss name, else raise ``ValueError``."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a loss name must be a non-empty string without surrounding spaces, got {name!r}")
    for forbidden in (QUALIFIER, ":"):
        if forbidden in name:
            raise ValueError(
                f"a loss name cannot contain {forbidden!r} (reserved for 'name@provider' and "
                f"'module:attr' specs), got {name!r}"
            )
    return name


def close_matches(word: str, possibilities: list[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """``difflib.get_close_matches``, imported only when a message needs it."""
    import difflib

    return difflib.get_close_matches(word, possibilities, n=n, cutoff=cutoff)
