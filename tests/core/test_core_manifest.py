"""Manifests: parsing with clear errors, locating without importing,
generating from the code's registrations, comparing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from losses_core._manifest import (
    Manifest,
    ManifestError,
    ManifestLoss,
    compare_manifests,
    generate_manifest,
    is_manifest_reference,
    locate_manifest,
    parse_manifest,
)
from losses_core.testing import check_manifest

VALID = {
    "losses-manifest": 1,
    "losses": {
        "foo": {"object": "pkg.foo:foo", "summary": "The foo loss.", "aliases": ["Foo"]},
        "bar": {"object": "pkg.bar:Bar.instance", "summary": "", "override": True},
    },
    "hooks": {"object": "pkg.hooks", "implements": ["losses_post_loss", "losses_pre_loss"]},
}


def test_a_valid_manifest_round_trips_through_its_deterministic_text():
    manifest = parse_manifest(json.dumps(VALID), "m.json")
    assert manifest.losses[0] == ManifestLoss("foo", "pkg.foo:foo", "The foo loss.", ("Foo",), False)
    assert manifest.losses[1].override and manifest.hooks == ("losses_post_loss", "losses_pre_loss")
    assert manifest.packages == {"pkg"}
    text = manifest.to_json()
    assert parse_manifest(text, "again") == Manifest(
        tuple(sorted(manifest.losses, key=lambda x: x.name)), "pkg.hooks", manifest.hooks
    )
    assert list(json.loads(text)["losses"]) == ["bar", "foo"] and text.endswith("}\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: "[1, 2", "m.json is not valid JSON"),
        (lambda d: [], "m.json: expected a JSON object, got list"),
        (lambda d: {**d, "losses-manifest": 2}, "expected 'losses-manifest': 1"),
        (lambda d: {**d, "extra": 1}, "unknown key(s) 'extra'"),
        (lambda d: {**d, "losses": []}, "'losses' must be an object"),
        (lambda d: {**d, "losses": {"a:b": {"object": "p:f"}}}, "loss 'a:b': a loss name cannot contain ':'"),
        (lambda d: {**d, "losses": {"a": "p:f"}}, "loss 'a': expected an object with 'object'"),
        (lambda d: {**d, "losses": {"a": {"object": "p:f", "doc": ""}}}, "loss 'a': unknown key(s) 'doc'"),
        (
            lambda d: {**d, "losses": {"a": {"object": "p"}}},
            "expected an object reference 'package.module:attr",
        ),
        (lambda d: {**d, "losses": {"a": {"object": "p-q:f"}}}, "got 'p-q:f'"),
        (lambda d: {**d, "losses": {"a": {"object": "p:f", "summary": 1}}}, "'summary' must be a string"),
        (lambda d: {**d, "losses": {"a": {"object": "p:f", "aliases": "b"}}}, "'aliases' must be a list"),
        (lambda d: {**d, "losses": {"a": {"object": "p:f", "override": "yes"}}}, "'override' must be true"),
        (
            lambda d: {**d, "losses": {"a": {"object": "p:f", "aliases": ["b"]}, "b": {"object": "p:g"}}},
            "'b' is declared twice (by 'a' and 'b')",
        ),
        (lambda d: {**d, "hooks": {"object": "p"}}, "exactly 'object' and 'implements'"),
        (lambda d: {**d, "hooks": {"object": "p", "implements": ["losses_x"]}}, "unknown hook(s) 'losses_x'"),
        (lambda d: {**d, "hooks": {"object": "p", "implements": []}}, "non-empty list of hook names"),
    ],
)
def test_invalid_manifests_name_the_file_the_key_and_what_was_expected(change, message):
    data = change(VALID)
    with pytest.raises(ManifestError) as info:
        parse_manifest(data if isinstance(data, str) else json.dumps(data), "m.json")
    assert message in str(info.value) and "m.json" in str(info.value)


def test_references_to_manifests_are_told_from_modules():
    assert is_manifest_reference("losses_foo:losses.json")
    assert is_manifest_reference("losses_foo.sub : losses.json")
    assert not is_manifest_reference("losses_foo")
    assert not is_manifest_reference("losses_foo.plugin:Plugin")


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
    monkeypatch.syspath_prepend(str(tmp_path))
    assert locate_manifest("mfpkg.sub:losses.json") == str(tmp_path / "mfpkg" / "sub" / "losses.json")
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
    manifest = generate_manifest("genpkg")
    assert manifest.losses == (
        ManifestLoss("gen_one", "genpkg.one:gen_one", "The first generated loss.", ("GenOne",), False),
        ManifestLoss("gen_scaled", "genpkg.two:scaled", "A callable instance.", (), True),
    )
    assert (manifest.hooks_object, manifest.hooks) == ("genpkg", ("losses_pre_loss",))


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
        generate_manifest("hiddenpkg")
    with pytest.raises(ManifestError, match=r"cannot import brokenpkg.bad: SystemExit: 2"):
        generate_manifest("brokenpkg")


def test_compare_names_every_difference():
    declared = Manifest(
        (ManifestLoss("a", "p.a:a", "A.", ("A",)), ManifestLoss("b", "p.b:b", "B.")),
        "p",
        ("losses_pre_loss",),
    )
    code = Manifest((ManifestLoss("a", "p.a2:a", "A!", (), True), ManifestLoss("c", "p.c:c", "C.")))
    assert compare_manifests(declared, declared) == []
    assert compare_manifests(declared, code) == [
        "'b' is declared (p.b:b) but the code registers no such loss",
        "'c' is registered by p.c:c but not declared",
        "'a': object is declared as 'p.a:a' but the code gives 'p.a2:a'",
        "'a': aliases is declared as ('A',) but the code gives ()",
        "'a': summary is declared as 'A.' but the code gives 'A!'",
        "'a': override is declared as False but the code gives True",
        "hooks are declared as 'p' implementing ['losses_pre_loss'] but the code gives None implementing []",
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
