"""Every losses-vae loss through losses-core: registry, conformance (gradients,
batch 1, float64, bfloat16, pickling, torch.compile), YAML configs and errors."""

from __future__ import annotations

import pytest
import torch

from losses_core import LOSSES, ConfigError, LossParameterError, loss_from_config
from losses_core._runtime import lookup
from losses_core.testing import assert_conforms, loss_names

NAMES = [
    "VAELoss",
    "elbo",
    "beta_vae",
    "beta_vae_capacity",
    "beta_tcvae",
    "factor_vae",
    "factor_vae_discriminator",
    "dip_vae",
    "info_vae",
    "vq_vae",
    "vq_vae_ema",
    "iwae",
    "free_bits",
]
ALIASES = {
    "vae_loss": "VAELoss",
    "BetaVAELoss": "beta_vae",
    "BetaTCVAELoss": "beta_tcvae",
    "InfoVAELoss": "info_vae",
    "mmd_vae": "info_vae",
    "ELBOLoss": "elbo",
}


def test_the_distribution_registers_exactly_these_losses():
    registered = {name.split("@")[0] for name in loss_names(distribution="losses-vae")}
    assert registered == set(NAMES)
    for alias, name in ALIASES.items():
        assert lookup(alias).name == name


@pytest.mark.parametrize("name", NAMES)
def test_conformance(name):
    """call, finite gradients, missing keys named, batch 1, float64, bfloat16,
    pickling and torch.compile(fullgraph=True, backend="aot_eager")."""
    report = assert_conforms(f"{name}@losses-vae")
    assert all(r.status == "passed" for r in report.results), str(report)


def _example(name, batch_size=3, dtype=torch.float64):
    torch.manual_seed(0)
    return lookup(name).example_inputs(batch_size=batch_size, dtype=dtype)


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
    needs_step = "schedule" in params
    call_kwargs = {"step": 7} if needs_step else {}
    train = loss_from_config(path, section="train")
    val = loss_from_config(path, section="val")
    got_train = train(mo, tg, **call_kwargs)
    got_val = val(mo, tg, **call_kwargs)
    expected = lookup(name).function(mo, tg, **_yaml_params(params), **call_kwargs)
    torch.testing.assert_close(got_train["loss"], expected["loss"])
    torch.testing.assert_close(got_val["loss"], expected["loss"])
    assert torch.isfinite(got_train["loss"])
    # the YAML parameters changed the value: compare with the defaults
    if name != "factor_vae_discriminator":
        default = lookup(name).function(mo, tg, **example_params, **call_kwargs)
        assert not torch.allclose(default["loss"], expected["loss"])


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_in_yaml_and_in_code(name, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"loss:\n  class: {name}\n  params: {{reductoin: sum}}\n")
    with pytest.raises(ConfigError, match="reductoin"):
        loss_from_config(path)
    mo, tg, params = _example(name)
    with pytest.raises(LossParameterError, match="reductoin"):
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
    res = LOSSES[name](extreme, tg, **params)
    assert torch.isfinite(res["loss"]), res
    res["loss"].backward()
    for value in extreme.values():
        if isinstance(value, torch.Tensor) and value.grad is not None:
            assert torch.isfinite(value.grad).all()
