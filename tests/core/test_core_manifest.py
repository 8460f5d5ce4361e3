"""Manifests: parsing with clear errors, locating without importing,
generating from the code's registrations, comparing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from losses_core._generate import (
    Declarations,
    ManifestLoss,
    compare_declarations,
    entry_point_lines,
    generate_declarations,
)
from losses_core._manifest import (
    LOSS,
    MANIFEST,
    MODULE,
    Manifest,
    ManifestError,
    check_reference,
    declared_losses,
    entry_kind,
    locate_manifest,
    parse_manifest,
)
from losses_core.testing import check_manifest

VALID = {
    "losses-manifest": 1,
    "losses": {"foo": {"summary": "The foo loss."}, "bar": {"summary": "", "override": True}},
}


def test_a_valid_manifest_round_trips_through_its_deterministic_text():
    manifest = parse_manifest(json.dumps(VALID), "m.json")
    assert manifest == Manifest({"foo": "The foo loss.", "bar": ""}, frozenset({"bar"}))
    text = manifest.to_json()
    assert parse_manifest(text, "again") == manifest
    assert list(json.loads(text)["losses"]) == ["bar", "foo"] and text.endswith("}\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: "[1, 2", "m.json is not valid JSON"),
        (lambda d: [], "m.json: expected a JSON object, got list"),
        (lambda d: {**d, "losses-manifest": 2}, "expected 'losses-manifest': 1"),
        (lambda d: {**d, "extra": 1}, "unknown key(s) 'extra'"),
        (lambda d: {**d, "losses": []}, "'losses' must be an object"),
        (lambda d: {**d, "losses": {"a:b": {"summary": ""}}}, "loss 'a:b': a loss name cannot contain ':'"),
        (lambda d: {**d, "losses": {"a": "text"}}, "loss 'a': expected an object with a 'summary' string"),
        (lambda d: {**d, "losses": {"a": {"summary": 1}}}, "loss 'a': expected an object with a 'summary'"),
        (lambda d: {**d, "losses": {"a": {"summary": "", "doc": ""}}}, "loss 'a': unknown key(s) 'doc'"),
        (lambda d: {**d, "losses": {"a": {"summary": "", "override": "yes"}}}, "'override' must be true"),
    ],
)
def test_invalid_manifests_name_the_file_the_key_and_what_was_expected(change, message):
    data = change(VALID)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data if isinstance(data, str) else json.dumps(data), "m.json")
    assert message in str(info.value) and "m.json" in str(info.value)


def test_entry_points_are_told_apart_by_their_values():
    assert entry_kind("losses_foo:losses.json") == MANIFEST
    assert entry_kind("losses_foo.sub : losses.json") == MANIFEST
    assert entry_kind("losses_foo") == MODULE
    assert entry_kind("losses_foo.plugin:Plugin.instance") == LOSS
    assert check_reference("a.b:c.d", "x") == "a.b:c.d"
    assert check_reference("a.b", "x", attribute=False) == "a.b"
    for bad in ("a.b", "a-b:c", "a:", "a:1x", 3):
        with pytest.raises(ManifestError, match="x: expected an object reference"):
            check_reference(bad, "x")


def test_the_names_of_one_object_are_one_loss():
    entries = [("foo", "p.foo:foo"), ("Foo", " p.foo:foo"), ("bar", "p.bar:bar")]
    assert declared_losses(entries) == [(("foo", "Foo"), "p.foo:foo"), (("bar",), "p.bar:bar")]


def test_entry_point_lines_put_each_name_and_the_manifest_in_the_table():
    losses = [ManifestLoss("b_loss", "pkg.b:b_loss", aliases=("BLoss",)), ManifestLoss("a", "pkg.a:a")]
    assert entry_point_lines(losses, "losses-pkg", "pkg") == [
        'a = "pkg.a:a"',
        'b_loss = "pkg.b:b_loss"',
        'BLoss = "pkg.b:b_loss"',
        'losses-pkg = "pkg:losses.json"',
    ]


def _package(tmp_path, name, files):
    root = tmp_path / name
    root.mkdir()
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_a_manifest_is_located_without_importing_its_package(tmp_path, monkeypatch):
    _package(tmp_path, "mfpkg", {"__init__.py": "raise RuntimeError('imported')\n", "sub/losses.json": "{}"})
    (tmp_path / "mfmodule.py").write_text("", encoding="utf-8")
    expected = str(tmp_path / "mfpkg" / "sub" / "losses.json")
    assert locate_manifest("mfpkg.sub:losses.json", near=str(tmp_path / "mfpkg-1.0.dist-info")) == expected
    monkeypatch.syspath_prepend(str(tmp_path))
    assert locate_manifest("mfpkg.sub:losses.json") == expected
    assert "mfpkg" not in sys.modules
    with pytest.raises(ManifestError, match=r"mfpkg has no file 'losses\.json'"):
        locate_manifest("mfpkg:losses.json")
    with pytest.raises(ManifestError, match="package 'not_installed_pkg' is not installed"):
        locate_manifest("not_installed_pkg:losses.json")
    with pytest.raises(ManifestError, match="'mfmodule' is a module, not a package"):
        locate_manifest("mfmodule:losses.json")


GEN_LOSS = '''
"""Module docstring."""
from losses_core import register_loss


@register_loss(aliases=("GenOne",))
def gen_one(model_output, targets):
    """The first generated loss. More text."""
    return model_output["x"].sum()
'''


def test_generate_declares_each_registered_loss_at_its_definition_site(tmp_path, monkeypatch):
    _package(
        tmp_path,
        "genpkg",
        {
            "__init__.py": """
                from losses_core import hookimpl
                from genpkg.one import gen_one  # re-exported: the definition site wins

                @hookimpl
                def losses_pre_loss(call):
                    pass
            """,
            "one.py": GEN_LOSS,
            "two.py": """
                from losses_core import register_loss
                from losses_core.losses.mse import mse  # another package's loss: not declared here

                class Scaled:
                    \"\"\"A callable instance.\"\"\"
                    def __call__(self, model_output, targets, scale: float = 1.0):
                        return model_output["x"].sum() * scale

                scaled = register_loss("gen_scaled", Scaled(), override=True)
            """,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert generate_declarations("genpkg") == Declarations(
        (
            ManifestLoss("gen_one", "genpkg.one:gen_one", "The first generated loss.", ("GenOne",), False),
            ManifestLoss("gen_scaled", "genpkg.two:scaled", "A callable instance.", (), True),
        ),
        ("genpkg",),
    )


def test_generate_reports_unreachable_losses_and_failing_imports(tmp_path, monkeypatch):
    _package(
        tmp_path,
        "hiddenpkg",
        {
            "__init__.py": "",
            "mod.py": """
                from losses_core import register_loss

                def _make():
                    def hidden_loss(model_output, targets):
                        return model_output["x"].sum()
                    register_loss("hidden_loss", hidden_loss)

                _make()
            """,
        },
    )
    _package(tmp_path, "brokenpkg", {"__init__.py": "", "bad.py": "import sys\nsys.exit(2)\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ManifestError, match="'hidden_loss' is registered by hiddenpkg but is not a module-level"
    ):
        generate_declarations("hiddenpkg")
    with pytest.raises(ManifestError, match=r"cannot import brokenpkg.bad: SystemExit: 2"):
        generate_declarations("brokenpkg")


def test_compare_names_every_difference():
    declared = Declarations((ManifestLoss("a", "p.a:a", "A.", ("A",)), ManifestLoss("b", "p.b:b", "B.")))
    code = Declarations(
        (ManifestLoss("a", "p.a2:a", "A!", (), True), ManifestLoss("c", "p.c:c", "C.")), ("p",)
    )
    assert compare_declarations(declared, declared) == []
    assert compare_declarations(declared, code) == [
        "'b' is declared (p.b:b) but the code registers no such loss",
        "'c' is registered by p.c:c but not declared",
        "'a': object is declared as 'p.a:a' but the code gives 'p.a2:a'",
        "'a': aliases is declared as ('A',) but the code gives ()",
        "'a': summary is declared as 'A.' but the code gives 'A!'",
        "'a': override is declared as False but the code gives True",
        'p implements hooks but no entry point names it (add `<name> = "p"`)',
    ]


@pytest.mark.parametrize("distribution", ["losses-core", "losses-vae", "losses-sae", "losses-ranking"])
def test_the_first_party_manifests_match_their_code(distribution):
    assert check_manifest(distribution) == []


def test_check_manifest_names_an_unknown_distribution():
    with pytest.raises(LookupError, match=r"'losses-nope' has no entry point in the losses\.plugins group"):
        check_manifest("losses-nope")


@pytest.mark.parametrize("package", ["losses_core.losses", "losses_vae", "losses_sae", "losses_ranking"])
def test_losses_manifest_check_passes_for_the_committed_manifests(package):
    proc = subprocess.run(
        [sys.executable, "-m", "losses_core", "manifest", package, "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
