"""allRank's published loss and metric functions (allrank 1.4.3), imported
without its training stack, as a reference for the tests and benchmarks.

allrank 1.4.3 pins numpy and scipy versions that have no wheels for current
Pythons, so it is installed with ``--no-deps`` by ``python
tools/install_references.py``, which the ``hatch test`` and
``hatch run bench:all`` scripts run first. Its loss and metric modules
need only torch and numpy, plus two names from modules that import the rest
of its stack (data loading: scikit-learn, gcsfs; model utilities: file and
cloud I/O): ``PADDED_Y_VALUE`` and ``get_torch_device``. Those two modules are
replaced by stubs holding exactly those names (``get_torch_device`` gives the
CPU, where these comparisons run).
"""

from __future__ import annotations

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
            "(run `python tools/install_references.py`; `hatch test` does)"
        ) from error
    return losses, metrics
