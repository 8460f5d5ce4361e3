"""Every first-party package of losses is lazy (``losses_core.lazy``):
importing it, or the module of one loss, imports no other loss module (nor
torch, from the package itself), so a lookup imports that loss only; every
public name resolves, to the loss and not to its module."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

# package, one loss module with the loss of its name, the loss modules of the package
PACKAGES = {
    "losses_core.losses": ("mse", ("contrastive", "focal", "margin_ranking", "mse", "token_ce")),
    "losses_vae": (
        "iwae",
        ("beta_tcvae", "beta_vae", "beta_vae_capacity", "dip_vae", "elbo", "factor_vae",
         "factor_vae_discriminator", "free_bits", "info_vae", "iwae", "vae_loss", "vq_vae", "vq_vae_ema"),
    ),
    "losses_sae": (
        "jumprelu",
        ("batch_topk", "gated_sae", "ghost_grads", "jumprelu", "jumprelu_target_l0", "matryoshka",
         "multi_topk", "sae_l1_decoder_norm", "sae_loss", "topk_auxk"),
    ),
    "losses_ranking": (
        "triplet",
        ("approx_ndcg", "clip", "lambda_loss", "listmle", "listnet", "multi_similarity", "neural_ndcg",
         "ntxent", "ranknet", "siglip", "supcon", "triplet"),
    ),
    "losses_llm": (
        "dpo",
        ("causal_lm", "cpo", "dft", "distillation", "dpo", "entropy_regularized_ce", "grpo", "kto",
         "moe_load_balancing", "orpo", "ppo", "router_z_loss", "simpo", "z_loss"),
    ),
}  # fmt: skip


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has imported after ``statement``."""
    code = f"import sys; {statement}; print(*sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_importing_the_package_imports_none_of_its_loss_modules(package: str) -> None:
    modules = _modules_after(f"import {package}")
    loaded = {m for m in modules if m.startswith(f"{package}.")}
    assert loaded <= {f"{package}._version"}
    if package != "losses_core.losses":
        assert "torch" not in modules


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_importing_one_loss_module_imports_no_other_loss_module(package: str) -> None:
    one, losses = PACKAGES[package]
    modules = _modules_after(f"import {package}.{one}")
    assert {f"{package}.{name}" for name in losses} & modules == {f"{package}.{one}"}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_loss_stays_the_function_once_its_module_is_imported(package: str) -> None:
    one, _ = PACKAGES[package]
    code = (
        f"import sys, {package}.{one}; from {package} import {one}; "
        f"print({one} is sys.modules['{package}.{one}'].{one})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_public_name_resolves_and_dir_lists_them(package: str) -> None:
    module = importlib.import_module(package)
    assert dir(module) == module.__all__
    _, losses = PACKAGES[package]
    for name in module.__all__:
        value = getattr(module, name)
        assert callable(value) or isinstance(value, (types.ModuleType, str)), name
    for name in losses:
        assert callable(getattr(module, name)) and not isinstance(getattr(module, name), types.ModuleType)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_loss'"):
        getattr(module, "no_such_loss")  # noqa: B009
