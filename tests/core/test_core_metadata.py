"""The scan of installed distributions: entry points from package metadata,
and malformed installs reported, never raised."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from losses_core import _metadata
from losses_core._metadata import scan_installed

GROUP = "[losses.plugins]\n"


def dist_info(
    site: Path, folder: str, entry_points: str | None = None, metadata: str | None = "default"
) -> Path:
    info = site / folder
    info.mkdir(parents=True)
    if metadata == "default":
        name, _, rest = folder.rpartition(".")[0].partition("-")
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {rest.partition('-')[0]}\n"
    if metadata is not None:
        (info / ("PKG-INFO" if folder.endswith(".egg-info") else "METADATA")).write_text(metadata, "utf-8")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return info


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    return tmp_path


def test_entry_points_of_the_group_with_normalised_names_and_versions(site):
    dist_info(site, "Losses_Foo-1.2.dist-info", GROUP + "losses-foo = losses_foo:losses.json [extra]\n")
    dist_info(site, "other-3.0.dist-info", "[console_scripts]\nother = other:main\n")
    dist_info(site, "plain-1.0.dist-info")
    found = scan_installed()
    assert [(p.distribution, p.version, p.name, p.value) for p in found.plugins] == [
        ("losses-foo", "1.2", "losses-foo", "losses_foo:losses.json")
    ]
    assert found.problems == [] and found.duplicates == {}
    assert found.plugins[0].entry_point == "losses-foo = losses_foo:losses.json"


def test_egg_info_and_egg_folders_are_read_without_importlib_metadata(site):
    dist_info(site, "losses_egg-2.0-py3.11.egg-info", GROUP + "losses-egg = losses_egg\n")
    egg = site / "losses_old-0.5-py3.11.egg" / "EGG-INFO"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Name: losses-old\nVersion: 0.5\n", encoding="utf-8")
    (egg / "entry_points.txt").write_text(GROUP + "losses-old = losses_old\n", encoding="utf-8")
    (site / "single-1.0.egg-info").write_text("Name: single\n", encoding="utf-8")  # a file, not a folder
    found = scan_installed()
    assert [(p.distribution, p.version) for p in found.plugins] == [
        ("losses-egg", "2.0"),
        ("losses-old", "0.5"),
    ]
    assert found.problems == []


def test_malformed_installs_are_reported_and_the_healthy_ones_still_found(site):
    dist_info(site, "losses_good-1.0.dist-info", GROUP + "losses-good = losses_good:losses.json\n")
    dist_info(site, "losses_nometa-1.0.dist-info", GROUP + "losses-nometa = losses_nometa\n", metadata=None)
    dist_info(site, "-1.0.dist-info", GROUP + "x = x\n", metadata="Metadata-Version: 2.1\nVersion: 1.0\n")
    dist_info(site, "losses_oldegg.egg-info", GROUP + "losses-oldegg = losses_oldegg\n", metadata=None)
    dist_info(site, "unrelated.egg-info", "[console_scripts]\nu = u:main\n", metadata=None)
    (dist_info(site, "losses_dir-1.0.dist-info") / "entry_points.txt").mkdir()
    (dist_info(site, "losses_bytes-1.0.dist-info") / "entry_points.txt").write_bytes(
        b"[losses.plugins]\nx = \xff\n"
    )
    found = scan_installed()
    assert [p.distribution for p in found.plugins] == ["losses-good", "losses-nometa", "losses-oldegg"]
    problems = {p.distribution: p.problem for p in found.problems}
    assert "losses-nometa" not in problems and "losses-oldegg" not in problems  # LOADER.verify() checks them
    assert problems["-1.0.dist-info"] == "its METADATA names no distribution"
    assert problems["losses-dir"].startswith("cannot read entry_points.txt: IsADirectoryError")
    assert problems["losses-bytes"].startswith("cannot read entry_points.txt: UnicodeDecodeError")
    assert "unrelated" not in problems
    assert all(str(site) in p.location for p in found.problems)


def test_a_folder_without_a_name_takes_it_from_its_metadata(site):
    dist_info(site, "-1.0.dist-info", GROUP + "losses-anon = losses_anon\n", metadata="Name: Losses.Anon\n")
    assert [p.distribution for p in scan_installed().plugins] == ["losses-anon"]


def test_a_distribution_installed_twice_counts_once_and_is_reported(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    dist_info(first, "losses_twice-2.0.dist-info", GROUP + "losses-twice = losses_twice:losses.json\n")
    dist_info(second, "losses_twice-1.0.dist-info", GROUP + "losses-twice = losses_twice:losses.json\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(first), str(tmp_path / "missing")])
    found = scan_installed()
    assert [(p.distribution, p.version) for p in found.plugins] == [("losses-twice", "2.0")]
    assert list(found.duplicates) == ["losses-twice"]
    assert [Path(p).parent.name for p in found.duplicates["losses-twice"]] == ["a", "b"]


def test_with_an_import_hook_that_provides_distributions_importlib_metadata_is_used(site, monkeypatch):
    dist_info(site, "losses_foo-1.2.dist-info", GROUP + "losses-foo = losses_foo:losses.json\n")
    dist_info(site, "losses_nameless-1.0.dist-info", GROUP + "x = y\n", metadata="Version: 1.0\n")
    monkeypatch.setattr(_metadata, "_only_standard_finders", lambda: False)
    found = scan_installed()
    assert [(p.distribution, p.version, p.value) for p in found.plugins] == [
        ("losses-foo", "1.2", "losses_foo:losses.json")
    ]
    assert [p.problem for p in found.problems] == ["its metadata names no distribution"]


def test_a_finder_whose_distributions_raise_is_reported(site, monkeypatch):
    import importlib.metadata

    def broken():
        raise RuntimeError("finder is broken")

    monkeypatch.setattr(_metadata, "_only_standard_finders", lambda: False)
    monkeypatch.setattr(importlib.metadata, "distributions", broken)
    found = scan_installed()
    assert found.plugins == [] and "finder is broken" in found.problems[0].problem


# -- the scan cache --------------------------------------------------------------------
def _scans(monkeypatch) -> list[str]:
    scanned: list[str] = []
    original = _metadata._Scanner._scan_directory

    def counting(self, directory, header):
        scanned.append(directory)
        return original(self, directory, header)

    monkeypatch.setattr(_metadata._Scanner, "_scan_directory", counting)
    return scanned


def test_an_unchanged_directory_is_read_from_the_cache(site, monkeypatch):
    dist_info(site, "losses_foo-1.2.dist-info", GROUP + "foo = losses_foo.foo:foo\n")
    first = scan_installed()
    scanned = _scans(monkeypatch)
    again = scan_installed()
    assert scanned == []
    assert [(p.distribution, p.name, p.value) for p in again.plugins] == [
        ("losses-foo", "foo", "losses_foo.foo:foo")
    ]
    assert [p.location for p in again.plugins] == [p.location for p in first.plugins]
    fresh = scan_installed(use_cache=False)
    assert scanned == [str(site)] and len(fresh.plugins) == 1


def test_an_install_or_an_edited_entry_points_file_is_scanned_again(site, monkeypatch):
    info = dist_info(site, "losses_foo-1.2.dist-info", GROUP + "foo = losses_foo.foo:foo\n")
    scan_installed()
    scanned = _scans(monkeypatch)
    dist_info(site, "losses_bar-1.0.dist-info", GROUP + "bar = losses_bar.bar:bar\n")  # the directory changes
    assert [p.distribution for p in scan_installed().plugins] == ["losses-bar", "losses-foo"]
    assert scanned == [str(site)]
    (info / "entry_points.txt").write_text(
        GROUP + "foo = losses_foo.foo:foo\nfoo2 = losses_foo.foo:foo2\n", "utf-8"
    )
    assert [p.name for p in scan_installed().plugins] == ["bar", "foo", "foo2"]
    assert scanned == [str(site), str(site)]


def test_a_corrupt_or_unwritable_cache_is_ignored(site, monkeypatch, tmp_path_factory):
    dist_info(site, "losses_foo-1.2.dist-info", GROUP + "foo = losses_foo.foo:foo\n")
    scan_installed()
    cache = _metadata.ScanCache.location()
    with open(cache, "w", encoding="utf-8") as file:
        file.write("{not json")
    assert [p.name for p in scan_installed().plugins] == ["foo"]
    blocked = tmp_path_factory.mktemp("blocked") / "file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file where a folder should be
    assert [p.name for p in scan_installed().plugins] == ["foo"]
