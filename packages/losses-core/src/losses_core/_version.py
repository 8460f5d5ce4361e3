"""The version of losses-core (see COMPATIBILITY.md for what it promises)."""

__version__ = "0.3.0"
