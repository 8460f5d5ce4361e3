"""Release readiness: every distribution builds to a wheel and an sdist with
correct metadata; the built wheels (not the editable tree) install into a
fresh environment where the CLI and a loss from each work; and a plugin made
by ``losses new-plugin`` builds, installs and is found."""

from __future__ import annotations

import email
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ("losses-core", "losses-vae", "losses-sae", "losses-ranking")
PLUGINS = DISTRIBUTIONS[1:]

# One loss of each distribution, called in the fresh environment with inputs
# built by its registered example factory.
ONE_LOSS = {
    "losses-core": "mse",
    "losses-vae": "VAELoss",
    "losses-sae": "SAELoss",
    "losses-ranking": "ranknet",
}


def _build(project: Path, out: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-t", "sdist", "-d", str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building {project.name} failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def built(once) -> Path:
    """Every distribution built to a wheel and an sdist, once per session."""
    pytest.importorskip("hatchling", reason="building the distributions needs hatchling")

    def build() -> str:
        work = once.directory("release")
        out = work / "dist"
        for name in DISTRIBUTIONS:
            copy = work / "src" / name
            shutil.copytree(
                REPO / "packages" / name,
                copy,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build", "*.egg-info"),
            )
            _build(copy, out)
        return str(out)

    return Path(once.run("release-built", build))


def _wheel(built: Path, name: str) -> Path:
    (wheel,) = built.glob(f"{name.replace('-', '_')}-*.whl")
    return wheel


def _wheel_metadata(wheel: Path) -> tuple[email.message.Message, str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        return (
            email.message_from_bytes(archive.read(meta)),
            archive.read(entry_points).decode() if entry_points else "",
            names,
        )


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_wheel_and_sdist_metadata(built, name):
    wheel = _wheel(built, name)
    meta, entry_points, files = _wheel_metadata(wheel)
    module = name.replace("-", "_")
    assert meta["Name"] == name
    assert f"{module}/py.typed" in files
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.10"
    assert any(c.startswith("Programming Language :: Python :: 3") for c in meta.get_all("Classifier"))
    urls = {u.split(",")[0].strip().lower() for u in meta.get_all("Project-URL") or []}
    assert {"homepage", "source", "changelog"} <= urls
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.replace(" ", "").startswith("torch>=2.2") for r in requires)
    if name in PLUGINS:
        # the static form: the entry point names the manifest, shipped in the wheel
        assert "[losses.plugins]" in entry_points
        assert f"{name} = {module}:losses.json\n" in entry_points + "\n"
        assert f"{module}/losses.json" in files
        assert any(r.replace(" ", "") == "losses-core<0.4,>=0.3" for r in requires), requires
    else:
        assert "[console_scripts]" in entry_points and "losses = losses_core._cli:main" in entry_points
        assert "losses_core/losses/losses.json" in files
    (sdist,) = built.glob(f"{module}-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("/pyproject.toml") for m in members)
    assert any(m.endswith("/LICENSE") for m in members)
    assert any(m.endswith(f"/src/{module}/__init__.py") for m in members)


@pytest.fixture(scope="session")
def release_venv(once, built, borrowed, pip_base):
    from _plugin_venv import shared_venv

    wheels = [_wheel(built, name) for name in DISTRIBUTIONS]
    return shared_venv(once, "release-venv", wheels, borrowed, pip_base)


CALL_ONE_LOSS = """
import json, sys, torch
from losses_core import LOSSES, resolve_loss
out = {}
for name in sys.argv[1:]:
    handle = LOSSES[name]
    model_output, targets, params = handle.entry.example_inputs(batch_size=3)
    result = resolve_loss(name, **params)(model_output, targets)
    result["loss"].backward()
    out[name] = {"provider": handle.provider, "file": sys.modules[handle.function.__module__].__file__,
                 "finite": bool(torch.isfinite(result["loss"]))}
print(json.dumps(out))
"""


def test_built_wheels_install_and_work_without_the_source_tree(release_venv):
    from _plugin_venv import run_in_venv

    listing = run_in_venv(release_venv, ["losses", "list", "--json"])
    assert listing.returncode == 0, listing.stderr
    providers = {row["provider"] for row in json.loads(listing.stdout)}
    assert set(DISTRIBUTIONS) <= providers
    plugins = run_in_venv(release_venv, ["losses", "plugins", "--json"])
    statuses = {row["name"]: row["status"] for row in json.loads(plugins.stdout)}
    # catalogued from their manifests: nothing imported
    assert statuses == {"losses-core": "builtin", **dict.fromkeys(PLUGINS, "available")}
    doctor = run_in_venv(release_venv, ["losses", "doctor"])
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    calls = run_in_venv(release_venv, ["python", "-c", CALL_ONE_LOSS, *ONE_LOSS.values()])
    assert calls.returncode == 0, calls.stderr
    results = json.loads(calls.stdout)
    for dist, loss in ONE_LOSS.items():
        assert results[loss]["provider"] == dist
        assert results[loss]["finite"]
        assert str(release_venv.site_packages) in results[loss]["file"], "loaded from the source tree"
        assert str(REPO) not in results[loss]["file"]


def test_scaffolded_plugin_builds_installs_and_is_found(release_venv, built, tmp_path, pip_base, borrowed):
    from _plugin_venv import create_venv, run_in_venv

    made = run_in_venv(release_venv, ["losses", "new-plugin", "losses-foo", "--directory", str(tmp_path)])
    assert made.returncode == 0, made.stderr
    project = tmp_path / "losses-foo"
    out = tmp_path / "dist"
    _build(project, out)
    (wheel,) = out.glob("losses_foo-*.whl")
    venv = create_venv(tmp_path / "env", borrowed, [_wheel(built, "losses-core"), wheel], pip_base)
    listing = run_in_venv(venv, ["losses", "list", "foo_*"])
    assert listing.returncode == 0, listing.stderr
    assert "foo_huber" in listing.stdout and "losses-foo 0.1.0" in listing.stdout
    check = run_in_venv(
        venv,
        [
            "python",
            "-c",
            "import torch, torch.nn.functional as F\n"
            "from losses_core import LOSSES\n"
            "from losses_core.testing import assert_conforms\n"
            "p, t = torch.randn(4, 3), torch.randn(4, 3)\n"
            "out = LOSSES['foo_huber']({'predictions': p}, {'target': t}, delta=0.5)\n"
            "torch.testing.assert_close(out, F.huber_loss(p, t, delta=0.5))\n"
            "assert_conforms('foo_huber')\n"
            "print('ok')",
        ],
        timeout=300,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "ok"
