"""``losses new-plugin``: the scaffolded package is ready to publish (its
tests pass against its own built wheel, a LICENSE matching the declared
license, test and release workflows, the version in one place), and a bad
name or folder is one clear line, never a traceback."""

from __future__ import annotations

import email
import errno
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from losses_core._scaffold import ScaffoldError, license_text, name_warnings, write_plugin

REPO = Path(__file__).resolve().parents[2]
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def losses(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "losses_core", *args], capture_output=True, text=True, timeout=120
    )


def scaffold_version(root: Path) -> str:
    text = (root / "src" / "losses_foo" / "__init__.py").read_text(encoding="utf-8")
    (version,) = re.findall(r'^__version__ = "([^"]+)"', text, flags=re.M)
    return version


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    return write_plugin("losses-foo", tmp_path / "work")


def test_the_package_builds_and_its_tests_pass_against_its_wheel(plugin, tmp_path):
    # offline: hatchling is called directly (no isolated build environment),
    # and the wheel is unpacked onto PYTHONPATH rather than installed, so its
    # entry points are found through its .dist-info like an install's
    pytest.importorskip("hatchling", reason="building the scaffold needs hatchling")
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-t", "sdist", "-d", str(dist)],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    version = scaffold_version(plugin)
    (wheel,) = dist.glob("losses_foo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = email.message_from_bytes(archive.read(f"losses_foo-{version}.dist-info/METADATA"))
        archive.extractall(tmp_path / "site")
    assert meta["Name"] == "losses-foo" and meta["Version"] == version
    assert meta["License-Expression"] == "Apache-2.0" and meta["License-File"] == "LICENSE"
    assert f"losses_foo-{version}.dist-info/licenses/LICENSE" in names
    assert "losses_foo/losses.json" in names and "losses_foo/py.typed" in names
    (sdist,) = dist.glob("losses_foo-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {"LICENSE", "README.md", "pyproject.toml", "tests/test_losses_foo.py"} <= members

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    written = (plugin / "tests" / "test_losses_foo.py").read_text(encoding="utf-8")
    # every test function ran (the conformance test once, for its one loss)
    assert f"{written.count('def test_')} passed" in tests.stdout, tests.stdout


def test_license_is_the_declared_one(plugin):
    pyproject = (plugin / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    text = (plugin / "LICENSE").read_text(encoding="utf-8")
    assert text == license_text()
    # the Apache License 2.0 that losses-core itself ships
    assert text == (REPO / "packages" / "losses-core" / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_version_is_written_once(plugin):
    version = scaffold_version(plugin)
    holders = [
        path.relative_to(plugin).as_posix()
        for path in plugin.rglob("*")
        if path.is_file() and version in path.read_text(encoding="utf-8")
    ]
    assert holders == ["src/losses_foo/__init__.py"]
    pyproject = (plugin / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert '[tool.hatch.version]\npath = "src/losses_foo/__init__.py"' in pyproject


def test_classifiers_are_known_and_fit(plugin):
    trove = pytest.importorskip("trove_classifiers")
    text = (plugin / "pyproject.toml").read_text(encoding="utf-8")
    classifiers = re.findall(r'^  "([^"]+ :: [^"]+)",$', text, flags=re.M)
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.10" in classifiers
    assert not set(classifiers) - set(trove.classifiers)
    assert not [c for c in classifiers if c.startswith(("Framework :: Pytest", "License ::"))]


def test_workflows_test_then_publish_with_trusted_publishing(plugin):
    workflows = plugin / ".github" / "workflows"
    test = yaml.safe_load((workflows / "test.yml").read_text(encoding="utf-8"))
    release = yaml.safe_load((workflows / "release.yml").read_text(encoding="utf-8"))
    # PyYAML reads the key `on` as True
    assert set(test[True]) == {"push", "pull_request", "workflow_call"}
    steps = [step.get("run", "") for step in test["jobs"]["test"]["steps"]]
    assert "ruff check ." in steps and "pytest" in steps and "losses manifest losses_foo --check" in steps
    assert any("pip install -e '.[test]'" in step for step in steps)

    assert release[True] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {"contents": "read"}
    jobs = release["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert jobs["build"]["needs"] == "test" and jobs["publish"]["needs"] == "build"
    assert jobs["publish"]["environment"] == "pypi"
    assert jobs["publish"]["permissions"] == {"id-token": "write"}
    assert jobs["publish"]["steps"][-1]["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert "id-token" not in str(jobs["build"])  # only the publishing job may mint a token


@pytest.mark.skipif(shutil.which("bash") is None, reason="the release check is a bash script")
def test_the_release_refuses_a_tag_that_is_not_the_version(plugin, tmp_path):
    release = yaml.safe_load((plugin / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    (check,) = [s["run"] for s in release["jobs"]["build"]["steps"] if "GITHUB_REF_NAME" in s.get("run", "")]
    version = scaffold_version(plugin)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "hatch").write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")  # `hatch version`
    (fake / "hatch").chmod(0o755)
    path = f"{fake}{os.pathsep}{os.environ['PATH']}"

    def run(tag: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": path, "GITHUB_REF_NAME": tag}
        return subprocess.run(["bash", "-c", check], capture_output=True, text=True, env=env, timeout=60)

    assert run(f"v{version}").returncode == 0
    wrong = run(f"v{version}.1")
    assert wrong.returncode == 1 and f"does not match losses-foo version {version}" in wrong.stderr


def test_install_commands_quote_extras_for_zsh(plugin, tmp_path):
    # zsh expands an unquoted `.[test]` as a glob and fails: "no matches found"
    texts = [p.read_text(encoding="utf-8") for p in plugin.rglob("*") if p.is_file()]
    texts.append(losses("new-plugin", "losses-bar", "--directory", str(tmp_path)).stdout)
    commands = [c for text in texts for c in re.findall(r"pip install[^\n`]*", text) if "[" in c]
    assert commands
    for command in commands:
        assert re.search(r"'[^'\s]*\[[^']*\]'", command), command


@pytest.mark.parametrize(
    ("name", "warned"),
    [("losses-foo", False), ("Losses_Foo", False), ("foo", True), ("lossesfoo", True)],
)
def test_a_name_without_the_prefix_is_warned_about(name, warned):
    found = name_warnings(name)
    assert bool(found) == warned
    if warned:
        assert "does not start with 'losses-'" in found[0] and "losses-foo" in found[0]


def test_the_command_warns_and_still_writes(tmp_path):
    out = losses("new-plugin", "foo", "--directory", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("losses new-plugin: warning: the distribution name 'foo'")
    assert (tmp_path / "foo" / "src" / "foo" / "foo_huber.py").is_file()


def _a_file(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    return str(tmp_path / "a-file")


def _below_a_file(tmp_path: Path) -> str:
    return str(Path(_a_file(tmp_path)) / "sub")


def _occupied(tmp_path: Path) -> str:
    (tmp_path / "losses-foo").mkdir()
    (tmp_path / "losses-foo" / "notes.txt").write_text("mine", encoding="utf-8")
    return str(tmp_path)


def _read_only(tmp_path: Path) -> str:
    if RUNNING_AS_ROOT:
        pytest.skip("root writes into a read-only folder")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_a_file, "is not a folder"),
        (_below_a_file, "cannot write in"),
        (_occupied, "already exists and is not an empty folder"),
        (_read_only, "cannot write in"),
    ],
)
def test_a_bad_directory_is_one_line_and_exit_1(tmp_path, make, message):
    directory = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    out = losses("new-plugin", "losses-foo", "--directory", directory)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.startswith("losses new-plugin: ") and message in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr and "--traceback" not in out.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_an_empty_target_folder_is_used(tmp_path):
    (tmp_path / "losses-foo").mkdir()
    root = write_plugin("losses-foo", tmp_path)
    assert (root / "pyproject.toml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses-foo"]


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    import losses_core._scaffold as scaffold

    write_files = scaffold._write_files

    def write_then_fail(root: Path, values: dict[str, str]) -> None:
        write_files(root, values)
        raise OSError(errno.ENOSPC, "No space left on device", str(root / "LICENSE"))

    monkeypatch.setattr(scaffold, "_write_files", write_then_fail)
    with pytest.raises(ScaffoldError, match=r"cannot write .*LICENSE: No space left on device"):
        write_plugin("losses-foo", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_name_is_a_scaffold_error(tmp_path):
    with pytest.raises(ScaffoldError, match="invalid distribution name 'bad name!'"):
        write_plugin("bad name!", tmp_path)
    assert list(tmp_path.iterdir()) == []
