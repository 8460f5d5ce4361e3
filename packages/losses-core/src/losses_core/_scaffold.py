"""``losses new-plugin``: write a ready-to-publish plugin package.

The package is a static plugin: an entry point per loss name, and one naming
its manifest, ``losses.json``, both written by :func:`write_plugin` from the
same data as the example loss (its name, module and summary), so that they
equal what ``losses manifest`` generates from the scaffolded code.
"""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path
from string import Template

from losses_core._manifest import MANIFEST_FILE, Manifest
from losses_core._registry import normalize_distribution, summarize
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
  "Typing :: Typed",
]

[project.optional-dependencies]
test = ["pytest", "ruff"]

# One entry point per loss name (and alias) naming the object to import, and
# one naming the manifest, src/$module/losses.json, which gives each loss's
# summary: losses-core lists and finds the losses without importing anything,
# and imports a loss's module when the loss is first looked up. After adding,
# renaming or removing a loss, or changing its aliases or the first sentence
# of its docstring, run `losses manifest $module --write` (it rewrites this
# table and losses.json), reinstall, and commit both.
[project.entry-points."losses.plugins"]
${short}_huber = "$module.${short}_huber:${short}_huber"
$dist = "$module:losses.json"

[tool.hatch.build.targets.wheel]
packages = ["src/$module"]

[tool.ruff]
line-length = 110
target-version = "py310"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "TID251"]

# Only losses-core's public API is stable (losses_core, losses_core.inputs,
# .params, .reduction, .results, .testing, .config, .hookspecs, .builtin_hooks,
# .losses); its private modules (losses_core._*) may change in any release.
[tool.ruff.lint.flake8-tidy-imports.banned-api]
$banned_api
""",
    "README.md": """\
# $dist

A plugin for [losses](https://github.com/losses-dev/losses): installing it
adds its losses to `losses_core.LOSSES`, `resolve_loss` and config files.

```bash
pip install $dist
losses list '${short}_*'
```

| loss | formula |
|---|---|
| `${short}_huber` | Huber loss, mean over elements (equals `torch.nn.functional.huber_loss`) |

```python
from losses_core import LOSSES, resolve_loss

loss = LOSSES["${short}_huber"]({"predictions": pred}, {"target": target}, delta=1.0)  # 0-dim tensor
result = resolve_loss("${short}_huber", delta=1.0)({"predictions": pred}, {"target": target})
print(result["loss"], result["metrics"]["mae"])
```

Develop with `pip install -e '.[test]'`, then run `pytest` (value tests, the
losses conformance checks and the manifest check) and `ruff check .` (which
also rejects imports of losses-core's private modules).

The `losses.plugins` entry points in `pyproject.toml` (one per loss name) and
`src/$module/losses.json` (each loss's summary) declare the losses, so that
losses-core finds them without importing this package. After adding, renaming
or removing a loss, or changing its aliases or the first sentence of its
docstring, regenerate both with `losses manifest $module --write`, reinstall,
and commit them (`losses manifest $module --check` tells whether they are
current).
""",
    "src/$module/__init__.py": '''\
"""$dist: losses for the losses ecosystem.

The ``losses.plugins`` entry points declare each loss (and the manifest,
``$module/losses.json``, its summary): losses-core finds the losses there
without importing any code. Each loss lives in its own module, whose ``@register_loss``
declaration registers the loss, imported when the loss is first looked up
(``LOSSES["${short}_huber"]``) or when its name is first used from this package
(PEP 562): the functions are importable here too, and ``import $module``
imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from losses_core.lazy import export_lazily

if TYPE_CHECKING:
    from $module.${short}_huber import ${short}_huber

__version__ = "0.1.0"

__all__ = ["${short}_huber"]

# exported name -> the module of this package that defines it
export_lazily(__name__, {"${short}_huber": "${short}_huber"})
''',
    "src/$module/py.typed": "",
    "src/$module/${short}_huber.py": '''\
"""``${short}_huber``: the Huber loss."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from losses_core import Input, LossReturn, Range, register_loss
from losses_core.reduction import Reduction, reduce
from losses_core.results import loss_result

__all__ = ["${short}_huber", "${short}_huber_example"]


def ${short}_huber_example(
    batch_size: int = 4, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Example inputs for the conformance checker: ``[B, 3]`` predictions and targets."""
    pred = torch.randn(batch_size, 3, dtype=dtype, requires_grad=True)
    return {"predictions": pred}, {"target": torch.randn(batch_size, 3, dtype=dtype)}, {"delta": 0.5}


@register_loss(
    inputs=[
        Input("predictions", "model_output", shape="B ...", dtype="float", doc="predictions, any shape"),
        Input("target", "targets", like="predictions", dtype="float", doc="targets, the predictions' shape"),
    ],
    example_inputs=${short}_huber_example,
)
def ${short}_huber(
    predictions: torch.Tensor,
    target: torch.Tensor,
    *,
    delta: Annotated[float, Range(gt=0)] = 1.0,
    reduction: Reduction = "mean",
) -> LossReturn:
    r"""$summary

    With :math:`e = |\\hat y - y|` per element and :math:`\\delta` = ``delta``
    (default 1.0): :math:`\\ell = \\tfrac12 e^2` where :math:`e \\le \\delta`,
    else :math:`\\delta(e - \\tfrac12\\delta)`. ``reduction="mean"`` (default)
    averages over all elements, ``"sum"`` sums them and ``"none"`` returns them
    (for direct calls of the function). Equals
    ``torch.nn.functional.huber_loss``.

    Metrics: ``mae``, the mean absolute error.
    """
    error = (predictions - target).abs()
    quadratic = torch.clamp(error, max=delta)
    per_element = 0.5 * quadratic.square() + delta * (error - quadratic)
    return loss_result(reduce(per_element, reduction), metrics={"mae": error.mean()})
''',
    "tests/conftest.py": '''\
"""Every test runs in an isolated registry: the losses and hook plugins a test
registers are removed when it ends."""

import pytest
from losses_core.testing import isolated_registry


@pytest.fixture(autouse=True)
def _isolated_registry():
    with isolated_registry():
        yield
''',
    "tests/test_${module}.py": """\
import pytest
import torch
import torch.nn.functional as F
from losses_core import LOSSES, LossParameterError, MissingInputError, resolve_loss
from losses_core.testing import assert_conforms, check_manifest, loss_names


def test_${short}_huber_matches_torch():
    pred, target = torch.randn(5, 3), torch.randn(5, 3)
    loss = LOSSES["${short}_huber"]({"predictions": pred}, {"target": target}, delta=0.7)
    torch.testing.assert_close(loss, F.huber_loss(pred, target, delta=0.7))


def test_${short}_huber_metrics_keys_and_reduction():
    pred, target = torch.randn(5, 3), torch.randn(5, 3)
    loss_fn = resolve_loss("${short}_huber", keys={"predictions": "reconstruction"})
    result = loss_fn({"reconstruction": pred}, {"target": target})
    torch.testing.assert_close(result["loss"], F.huber_loss(pred, target))
    torch.testing.assert_close(result["metrics"]["mae"], (pred - target).abs().mean())
    # per-element values come from calling the function itself
    direct = LOSSES["${short}_huber"].function({"predictions": pred}, {"target": target}, reduction="none")
    torch.testing.assert_close(direct["loss"], F.huber_loss(pred, target, reduction="none"))


def test_${short}_huber_rejects_bad_parameters_and_inputs():
    with pytest.raises(LossParameterError, match="delta"):
        resolve_loss("${short}_huber", delta=0.0)
    with pytest.raises(MissingInputError, match="predictions"):
        LOSSES["${short}_huber"]({}, {"target": torch.zeros(2, 3)})


def test_the_losses_belong_to_this_distribution():
    assert LOSSES["${short}_huber"].provider == "$dist"


@pytest.mark.parametrize("name", loss_names(distribution="$dist"))
def test_conformance(name):
    assert_conforms(name)


def test_manifest_matches_the_code():
    # fails after a loss is added, renamed or re-documented without
    # `losses manifest $module --write`; the message lists the differences
    assert check_manifest("$dist") == []
""",
}


SUMMARY = "Huber loss: quadratic for small errors, linear for large ones."
"""The first sentence of the example loss's docstring, which is also its
summary in the manifest (``$summary`` in the templates)."""

BANNED_MESSAGE = "private to losses-core: import the public losses_core API"


def private_modules() -> list[str]:
    """Every module of losses-core with a private (``_``) component, the list
    a plugin's ruff rule bans (first-party plugins and scaffolded ones)."""
    import losses_core

    names = [
        info.name
        for info in pkgutil.walk_packages(losses_core.__path__, "losses_core.")
        if any(part.startswith("_") and not part.startswith("__") for part in info.name.split(".")[1:])
    ]
    return sorted(names)


def banned_api() -> str:
    """The ``banned-api`` lines of a plugin's ruff configuration."""
    return "\n".join(f'"{name}".msg = "{BANNED_MESSAGE}"' for name in private_modules())


def plugin_names(name: str) -> dict[str, str]:
    """The template values for a plugin called ``name``: its distribution,
    module and short names, the losses-core range, the banned private modules
    and the example loss's summary."""
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
        "banned_api": banned_api(),
        "summary": SUMMARY,
    }


def plugin_manifest(values: dict[str, str]) -> str:
    """The text of the scaffolded package's ``losses.json``: what
    ``losses manifest <module>`` generates from the scaffolded code, built
    from the same values as the templates."""
    return Manifest({f"{values['short']}_huber": summarize(values["summary"])}).to_json()


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
    manifest = root / "src" / values["module"] / MANIFEST_FILE
    manifest.write_text(plugin_manifest(values), encoding="utf-8")
    return root
