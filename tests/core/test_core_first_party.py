"""The catalogue of first-party losses that losses-core ships, so that an
unknown name says which first-party distribution to install.

``python tests/core/test_core_first_party.py`` rewrites the catalogue from the
entry points of the distributions under ``packages/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "packages" / "losses-core" / "src" / "losses_core" / "first_party.json"


def expected_catalogue() -> dict[str, list[str]]:
    """Every name and alias of every first-party plugin: its loss entry points."""
    import tomllib

    catalogue = {}
    for pyproject in sorted(REPO.glob("packages/losses-*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        if project["name"] == "losses-core":
            continue
        entry_points = project["entry-points"]["losses.plugins"]
        names = [name for name, value in entry_points.items() if ":" in value and not value.endswith(".json")]
        catalogue[project["name"]] = sorted(names, key=str.casefold)
    return catalogue


def render(catalogue: dict[str, list[str]]) -> str:
    return json.dumps(catalogue, indent=2) + "\n"


def test_the_catalogue_lists_every_first_party_loss_and_alias():
    pytest.importorskip("tomllib", reason="reads pyproject.toml with tomllib (Python 3.11+)")
    assert CATALOGUE.read_text(encoding="utf-8") == render(expected_catalogue()), (
        "first_party.json is out of date: run `python tests/core/test_core_first_party.py`"
    )
    assert set(expected_catalogue()) >= {"losses-vae", "losses-sae", "losses-ranking", "losses-llm"}


def _unknown_message(name: str, **env: str) -> str:
    code = (
        "from losses_core import LOSSES, UnknownLossError\n"
        f"try:\n    LOSSES[{name!r}]\nexcept UnknownLossError as exc:\n    print(exc)\n"
    )
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOSSES_")} | env
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )
    return proc.stdout


def test_a_loss_of_a_first_party_distribution_that_is_not_loaded_says_what_to_do():
    message = _unknown_message("BetaVAELoss", LOSSES_DISABLE_PLUGINS="losses-vae")
    assert "'BetaVAELoss' is a loss of losses-vae, which is installed but not loaded" in message
    assert "LOSSES_DISABLE_PLUGINS" in message


def test_a_name_no_first_party_distribution_provides_gets_no_install_hint():
    message = _unknown_message("no_such_loss_anywhere")
    assert "unknown loss 'no_such_loss_anywhere'" in message and "pip install" not in message


def test_a_first_party_distribution_that_is_not_installed_is_named_with_its_install_command(monkeypatch):
    from losses_core._plugins import PluginLoader

    loader = PluginLoader()  # catalogues nothing: as if no plugin were installed
    assert loader.first_party_hint("ranknet") == (
        "'ranknet' is a loss of losses-ranking, which is not installed: pip install losses-ranking"
    )
    assert loader.first_party_hint("RankNet").startswith("'RankNet' is a loss of losses-ranking")
    assert loader.first_party_hint("mse") == ""


if __name__ == "__main__":
    CATALOGUE.write_text(render(expected_catalogue()), encoding="utf-8")
    print(f"wrote {CATALOGUE}")
