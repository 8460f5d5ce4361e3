"""Synthetic ``losses.plugins`` distributions for benchmarks, written without pip.

``make_farm(directory, count)`` writes, for each ``i`` in ``range(count)``:

- ``losses_synth_<i>/__init__.py``: a tiny plugin module whose
  ``losses_register`` hook registers one loss, ``synth_<i>``;
- ``losses_synth_<i>-1.0.dist-info/`` with ``METADATA``, ``entry_points.txt``
  (``[losses.plugins] losses-synth-<i> = losses_synth_<i>``) and ``RECORD``.

Put ``directory`` on ``PYTHONPATH`` (or ``sys.path``) and importlib.metadata
sees ``count`` installed distributions. The modules are byte-compiled, as
pip does at install time, so the first import in a fresh process does not
pay for compiling them.
"""

from __future__ import annotations

import compileall
from pathlib import Path

MODULE_TEMPLATE = '''"""Synthetic losses plugin number {i}."""

from losses_core import hookimpl


def synth_{i}(model_output, targets, *, scale=1.0):
    """Synthetic loss {i}: mean of the predictions times scale."""
    return model_output["predictions"].mean() * scale


@hookimpl
def losses_register(register):
    register("synth_{i}", synth_{i})
'''


def distribution_name(i: int) -> str:
    return f"losses-synth-{i}"


def module_name(i: int) -> str:
    return f"losses_synth_{i}"


def make_farm(directory: Path, count: int = 200) -> list[str]:
    """Write ``count`` synthetic plugin distributions into ``directory``;
    return their distribution names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        module = module_name(i)
        dist = distribution_name(i)
        package = directory / module
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text(MODULE_TEMPLATE.format(i=i), encoding="utf-8")
        info = directory / f"{module}-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nSummary: synthetic losses plugin {i}\n",
            encoding="utf-8",
        )
        (info / "entry_points.txt").write_text(f"[losses.plugins]\n{dist} = {module}\n", encoding="utf-8")
        record = [
            f"{module}/__init__.py,,",
            f"{info.name}/METADATA,,",
            f"{info.name}/entry_points.txt,,",
            f"{info.name}/RECORD,,",
        ]
        (info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")
        names.append(dist)
    compileall.compile_dir(directory, quiet=1, workers=1)
    return names
