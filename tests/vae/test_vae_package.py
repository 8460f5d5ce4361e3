"""The shape of the losses_vae package: importing it, or the module of one loss,
imports no other loss module (PEP 562), so looking one loss up imports that
loss only; every public name still resolves, to the loss, not its module."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import losses_vae

LOSS_MODULES = (
    "beta_tcvae",
    "beta_vae",
    "beta_vae_capacity",
    "dip_vae",
    "elbo",
    "factor_vae",
    "factor_vae_discriminator",
    "free_bits",
    "info_vae",
    "iwae",
    "vae_loss",
    "vq_vae",
    "vq_vae_ema",
)
"""The modules of the losses the package exports, one loss per module and of
the loss's name."""


def _run(code: str) -> str:
    """What ``code`` prints in a fresh interpreter (nothing imported yet)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout.strip()


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``statement``."""
    return set(_run(f"import sys; {statement}; print(*sys.modules)").split())


def test_import_losses_vae_imports_none_of_its_modules_nor_torch() -> None:
    modules = _modules_after("import losses_vae")
    assert "torch" not in modules
    assert sorted(m for m in modules if m.startswith("losses_vae.")) == ["losses_vae._version"]


def test_importing_one_loss_module_imports_no_other_loss() -> None:
    modules = _modules_after("import losses_vae.iwae")
    assert {f"losses_vae.{name}" for name in LOSS_MODULES} & modules == {"losses_vae.iwae"}


def test_a_loss_stays_the_function_once_its_module_is_imported() -> None:
    # Importing ``losses_vae.beta_vae`` makes the import system set the package's
    # attribute ``beta_vae`` to that module; the package keeps the loss there.
    code = (
        "import sys, losses_vae.beta_vae; "
        "from losses_vae import beta_vae; "
        "print(beta_vae is sys.modules['losses_vae.beta_vae'].beta_vae)"
    )
    assert _run(code) == "True"


def test_every_public_name_resolves_and_dir_lists_them() -> None:
    assert dir(losses_vae) == losses_vae.__all__
    for name in losses_vae.__all__:
        value = getattr(losses_vae, name)
        assert not isinstance(value, types.ModuleType), name
    for name in LOSS_MODULES:
        assert callable(getattr(losses_vae, name)), name
    with pytest.raises(AttributeError, match="module 'losses_vae' has no attribute 'no_such_loss'"):
        losses_vae.no_such_loss  # noqa: B018
