"""``losses new-plugin``: write a ready-to-publish plugin package."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from losses_core._names import normalize_distribution
from losses_core._version import __version__

_FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$dist"
version = "0.1.0"
description = "Loss functions for the losses ecosystem."
readme = "README.md"
license = "Apache-2.0"
requires-python = ">=3.10"
dependencies = [
  "losses-core>=$core_min,<$core_next",
  "torch>=2.2",
]
classifiers = [
  "Framework :: Pytest",
  "Programming Language :: Python :: 3",
  "Topic :: Scientific/Engineering :: Artificial Intelligence",
]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points."losses.plugins"]
$dist = "$module._plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/$module"]
""",
    "README.md": """\
# $dist

A plugin for [losses](https://github.com/losses-dev/losses): installing it
adds its losses to `losses_core.LOSSES`.

```bash
pip install $dist
losses list '${short}_*'
```

| loss | formula |
|---|---|
| `${short}_huber` | Huber loss, mean over elements (equals `torch.nn.functional.huber_loss`) |

```python
from losses_core import LOSSES
loss = LOSSES["${short}_huber"]({"predictions": pred}, {"target": target}, delta=1.0)
```

Run the tests, including the losses conformance checks: `pip install -e .[test] && pytest`.
""",
    "src/$module/__init__.py": '''\
"""$dist: losses for the losses ecosystem."""

from $module.huber import huber

__all__ = ["huber"]
__version__ = "0.1.0"
''',
    "src/$module/py.typed": "",
    "src/$module/_plugin.py": '''\
"""Registers this package's losses with losses-core (entry point ``losses.plugins``)."""

from __future__ import annotations

from losses_core import LossRegistrar, hookimpl

from $module._examples import huber_example
from $module.huber import huber


@hookimpl
def losses_register(register: LossRegistrar) -> None:
    register("${short}_huber", huber, example_inputs=huber_example)
''',
    "src/$module/huber.py": '''\
"""Huber loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from losses_core import LossParameterError
from losses_core.inputs import check_same_shape, require_tensor


def huber(
    model_output: Mapping[str, Any],
    targets: Mapping[str, Any],
    *,
    delta: float = 1.0,
    prediction_key: str = "predictions",
    target_key: str = "target",
) -> dict[str, Any]:
    r"""Huber loss, registered as ``${short}_huber``, mean over all elements.

    With :math:`e = \\hat y - y`: :math:`\\ell = \\tfrac12 e^2` where
    :math:`|e| \\le \\delta`, else :math:`\\delta(|e| - \\tfrac12\\delta)`.
    Equals ``torch.nn.functional.huber_loss(pred, target, delta=delta)``.
    """
    if delta <= 0:
        raise LossParameterError(f"loss '${short}_huber': delta must be > 0, got {delta!r}")
    name = "${short}_huber"
    pred = require_tensor(model_output, prediction_key, loss=name, source="model_output", floating=True)
    target = require_tensor(targets, target_key, loss=name, source="targets")
    check_same_shape(pred, target, loss=name, names=(prediction_key, target_key))
    error = (pred - target).abs()
    quadratic = torch.clamp(error, max=delta)
    loss = (0.5 * quadratic.square() + delta * (error - quadratic)).mean()
    return {"loss": loss, "metrics": {"mae": error.mean().detach()}}
''',
    "src/$module/_examples.py": '''\
"""Example inputs for the conformance checker."""

from __future__ import annotations

from typing import Any

import torch


def huber_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    pred = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    return {"predictions": pred}, {"target": torch.randn(batch_size, 3, dtype=dtype)}, {"delta": 0.5}
''',
    "tests/test_${module}.py": """\
import pytest
import torch
import torch.nn.functional as F

from losses_core import LOSSES
from losses_core.testing import assert_conforms, loss_names


def test_huber_matches_torch():
    pred, target = torch.randn(5, 3), torch.randn(5, 3)
    out = LOSSES["${short}_huber"]({"predictions": pred}, {"target": target}, delta=0.7)
    torch.testing.assert_close(out["loss"], F.huber_loss(pred, target, delta=0.7))


@pytest.mark.parametrize("name", loss_names(distribution="$dist"))
def test_conformance(name):
    assert_conforms(name)
""",
}


def plugin_names(name: str) -> dict[str, str]:
    """Distribution, module and short names for a plugin called ``name``."""
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
        raise ValueError(f"invalid distribution name {name!r}: use letters, digits, '-', '_' and '.'")
    dist = normalize_distribution(name)
    module = dist.replace("-", "_")
    short = module.removeprefix("losses_") or module
    major, minor = (int(p) for p in __version__.split(".")[:2])
    return {
        "dist": dist,
        "module": module,
        "short": short,
        "core_min": f"{major}.{minor}",
        "core_next": f"{major}.{minor + 1}" if major == 0 else f"{major + 1}",
    }


def write_plugin(name: str, directory: Path) -> Path:
    """Write the plugin package ``name`` into ``directory/<dist>``; return its root.

    :raises FileExistsError: the target folder exists and is not empty.
    """
    values = plugin_names(name)
    root = directory / values["dist"]
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty")
    for relative, text in _FILES.items():
        path = root / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    return root
