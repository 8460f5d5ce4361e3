"""Install the reference packages the tests and benchmarks compare against
that cannot be ordinary dependencies of an environment: they are installed
with ``pip install --no-deps`` when the pinned version is missing.

- ``allrank`` 1.4.3 pins numpy and scipy versions that have no wheels for
  current Pythons; its loss and metric modules need only torch and numpy
  (``tests/ranking/allrank_reference.py`` loads them).
- ``liger-kernel`` 0.8.5 depends on triton; its ``chunked_loss`` modules run
  on CPU with plain torch (``compiled=False``), its Triton kernels need a GPU.
- ``cut-cross-entropy`` 25.1.1 depends on triton and a CUDA stack; its
  ``torch_compile`` implementation runs on CPU (its import needs ``triton``,
  which the environments install as an ordinary dependency).

The ``hatch test`` and ``hatch run bench:all`` scripts run this first
(``hatch.toml``; hatch's post-install commands do not run in environments that
install no project of their own, as these do). It prints nothing when every
reference is installed.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

REFERENCES = {
    "allrank": "1.4.3",
    "liger-kernel": "0.8.5",
    "cut-cross-entropy": "25.1.1",
}


def missing() -> list[str]:
    """``name==version`` of every reference whose pinned version is not installed."""
    wanted = []
    for name, version in REFERENCES.items():
        try:
            if importlib.metadata.version(name) == version:
                continue
        except importlib.metadata.PackageNotFoundError:
            pass
        wanted.append(f"{name}=={version}")
    return wanted


def main() -> int:
    wanted = missing()
    if not wanted:
        return 0
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    return subprocess.call([*command, *wanted])


if __name__ == "__main__":
    sys.exit(main())
