"""Synthetic installed distributions for the loader tests: a site directory
holding packages and their ``.dist-info`` folders, put on ``PYTHONPATH`` of a
fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

LOSS_MODULE = '''"""{summary_doc}"""

from losses_core import register_loss
{extra}

@register_loss({arguments})
def {name}(model_output, targets, *, scale: float = 1.0):
    """{summary}"""
    return model_output["predictions"].mean() * scale
'''


def write_dist_info(site: Path, distribution: str, entry_points: str, version: str = "1.0") -> Path:
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return info


def write_static_plugin(
    site: Path,
    distribution: str,
    losses: dict[str, dict[str, Any]],
    *,
    hooks: str | None = None,
    init: str = "",
    declare: dict[str, dict[str, Any]] | None = None,
) -> str:
    """A static plugin: one module per loss (``losses[name]`` may give
    ``aliases``, ``override``, ``extra`` module code), an entry point per
    name and a manifest of summaries (or, with ``declare``, ``{name:
    {"object", "summary"}}`` declared instead of the code's losses), and
    ``hooks`` code in the package ``__init__``, named by an entry point, when
    given. Returns the package name."""
    package = distribution.replace("-", "_")
    root = site / package
    root.mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text(
        textwrap.dedent(init) + (textwrap.dedent(hooks) if hooks else ""), "utf-8"
    )
    declared: dict[str, Any] = {}
    entry_points: list[str] = []
    for name, options in losses.items():
        arguments = []
        if options.get("aliases"):
            arguments.append(f"aliases={tuple(options['aliases'])!r}")
        if options.get("override"):
            arguments.append("override=True")
        summary = options.get("summary", f"The {name} loss.")
        (root / f"{name}.py").write_text(
            LOSS_MODULE.format(
                summary_doc=f"The module of {name}.",
                extra=textwrap.dedent(options.get("extra", "")),
                arguments=", ".join(arguments),
                name=name,
                summary=summary,
            ),
            encoding="utf-8",
        )
        item: dict[str, Any] = {"summary": summary}
        if options.get("override"):
            item["override"] = True
        declared[name] = item
        entry_points += [f"{key} = {package}.{name}:{name}" for key in (name, *options.get("aliases", ()))]
    if declare is not None:
        declared = {name: {"summary": item.get("summary", "")} for name, item in declare.items()}
        entry_points = [f"{name} = {item['object']}" for name, item in declare.items()]
    entry_points.append(f"{distribution} = {package}:losses.json")
    if hooks:
        entry_points.append(f"{distribution}-hooks = {package}")
    manifest = {"losses-manifest": 1, "losses": declared}
    (root / "losses.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    write_dist_info(site, distribution, "[losses.plugins]\n" + "\n".join(entry_points) + "\n")
    return package


def write_dynamic_plugin(site: Path, distribution: str, code: str) -> str:
    """A dynamic plugin: the entry point names a module with ``code``."""
    package = distribution.replace("-", "_")
    root = site / package
    root.mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text(textwrap.dedent(code), encoding="utf-8")
    write_dist_info(site, distribution, f"[losses.plugins]\n{distribution} = {package}\n")
    return package


def run_python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that sees ``site`` first, with the
    installed first-party plugins disabled and no other LOSSES_* variable."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOSSES_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), environ.get("PYTHONPATH", "")]))
    environ.setdefault("LOSSES_DISABLE_PLUGINS", "losses-vae,losses-sae,losses-ranking")
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )


def run_json(site: Path, code: str, **env: str) -> Any:
    """``run_python``; the last stdout line is JSON."""
    proc = run_python(site, code, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
