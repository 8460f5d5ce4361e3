"""allRank's published loss and metric functions (allrank 1.4.3), imported
without its training stack, as a reference for the tests and benchmarks.

allrank 1.4.3 pins numpy and scipy versions that have no wheels for current
Pythons, so it is installed with ``--no-deps``: ``python
tests/ranking/allrank_reference.py`` does that when it is missing, and the
``hatch test`` and ``hatch run bench:all`` scripts run it first (``hatch.toml``;
hatch's post-install commands do not run in environments that install no
project of their own, as these do). Its loss and metric modules
need only torch and numpy, plus two names from modules that import the rest
of its stack (data loading: scikit-learn, gcsfs; model utilities: file and
cloud I/O): ``PADDED_Y_VALUE`` and ``get_torch_device``. Those two modules are
replaced by stubs holding exactly those names (``get_torch_device`` gives the
CPU, where these comparisons run).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import types
from typing import Any

ALLRANK_VERSION = "1.4.3"
PADDED_Y_VALUE = -1  # allrank.data.dataset_loading.PADDED_Y_VALUE


def _cpu() -> Any:
    import torch  # here, so that installing the reference does not import torch

    return torch.device("cpu")


_STUBS = {
    "allrank.data.dataset_loading": {"PADDED_Y_VALUE": PADDED_Y_VALUE},
    "allrank.models.model_utils": {"get_torch_device": _cpu},
}


def ensure_installed() -> None:
    """``pip install --no-deps allrank==1.4.3`` unless that version is installed."""
    try:
        if importlib.metadata.version("allrank") == ALLRANK_VERSION:
            return
    except importlib.metadata.PackageNotFoundError:
        pass
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.check_call([*command, "--no-deps", f"allrank=={ALLRANK_VERSION}"])


def load() -> tuple[types.ModuleType, types.ModuleType]:
    """``(allrank.models.losses, allrank.models.metrics)``."""
    for name, attributes in _STUBS.items():
        if name not in sys.modules:
            stub = types.ModuleType(name, "stub standing in for allRank's module (see allrank_reference)")
            stub.__dict__.update(attributes)
            sys.modules[name] = stub
    try:
        from allrank.models import losses, metrics
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{error}: the allRank reference needs `pip install --no-deps allrank=={ALLRANK_VERSION}` "
            "(run `python tests/ranking/allrank_reference.py`; `hatch test` does)"
        ) from error
    return losses, metrics


if __name__ == "__main__":
    ensure_installed()
