"""The shape of the losses_sae package: importing it, or the module of one loss,
imports no other loss module (PEP 562), so looking one loss up imports that
loss only; every public name still resolves, to the loss, not its module."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import losses_sae

LOSS_MODULES = (
    "batch_topk",
    "gated_sae",
    "ghost_grads",
    "jumprelu",
    "jumprelu_target_l0",
    "matryoshka",
    "multi_topk",
    "sae_l1_decoder_norm",
    "sae_loss",
    "topk_auxk",
)
"""The modules of the losses the package exports, one loss per module and of
the loss's name."""

SUBMODULES = frozenset({"activations", "metrics"})
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


def test_import_losses_sae_imports_none_of_its_modules_nor_torch() -> None:
    modules = _modules_after("import losses_sae")
    assert "torch" not in modules
    assert sorted(m for m in modules if m.startswith("losses_sae.")) == ["losses_sae._version"]


def test_importing_one_loss_module_imports_no_other_loss() -> None:
    modules = _modules_after("import losses_sae.jumprelu")
    assert {f"losses_sae.{name}" for name in LOSS_MODULES} & modules == {"losses_sae.jumprelu"}


def test_a_loss_stays_the_function_once_its_module_is_imported() -> None:
    # Importing ``losses_sae.batch_topk`` makes the import system set the package's
    # attribute ``batch_topk`` to that module; the package keeps the loss there.
    code = (
        "import sys, losses_sae.batch_topk; "
        "from losses_sae import batch_topk; "
        "print(batch_topk is sys.modules['losses_sae.batch_topk'].batch_topk)"
    )
    assert _run(code) == "True"


def test_every_public_name_resolves_and_dir_lists_them() -> None:
    assert dir(losses_sae) == losses_sae.__all__
    for name in losses_sae.__all__:
        value = getattr(losses_sae, name)
        if name in SUBMODULES:
            assert value is sys.modules[f"losses_sae.{name}"], name
        else:
            assert not isinstance(value, types.ModuleType), name
    for name in LOSS_MODULES:
        assert callable(getattr(losses_sae, name)), name
    with pytest.raises(AttributeError, match="module 'losses_sae' has no attribute 'no_such_loss'"):
        losses_sae.no_such_loss  # noqa: B018
