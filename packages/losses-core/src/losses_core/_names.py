"""Name normalisation shared by the registry, the plugin loader and the CLI."""

from __future__ import annotations

import re

QUALIFIER = "@"
"""Separates a loss name from its provider: ``"focal@losses-foo"``. It cannot
appear in a ``"package.module:attr"`` dotted path, so the two never mix."""

RUNTIME_PROVIDER = "runtime"
"""The provider of losses registered from code at runtime."""

CORE_PROVIDER = "losses-core"
"""The provider of the built-in losses."""

_DIST_SEPARATORS = re.compile(r"[-_.]+")


def fold_loss_name(name: str) -> str:
    """The case-insensitive form of a loss name, with ``-`` and ``_`` folded."""
    return name.casefold().replace("-", "_")


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Losses_Foo`` → ``losses-foo``)."""
    return _DIST_SEPARATORS.sub("-", name).lower()


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
