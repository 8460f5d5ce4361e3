"""Every first-party loss passes the conformance checker of losses_core.testing."""

from __future__ import annotations

import pytest

from losses_core.testing import assert_conforms, loss_names

FIRST_PARTY = ("losses-core", "losses-vae", "losses-sae", "losses-ranking", "losses-llm")

# Checks a loss may skip, with the reason. Keep this empty unless a check
# genuinely does not apply; every entry needs a reason.
SKIPS: dict[str, tuple[tuple[str, ...], str]] = {}


def first_party_losses() -> list[str]:
    return [name for dist in FIRST_PARTY for name in loss_names(distribution=dist)]


def test_every_first_party_distribution_registers_losses():
    for dist in FIRST_PARTY:
        assert loss_names(distribution=dist), f"{dist} registers no loss (is it installed?)"


@pytest.mark.parametrize("name", first_party_losses())
def test_conformance(name):
    skip, _reason = SKIPS.get(name, ((), ""))
    assert_conforms(name, skip=skip)
