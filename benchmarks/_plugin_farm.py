"""Synthetic ``losses.plugins`` distributions for benchmarks, written without pip.

``make_farm(directory, count)`` writes, for each ``i`` in ``range(count)``, a
distribution ``losses-synth-<i>`` 1.0 in the static form of losses-core 0.3
(discovery from package metadata), as ``losses manifest losses_synth_<i>
--write`` declares it:

- ``losses_synth_<i>/__init__.py``: a package module with a docstring only
  (nothing to import until the loss is used);
- ``losses_synth_<i>/loss.py``: the loss ``synth_<i>``, a protocol function
  ``synth_<i>(model_output, targets, *, scale=1.0)`` registered with
  ``@register_loss``; it imports nothing but ``losses_core``;
- ``losses_synth_<i>/losses.json``: its manifest, the loss's summary (the
  docstring's first sentence);
- ``losses_synth_<i>-1.0.dist-info/`` with ``METADATA``, ``RECORD`` and
  ``entry_points.txt``: one entry point per loss name, which names its object,
  and one for the manifest::

      [losses.plugins]
      synth_<i> = losses_synth_<i>.loss:synth_<i>
      losses-synth-<i> = losses_synth_<i>:losses.json

``make_farm(directory, count, dynamic=True)`` writes the dynamic form (the
0.2 form, still supported) instead: the package module's ``losses_register``
hook registers the loss, there is no manifest, and the entry point names the
module (``losses-synth-<i> = losses_synth_<i>``), so every such plugin is
imported at the first lookup and the first listing.

Put ``directory`` on ``PYTHONPATH`` (or ``sys.path``) and losses-core sees
``count`` installed distributions. The modules are byte-compiled, as pip does
at install time, so the first import in a fresh process does not pay for
compiling them.
"""

from __future__ import annotations

import compileall
import json
from pathlib import Path

STATIC_INIT = '"""Synthetic losses plugin number {i}: its loss is in ``loss.py``."""\n'

STATIC_LOSS = '''"""The loss of synthetic losses plugin number {i}."""

from losses_core import register_loss


@register_loss
def synth_{i}(model_output, targets, *, scale: float = 1.0):
    """Synthetic loss {i}: the mean of the predictions times scale. A benchmark's filler."""
    return model_output["predictions"].mean() * scale
'''

DYNAMIC_INIT = '''"""Synthetic losses plugin number {i} (dynamic form)."""

from losses_core import hookimpl


def synth_{i}(model_output, targets, *, scale: float = 1.0):
    """Synthetic loss {i}: the mean of the predictions times scale. A benchmark's filler."""
    return model_output["predictions"].mean() * scale


@hookimpl
def losses_register(register):
    register("synth_{i}", synth_{i})
'''

SUMMARY = "Synthetic loss {i}: the mean of the predictions times scale."
"""The first sentence of ``synth_<i>``'s docstring: its manifest summary."""


def distribution_name(i: int) -> str:
    return f"losses-synth-{i}"


def module_name(i: int) -> str:
    return f"losses_synth_{i}"


def loss_name(i: int) -> str:
    return f"synth_{i}"


def manifest(i: int) -> str:
    """The text of ``losses_synth_<i>/losses.json`` (as ``Manifest.to_json``
    writes it: two-space indented, newline-terminated)."""
    data = {"losses-manifest": 1, "losses": {loss_name(i): {"summary": SUMMARY.format(i=i)}}}
    return json.dumps(data, indent=2) + "\n"


def entry_points(i: int, *, dynamic: bool = False) -> str:
    """The text of the distribution's ``entry_points.txt``."""
    if dynamic:
        lines = [f"{distribution_name(i)} = {module_name(i)}"]
    else:
        lines = [
            f"{loss_name(i)} = {module_name(i)}.loss:{loss_name(i)}",
            f"{distribution_name(i)} = {module_name(i)}:losses.json",
        ]
    return "[losses.plugins]\n" + "".join(f"{line}\n" for line in lines)


def make_farm(directory: Path, count: int = 200, *, dynamic: bool = False) -> list[str]:
    """Write ``count`` synthetic plugin distributions into ``directory``
    (static form, or the dynamic form with ``dynamic=True``); return their
    distribution names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        module = module_name(i)
        dist = distribution_name(i)
        package = directory / module
        package.mkdir(exist_ok=True)
        if dynamic:
            files = {"__init__.py": DYNAMIC_INIT.format(i=i)}
        else:
            files = {
                "__init__.py": STATIC_INIT.format(i=i),
                "loss.py": STATIC_LOSS.format(i=i),
                "losses.json": manifest(i),
            }
        for filename, text in files.items():
            (package / filename).write_text(text, encoding="utf-8")
        info = directory / f"{module}-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nSummary: synthetic losses plugin {i}\n",
            encoding="utf-8",
        )
        (info / "entry_points.txt").write_text(entry_points(i, dynamic=dynamic), encoding="utf-8")
        record = [
            *(f"{module}/{filename},," for filename in files),
            f"{info.name}/METADATA,,",
            f"{info.name}/entry_points.txt,,",
            f"{info.name}/RECORD,,",
        ]
        (info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")
        names.append(dist)
    compileall.compile_dir(directory, quiet=1, workers=1)
    return names
