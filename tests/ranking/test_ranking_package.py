"""The shape of the losses_ranking package: importing it, or the module of one loss,
imports no other loss module (PEP 562), so looking one loss up imports that
loss only; every public name still resolves, to the loss, not its module."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import losses_ranking

LOSS_MODULES = (
    "approx_ndcg",
    "clip",
    "lambda_loss",
    "listmle",
    "listnet",
    "multi_similarity",
    "neural_ndcg",
    "ntxent",
    "ranknet",
    "siglip",
    "supcon",
    "triplet",
)
"""The modules of the losses the package exports, one loss per module and of
the loss's name."""

SUBMODULES = frozenset({"metrics"})
"""Public names that are modules themselves."""


def _run(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (nothing imported yet)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip()


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``statement``."""
    return set(_run(f"import sys; {statement}; print(*sys.modules)").split())


def test_import_losses_ranking_imports_none_of_its_modules_nor_torch() -> None:
    modules = _modules_after("import losses_ranking")
    assert "torch" not in modules
    assert sorted(m for m in modules if m.startswith("losses_ranking.")) == ["losses_ranking._version"]


def test_importing_one_loss_module_imports_no_other_loss() -> None:
    modules = _modules_after("import losses_ranking.triplet")
    assert {f"losses_ranking.{name}" for name in LOSS_MODULES} & modules == {"losses_ranking.triplet"}


def test_a_loss_stays_the_function_once_its_module_is_imported() -> None:
    # Importing ``losses_ranking.ranknet`` makes the import system set the package's
    # attribute ``ranknet`` to that module; the package keeps the loss there.
    code = (
        "import sys, losses_ranking.ranknet; "
        "from losses_ranking import ranknet; "
        "print(ranknet is sys.modules['losses_ranking.ranknet'].ranknet)"
    )
    assert _run(code) == "True"


def test_every_public_name_resolves_and_dir_lists_them() -> None:
    assert dir(losses_ranking) == losses_ranking.__all__
    for name in losses_ranking.__all__:
        value = getattr(losses_ranking, name)
        if name in SUBMODULES:
            assert value is sys.modules[f"losses_ranking.{name}"], name
        else:
            assert not isinstance(value, types.ModuleType), name
    for name in LOSS_MODULES:
        assert callable(getattr(losses_ranking, name)), name
    with pytest.raises(AttributeError, match="module 'losses_ranking' has no attribute 'no_such_loss'"):
        losses_ranking.no_such_loss  # noqa: B018
