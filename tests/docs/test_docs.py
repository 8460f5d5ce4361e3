"""The documentation site stays complete: every hook, registered loss, CLI
subcommand and environment variable is documented, the generators of the
build-time pages cover the live registry, and each loss's config snippet runs
(the examples of the pages run in ``test_examples.py``).

These tests read the Markdown sources and call the page generators in
``docs/_scripts`` directly; they do not run mkdocs (``hatch run docs:build``
does, strictly; ``hatch run docs:check`` also checks the built site).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

import losses_core
from losses_core import hookspecs, list_losses
from losses_core._cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCRIPTS = DOCS / "_scripts"


def _import_script(name: str):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


docgen = _import_script("docgen")
griffe_rst = _import_script("griffe_rst")


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _has_heading(text: str, needle: str) -> bool:
    return any(needle in line for line in text.splitlines() if re.match(r"^#{1,6} ", line))


# -- hooks -----------------------------------------------------------------------
def _hookspecs() -> dict[str, str]:
    """Every hook declared in losses_core.hookspecs, with its ``name(args)`` signature."""
    marker = "losses_spec"  # what pluggy.HookspecMarker("losses") writes
    hooks = {
        name: f"{name}({', '.join(inspect.signature(fn).parameters)})"
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, marker)
    }
    assert {"losses_register", "losses_pre_loss", "losses_post_loss"} <= set(hooks)
    return hooks


@pytest.mark.parametrize("hook", sorted(_hookspecs()))
def test_every_hook_has_a_heading_and_its_signature_in_the_hooks_page(hook):
    text = _page("hooks.md")
    signature = _hookspecs()[hook]
    assert _has_heading(text, hook), f"docs/hooks.md has no heading for hook {hook}"
    assert signature in text, f"docs/hooks.md does not show the signature {signature}"


# -- losses ----------------------------------------------------------------------
def _sections(pages: dict[str, str]) -> list[tuple[str, str, str]]:
    """(page, heading line, body) of every ``## `` section of the loss pages."""
    found = []
    for path, text in pages.items():
        parts = re.split(r"^(## .*)$", text, flags=re.M)
        found += [(path, parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    return found


def _missing_losses(pages: dict[str, str]) -> list[str]:
    """Qualified names of registered losses (from ``list_losses()``, not from
    the generator) without a section and an index entry in ``pages``."""
    sections = _sections(pages)
    index = pages.get("losses/index.md", "")
    missing = []
    for info in list_losses():
        documented = any(
            f"`{info.name}`" in heading
            and info.qualified_name in body
            and all(f"`{alias}`" in body for alias in info.aliases)
            and info.provider in body
            for _, heading, body in sections
        )
        if not documented or f"[`{info.name}`](" not in index:
            missing.append(info.qualified_name)
    return missing


@pytest.fixture(scope="module")
def loss_docs():
    return docgen.collect_losses()


def test_every_registered_loss_has_a_generated_section(loss_docs):
    assert list_losses(), "no loss registered: the test would prove nothing"
    pages = docgen.loss_pages(loss_docs)
    assert _missing_losses(pages) == []
    assert {"losses/index.md", "losses/SUMMARY.md", "losses/losses-core.md"} <= set(pages)


def test_a_loss_left_out_of_the_pages_is_reported(loss_docs):
    left_out = loss_docs[len(loss_docs) // 2]
    pages = docgen.loss_pages([d for d in loss_docs if d is not left_out])
    assert _missing_losses(pages) == [left_out.qualified_name]


def test_the_rest_of_each_plugin_package_api_is_rendered(loss_docs):
    pages = docgen.loss_pages(loss_docs)
    loss_paths = {d.object_path for d in loss_docs}
    for provider in {d.provider for d in loss_docs} - {"losses-core", "runtime"}:
        page = pages[f"losses/{provider}.md"]
        try:
            package = importlib.import_module(provider.replace("-", "_"))
        except ImportError:  # a distribution whose import name differs: not first-party
            continue
        for name in getattr(package, "__all__", ()):
            obj = getattr(package, name)
            if name.startswith("_") or (callable(obj) and docgen.object_path(obj) in loss_paths):
                continue
            assert f"::: {package.__name__}.{name}\n" in page, f"{package.__name__}.{name}"


def test_plugin_problems_report_what_would_make_the_loss_pages_incomplete(monkeypatch):
    assert docgen.plugin_problems() == []  # the test environment loads every plugin
    monkeypatch.setenv("LOSSES_DISABLE_PLUGINS", "losses-vae")
    assert any("LOSSES_DISABLE_PLUGINS" in p for p in docgen.plugin_problems())


def test_every_provider_page_is_in_the_navigation(loss_docs):
    pages = docgen.loss_pages(loss_docs)
    nav = pages["losses/SUMMARY.md"]
    for path in pages:
        if path != "losses/SUMMARY.md":
            assert f"]({path.removeprefix('losses/')})" in nav


def test_mkdocstrings_blocks_point_at_the_registered_objects(loss_docs):
    from losses_core import LOSSES

    for doc in loss_docs:
        function = LOSSES[doc.qualified_name].function
        if doc.object_path is None:
            continue
        assert doc.module and doc.object_path.startswith(f"{doc.module}."), doc.qualified_name
        obj = importlib.import_module(doc.module)
        for part in doc.object_path[len(doc.module) + 1 :].split("."):
            obj = getattr(obj, part)
        assert obj is function or obj is type(function), doc.qualified_name
    # every first-party loss is a plain module-level function: rendered by mkdocstrings
    first_party = [d for d in loss_docs if d.provider.startswith("losses-")]
    assert all(d.object_path for d in first_party), [d.name for d in first_party if not d.object_path]


def test_generated_sections_fall_back_to_the_docstring():
    def make():
        def local_loss(model_output, targets, *, scale: float = 1.0):
            """A loss defined in a function: :math:`x^2`."""
            return model_output["x"].sum() * scale

        return local_loss

    local = make()
    assert docgen.object_path(local) is None
    doc = docgen.LossDoc(
        name="local",
        qualified_name="local@runtime",
        provider="runtime",
        version=None,
        aliases=(),
        ambiguous=False,
        module=__name__,
        object_path=None,
        doc=inspect.getdoc(local),
        parameters=(("scale", 1.0),),
        required=(),
        accepts_any_keyword=False,
        example=(),
    )
    page = docgen.loss_pages([doc])["losses/runtime.md"]
    assert r"\(x^2\)" in page and ":::" not in page
    assert "scale: 1.0" in page


def test_object_paths_look_through_partials_and_skip_what_cannot_be_rendered():
    import functools

    from losses_core.losses import mse

    assert docgen.object_path(mse) == "losses_core.losses.mse.mse"
    assert docgen.object_path(functools.partial(mse, reduction="sum")) == "losses_core.losses.mse.mse"
    assert docgen.object_path(lambda mo, t: mo["x"].sum()) is None
    assert docgen.object_path(functools.reduce) is None  # not a Python source file


def test_a_function_registered_twice_is_rendered_once_per_page(loss_docs):
    import dataclasses

    first = next(d for d in loss_docs if d.object_path)
    twin = dataclasses.replace(first, name="twin", qualified_name=f"twin@{first.provider}", aliases=())
    page = docgen.loss_pages([first, twin])[f"losses/{first.provider}.md"]
    assert page.count(f"::: {first.object_path}\n") == 1
    assert f"documented under [`{first.name}`](#{docgen.loss_anchor(first.name)})" in page


def _snippet_config(doc) -> dict:
    """The loss's generated YAML snippet, parsed, with the example's other
    parameters over the snippet's defaults (so that the config fits the
    example inputs: a codebook size, group sizes); required parameters are
    left as the snippet shows them."""
    import yaml

    config = yaml.safe_load(docgen.config_snippet(doc))
    params = config["loss"].setdefault("params", {})
    params.update({k: v for k, v in doc.example_params if k not in doc.required})
    return config


def test_every_config_snippet_runs_on_the_losses_example_inputs(loss_docs):
    import torch

    from losses_core import LOSSES, loss_from_config

    failures = []
    checked = 0
    for doc in loss_docs:
        factory = LOSSES[doc.qualified_name].entry.example_inputs
        if factory is None:
            continue
        snippet = docgen.config_snippet(doc)
        model_output, targets, _ = factory(batch_size=4, dtype=torch.float32)
        try:
            result = loss_from_config(_snippet_config(doc))(model_output, targets)
            assert result["loss"].dim() == 0 and torch.isfinite(result["loss"]), result["loss"]
        except Exception as error:  # every failing loss is listed, not only the first
            failures.append(f"{doc.qualified_name}: {type(error).__name__}: {error}\n{snippet}")
        checked += 1
    assert checked >= 50 and all(d.provider.startswith("losses-") for d in loss_docs)
    assert failures == []


def test_a_required_parameter_gets_the_examples_value_or_asks_for_one(loss_docs):
    import dataclasses

    import yaml

    tcvae = next(d for d in loss_docs if d.qualified_name == "beta_tcvae@losses-vae")
    snippet = docgen.config_snippet(tcvae)
    assert "    dataset_size: 1000  # required; the example's value" in snippet
    assert yaml.safe_load(snippet)["loss"]["params"]["dataset_size"] == 1000
    without = dataclasses.replace(tcvae, example_params=())
    assert "    dataset_size: null  # required: no example value, set one" in docgen.config_snippet(without)
    # no first-party snippet is left with a null placeholder
    placeholders = [
        d.qualified_name for d in loss_docs if "# required: no example" in docgen.config_snippet(d)
    ]
    assert placeholders == []


def test_snippet_values_read_back_as_the_defaults():
    import math

    import yaml

    defaults = (("eps", 1e-10), ("big", 1e20), ("half", 0.5), ("cap", math.inf), ("floor", -math.inf))
    defaults += (("n", 3), ("flag", False), ("name", "yes"), ("none", None), ("sizes", (2, 4)))
    doc = docgen.LossDoc(
        name="x", qualified_name="x@runtime", provider="runtime", version=None, aliases=(), ambiguous=False,
        module=None, object_path=None, doc="", parameters=(*defaults, ("nan", math.nan)), required=(),
        accepts_any_keyword=False, example=(),
    )  # fmt: skip
    params = yaml.safe_load(docgen.config_snippet(doc))["loss"]["params"]
    assert params.pop("sizes") == [2, 4] and math.isnan(params.pop("nan"))
    assert params == {k: v for k, v in defaults if k != "sizes"}


# -- command line ----------------------------------------------------------------
def _parser_subcommands(parser: argparse.ArgumentParser) -> list[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return list(actions[0].choices)


def test_every_cli_subcommand_is_in_the_cli_reference():
    names = _parser_subcommands(build_parser())
    assert {"list", "show", "plugins", "check", "doctor", "new-plugin"} <= set(names)
    page = docgen.cli_page(_page("cli.md"))
    for name in names:
        assert re.search(rf"^## `losses {re.escape(name)}`$", page, re.M), name
        assert f"usage: losses {name}" in page, name
    assert "usage: losses [-h]" in page
    assert "<!--" not in page, "a marker was left unexpanded"
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in page


def test_cli_reference_appends_undocumented_subcommands_and_rejects_stale_ones():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers.add_parser("frobnicate", help="a command the prose does not know yet")
    page = docgen.cli_page(_page("cli.md"), parser)
    assert "### `losses frobnicate`" in page and "usage: losses frobnicate" in page
    with pytest.raises(ValueError, match="losses gone"):
        docgen.cli_page("<!-- cli-help: gone -->\n", build_parser())


# -- environment -----------------------------------------------------------------
def test_every_environment_variable_is_in_the_environment_page():
    from losses_core import _environment

    variables = sorted(
        value
        for name, value in vars(_environment).items()
        if name.isupper() and isinstance(value, str) and value.startswith("LOSSES_")
    )
    assert len(variables) >= 5
    text = _page("environment.md")
    for variable in variables:
        assert _has_heading(text, variable), f"docs/environment.md has no section for {variable}"
        assert variable in (_environment.__doc__ or ""), f"{variable} is not in _environment's docstring"


# -- reST to Markdown ------------------------------------------------------------
def test_rst_conversion_of_math_roles_and_directives():
    text = "Loss :math:`a_i +\n b`.\n\n.. math:: x = 1\n          + y\n\nAfter."
    out = griffe_rst.rst_to_markdown(text)
    assert r"\(a_i + b\)" in out
    assert "$$\nx = 1\n+ y\n$$" in out
    assert out.rstrip().endswith("After.")


def test_rst_math_directives_are_one_display_per_equation_and_aligned_as_in_sphinx():
    text = ".. math::\n    a &= b \\\\\n    c &= d\n\n    e = f\n\nAfter."
    out = griffe_rst.rst_to_markdown(text)
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$\n\n$$\ne = f\n$$" in out
    # an environment of its own, an escaped ampersand and :nowrap: are left alone
    for body in ("\\begin{cases} 1 & x \\\\ 0 & y \\end{cases}", "a \\& b"):
        assert griffe_rst.rst_to_markdown(f".. math:: {body}") == f"$$\n{body}\n$$"
    nowrap = griffe_rst.rst_to_markdown(".. math::\n    :nowrap:\n\n    a & b")
    assert nowrap == "$$\na & b\n$$"


def test_rst_conversion_of_literal_blocks_definitions_and_references():
    text = (
        "Use it::\n\n    import torch\n    x = 1\n\nTitle\n=====\n\n"
        "``TERM_ONE``\n    First definition.\n``TERM_TWO``\n    Second.\n\n"
        "See :class:`~losses_core.LossReturn` and :func:`losses_core.resolve_loss`."
    )
    out = griffe_rst.rst_to_markdown(text)
    assert "Use it:\n\n```python\nimport torch\nx = 1\n```" in out
    assert "**Title**" in out
    assert "``TERM_ONE``\n:   First definition." in out and "``TERM_TWO``\n:   Second." in out
    assert '<autoref identifier="losses_core.LossReturn" optional>`LossReturn`</autoref>' in out
    assert '<autoref identifier="losses_core.resolve_loss" optional>`losses_core.resolve_loss()`' in out


def test_rst_conversion_leaves_sphinx_fields_and_lists_alone():
    text = ":param x: the input,\n    continued.\n:returns: a value.\n\nIntro:\n- one\n- two"
    out = griffe_rst.rst_to_markdown(text)
    assert ":param x: the input,\n    continued.\n:returns: a value." in out
    assert "Intro:\n\n- one\n- two" in out


# -- the plugin guide and the API page --------------------------------------------
def test_every_conformance_check_is_described_in_the_plugin_guide():
    from losses_core.testing import CHECKS

    text = _page("writing-a-plugin.md")
    for check in CHECKS:
        assert f"| `{check}` |" in text, check


def test_public_api_page_renders_the_package():
    text = _page("api/index.md")
    assert "::: losses_core\n" in text
    assert set(losses_core.__all__) >= {"LOSSES", "register_loss", "resolve_loss"}
