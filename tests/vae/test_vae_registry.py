"""Every losses-vae loss through losses-core: names, aliases, provider, declared
inputs (no *_key parameters), conformance, YAML configs and errors."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points

import pytest
import torch

import losses_vae
from losses_core import LOSSES, ConfigError, LossParameterError, list_losses, loss_from_config
from losses_core.testing import assert_conforms, check_manifest

ALIASES = {
    "VAELoss": ("vae_loss",),
    "elbo": ("ELBOLoss", "negative_elbo"),
    "beta_vae": ("BetaVAELoss",),
    "beta_vae_capacity": ("BetaVAECapacityLoss", "annealed_vae"),
    "beta_tcvae": ("BetaTCVAELoss",),
    "factor_vae": ("FactorVAELoss",),
    "factor_vae_discriminator": ("FactorVAEDiscriminatorLoss",),
    "dip_vae": ("DIPVAELoss",),
    "info_vae": ("InfoVAELoss", "mmd_vae"),
    "vq_vae": ("VQVAELoss",),
    "vq_vae_ema": ("VQVAEEMALoss",),
    "iwae": ("IWAELoss",),
    "free_bits": ("FreeBitsLoss",),
}
NAMES = list(ALIASES)
# registered name -> (module, function) in losses_vae: they agree, except the contract name VAELoss
FUNCTIONS = {name: (name, name) for name in NAMES} | {"VAELoss": ("vae_loss", "vae_loss")}


def _vae_infos():
    return {info.name: info for info in list_losses() if info.provider == "losses-vae"}


def test_the_distribution_registers_exactly_these_losses_with_their_aliases():
    infos = _vae_infos()
    assert set(infos) == set(NAMES)
    for name, aliases in ALIASES.items():
        assert infos[name].qualified_name == f"{name}@losses-vae"
        assert tuple(infos[name].aliases) == aliases
        for alias in aliases:
            assert LOSSES[alias].name == name
            assert LOSSES[alias].provider == "losses-vae"


def test_the_entry_point_names_the_packages_manifest():
    (ep,) = [ep for ep in entry_points(group="losses.plugins") if ep.name == "losses-vae"]
    assert ep.value == "losses_vae:losses.json"


def test_the_manifest_matches_the_code():
    assert check_manifest("losses-vae") == []


@pytest.mark.parametrize("name", NAMES)
def test_module_function_and_registered_name_agree(name):
    module_name, function_name = FUNCTIONS[name]
    module = __import__(f"losses_vae.{module_name}", fromlist=[function_name])
    function = getattr(module, function_name)
    assert LOSSES[name].function is function
    assert getattr(losses_vae, function_name) is function
    assert function.__module__ == f"losses_vae.{module_name}"
    assert LOSSES[name].entry.example_inputs is getattr(module, f"{function_name}_example")


@pytest.mark.parametrize("name", NAMES)
def test_docstring_summary_fits_losses_list(name):
    summary, _, body = inspect.getdoc(LOSSES[name].function).partition("\n")
    assert summary.endswith(".") and "``" not in summary and len(summary) <= 80  # `losses list` width
    assert body.startswith("\n"), "the summary is one line followed by a blank line"
    assert _vae_infos()[name].summary == summary  # what `losses list` shows


@pytest.mark.parametrize("name", NAMES)
def test_no_parameter_ends_with_key(name):
    params = inspect.signature(LOSSES[name].function).parameters
    assert [p for p in params if p.endswith("_key")] == []
    assert "keys" in params  # inputs are remapped with keys= instead
    assert LOSSES[name].entry.inputs, "the loss declares its inputs"


@pytest.mark.parametrize("name", NAMES)
def test_conformance(name):
    """call, finite gradients, missing keys named, batch 1, float64, bfloat16,
    pickling and torch.compile(fullgraph=True, backend="aot_eager")."""
    report = assert_conforms(f"{name}@losses-vae")
    assert all(r.status == "passed" for r in report.results), str(report)


def _example(name, batch_size=3, dtype=torch.float64):
    torch.manual_seed(0)
    return LOSSES[name].entry.example_inputs(batch_size=batch_size, dtype=dtype)


YAML_PARAMS = {
    "VAELoss": "{beta: 0.5, reconstruction_weight: 2.0}",
    "elbo": "{likelihood: mse, beta: 1.0, beta_schedule: {schedule: linear_warmup, warmup_steps: 10}}",
    "beta_vae": "{beta: 4.0, beta_schedule: {schedule: cyclical, total_steps: 100, n_cycles: 2}}",
    "beta_vae_capacity": (
        "{gamma: 100.0, capacity: 5.0, capacity_schedule: {schedule: linear, warmup_steps: 50}}"
    ),
    "beta_tcvae": "{dataset_size: 1000, estimator: mws, beta: 2.0}",
    "factor_vae": "{gamma: 6.4}",
    "factor_vae_discriminator": "{}",
    "dip_vae": "{dip_type: ii, lambda_od: 5.0}",
    "info_vae": "{kernel: rbf, alpha: 0.0, lambda_: 10.0, scales: [0.5, 1.0]}",
    "vq_vae": "{beta: 1.0, reconstruction_weight: 2.0, num_embeddings: 5}",
    "vq_vae_ema": "{beta: 0.5, num_embeddings: 5}",
    "iwae": "{likelihood: bernoulli}",
    "free_bits": "{free_bits: 0.25}",
}


def _yaml_params(text):
    import yaml

    return yaml.safe_load(text)


@pytest.mark.parametrize("name", NAMES)
def test_yaml_config_both_shapes(name, tmp_path):
    params = YAML_PARAMS[name]
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"train:\n  loss:\n    class: {name}\n    params: {params}\n"
        f"val:\n  loss:\n    type: {name}\n    kwargs: {params}\n"
    )
    mo, tg, example_params = _example(name)
    call_kwargs = {"step": 7} if "schedule" in params else {}
    got_train = loss_from_config(path, section="train")(mo, tg, **call_kwargs)
    got_val = loss_from_config(path, section="val")(mo, tg, **call_kwargs)
    expected = LOSSES[name].function(mo, tg, **_yaml_params(params), **call_kwargs)
    torch.testing.assert_close(got_train["loss"], expected["loss"])
    torch.testing.assert_close(got_val["loss"], expected["loss"])
    assert torch.isfinite(got_train["loss"])
    # the YAML parameters changed the value: compare with the example's
    if name != "factor_vae_discriminator":
        default = LOSSES[name].function(mo, tg, **example_params, **call_kwargs)
        assert not torch.allclose(default["loss"], expected["loss"])


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_in_yaml_and_in_code(name, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"loss:\n  class: {name}\n  params: {{reductoin: sum}}\n")
    with pytest.raises(ConfigError, match="reductoin"):
        loss_from_config(path)
    mo, tg, params = _example(name)
    with pytest.raises(LossParameterError, match=rf"{name}.*reductoin"):
        LOSSES[name](mo, tg, reductoin="sum", **params)


@pytest.mark.parametrize("name", NAMES)
def test_missing_key_message_names_loss_and_key(name):
    mo, tg, params = _example(name)
    key = next(iter(mo))
    reduced = {k: v for k, v in mo.items() if k != key}
    with pytest.raises(KeyError, match=rf"{name}.*{key}"):
        LOSSES[name](reduced, tg, **params)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_but_finite_inputs_stay_finite(name):
    mo, tg, params = _example(name, batch_size=4, dtype=torch.float32)
    extreme = {}
    for key, value in mo.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            sign = torch.where(torch.arange(value.numel()).reshape(value.shape) % 2 == 0, 1.0, -1.0)
            big = 1e3 if key in ("mu", "z", "z_e", "z_q", "z_prior") else 80.0
            if key == "logvar":
                extreme[key] = (sign * 1e4).requires_grad_()
            else:
                extreme[key] = (sign * big).requires_grad_()
        else:
            extreme[key] = value
    loss = LOSSES[name](extreme, tg, **params)  # a registry call returns the 0-dim loss
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0
    assert torch.isfinite(loss), loss
    loss.backward()
    for value in extreme.values():
        if isinstance(value, torch.Tensor) and value.grad is not None:
            assert torch.isfinite(value.grad).all()
