"""``losses new-plugin``: write a ready-to-publish plugin package.

The package is a static plugin: an entry point per loss name, and one naming
its manifest, ``losses.json``, both written by :func:`write_plugin` from the
same data as the example loss (its name, module and summary), so that they
equal what ``losses manifest`` generates from the scaffolded code.
"""

from __future__ import annotations

import pkgutil
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from string import Template

from losses_core._manifest import MANIFEST_FILE, Manifest
from losses_core._registry import normalize_distribution
from losses_core._text import summarize
from losses_core._version import __version__

_FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$dist"
dynamic = ["version"]  # __version__ in src/$module/__init__.py, the one place to change it
description = "Loss functions for the losses ecosystem."
readme = "README.md"
license = "Apache-2.0"
license-files = ["LICENSE"]
requires-python = ">=3.10"
dependencies = [
  "losses-core>=$core_min,<$core_next",
  "torch>=2.2",
]
classifiers = [
  "Development Status :: 3 - Alpha",
  "Intended Audience :: Science/Research",
  "Programming Language :: Python :: 3",
  "Programming Language :: Python :: 3 :: Only",
  "Programming Language :: Python :: 3.10",
  "Programming Language :: Python :: 3.11",
  "Programming Language :: Python :: 3.12",
  "Programming Language :: Python :: 3.13",
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

[tool.hatch.version]
path = "src/$module/__init__.py"

[tool.hatch.build.targets.wheel]
packages = ["src/$module"]

[tool.hatch.build.targets.sdist]
include = ["src/$module", "tests", "README.md", "LICENSE"]

[tool.pytest.ini_options]
testpaths = ["tests"]

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

## Development

```bash
pip install -e '.[test]'
pytest            # value tests, the losses conformance checks and the manifest check
ruff check .      # also rejects imports of losses-core's private modules
```

The `losses.plugins` entry points in `pyproject.toml` (one per loss name) and
`src/$module/losses.json` (each loss's summary) declare the losses, so that
losses-core finds them without importing this package. After adding, renaming
or removing a loss, or changing its aliases or the first sentence of its
docstring, regenerate both with `losses manifest $module --write`, reinstall,
and commit them (`losses manifest $module --check` tells whether they are
current).

## Releasing

The version is `__version__` in `src/$module/__init__.py`, the only place it
is written. `.github/workflows/test.yml` runs the tests on every push and
pull request; `.github/workflows/release.yml` publishes to PyPI when a tag
`v<version>` is pushed, with trusted publishing (no token is stored):

1. Once: on PyPI, add a pending trusted publisher for the project `$dist`
   naming this repository, the workflow `release.yml` and the environment
   `pypi`; on GitHub, create the environment `pypi` (Settings, Environments).
2. Each release: set `__version__`, commit, and push a tag made of `v` and
   that version (`git tag v0.2.0 && git push origin v0.2.0` for 0.2.0). The
   workflow runs the tests, checks that the tag matches the version, builds
   the wheel and the sdist and uploads them.

Licensed under the Apache License 2.0 (see `LICENSE`).
""",
    ".gitignore": """\
__pycache__/
*.py[cod]
*.egg-info/
build/
dist/
.venv/
.pytest_cache/
.ruff_cache/
""",
    ".github/workflows/test.yml": """\
name: Test

on:
  push:
    branches: [main]
  pull_request:
  workflow_call:  # run by release.yml before anything is published

permissions:
  contents: read

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.10", "3.13"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: $${{ matrix.python-version }}
      - name: Install, with the CPU build of torch (testing needs no GPU)
        run: |
          python -m pip install torch --index-url https://download.pytorch.org/whl/cpu
          python -m pip install -e '.[test]'
      - run: ruff check .
      - run: losses manifest $module --check
      - run: pytest
""",
    ".github/workflows/release.yml": """\
name: Release

# Publishes $dist to PyPI when a tag v<version> is pushed, with PyPI trusted
# publishing: no token is stored. Before the first release, add a pending
# publisher on PyPI (project $dist, this repository, workflow release.yml,
# environment pypi) and create the GitHub environment pypi.

on:
  push:
    tags: ["v*"]

permissions:
  contents: read

jobs:
  test:
    uses: ./.github/workflows/test.yml

  build:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: python -m pip install "hatch>=1.16"
      - name: Check that the tag matches the package version
        run: |
          version="$$(hatch version)"
          if [ "$${GITHUB_REF_NAME}" != "v$${version}" ]; then
            echo "tag $${GITHUB_REF_NAME} does not match $dist version $${version}" >&2
            exit 1
          fi
      - name: Build wheel and sdist
        run: hatch build -t wheel -t sdist dist
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: dist/

  publish:
    needs: build
    runs-on: ubuntu-latest
    environment: pypi
    permissions:
      id-token: write
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: dist/
      - uses: pypa/gh-action-pypi-publish@release/v1
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

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

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

LICENSE_TEMPLATE = "LICENSE-Apache-2.0"
"""The file of ``losses_core/_templates`` holding the license text."""

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


def name_warnings(name: str) -> list[str]:
    """What is unusual about the distribution name ``name`` (it is still
    accepted): a name without the ``losses-`` prefix is hard to find among
    the plugins on PyPI, and its module, not ``losses_*``, may clash with
    other packages."""
    dist = normalize_distribution(name)
    if dist.startswith("losses-") and dist != "losses-":
        return []
    return [
        f"the distribution name {dist!r} does not start with 'losses-': plugins are named "
        f"losses-<name> (losses-{dist.removeprefix('losses')}) so that users find them on PyPI and "
        f"their modules (losses_<name>) do not clash with other packages"
    ]


class ScaffoldError(ValueError):
    """The plugin package cannot be written; the message says where and why."""


def write_plugin(name: str, directory: Path) -> Path:
    """Write the plugin package ``name`` into ``directory/<dist>``; return its root.

    The files are written into a temporary folder inside ``directory`` that
    is then renamed, so a failure leaves no half-written package behind.
    ``directory`` is created when missing.

    :raises ScaffoldError: the name is invalid, ``directory`` is not a
        writable folder, or the target folder exists and is not empty.
    """
    try:
        values = plugin_names(name)
    except ValueError as exc:
        raise ScaffoldError(str(exc)) from None
    root = directory / values["dist"]
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(
            f"{directory} is not a folder: give --directory a folder to create the package in"
        )
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not an empty folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{values['dist']}-", dir=directory))
    except OSError as exc:
        raise ScaffoldError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        _write_files(staging, values)
        if root.exists():
            root.rmdir()  # empty (checked above): a rename cannot replace it everywhere
        staging.rename(root)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        where = exc.filename or directory
        raise ScaffoldError(f"cannot write {where}: {exc.strerror or exc}") from None
    return root


def _write_files(root: Path, values: dict[str, str]) -> None:
    for relative, text in _FILES.items():
        path = root / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    (root / "LICENSE").write_text(license_text(), encoding="utf-8")
    manifest = root / "src" / values["module"] / MANIFEST_FILE
    manifest.write_text(plugin_manifest(values), encoding="utf-8")


def license_text() -> str:
    """The text of the Apache License 2.0, the license the scaffold declares
    (``license = "Apache-2.0"``), written as the package's ``LICENSE``."""
    return (resources.files("losses_core") / "_templates" / LICENSE_TEMPLATE).read_text(encoding="utf-8")
