"""Pages of the documentation site generated from the live registry and the CLI parser.

:func:`loss_pages` writes one page per distribution that provides losses, with
a section per loss (registered name, aliases, provider and version, example
inputs, a config snippet and a mkdocstrings block that renders the loss's own
docstring and formula), then the rest of the package's public API (its
``__all__`` minus the losses), plus an index and the navigation file of the
``losses/`` folder. A loss added to any installed distribution is documented
on the next build without touching the docs.

:func:`cli_page` fills the hand-written CLI reference with the help text of
every subcommand of :func:`losses_core._cli.build_parser`, and appends a
section for any subcommand the prose does not cover yet.

The functions are pure (they return text) so that ``tests/docs`` can check
their output against ``losses_core.list_losses()`` and the parser without
running mkdocs; ``gen_pages.py`` writes their output into the build.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import inspect
import json
import math
import os
import re
import sysconfig
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from griffe_rst import rst_to_markdown

__all__ = [
    "LossDoc",
    "cli_page",
    "collect_losses",
    "config_snippet",
    "loss_anchor",
    "loss_pages",
    "object_path",
    "plugin_problems",
    "subcommands",
]

CORE = "losses-core"
RUNTIME = "runtime"
_PATHS = sysconfig.get_paths()
_STDLIB = Path(_PATHS["stdlib"]).resolve()
_SITE = {Path(_PATHS[key]).resolve() for key in ("purelib", "platlib")}


def _in_stdlib(source: str) -> bool:
    """Whether ``source`` belongs to the standard library (not to an installed package)."""
    path = Path(source).resolve()
    installed = {"site-packages", "dist-packages"} & set(path.parts)
    if installed or any(path.is_relative_to(site) for site in _SITE):
        return False
    return path.is_relative_to(_STDLIB)


@dataclass(frozen=True)
class LossDoc:
    """What the loss pages show about one registered loss."""

    name: str
    qualified_name: str
    provider: str
    version: str | None
    aliases: tuple[str, ...]
    ambiguous: bool
    module: str | None
    object_path: str | None
    doc: str
    parameters: tuple[tuple[str, Any], ...]
    required: tuple[str, ...]
    accepts_any_keyword: bool
    example: tuple[str, ...]
    inputs: tuple[Any, ...] = ()
    example_params: tuple[tuple[str, Any], ...] = ()
    """The parameters of the loss's registered example inputs, if any."""


# -- collecting ------------------------------------------------------------------
def _unwrap(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function behind ``functools.partial`` layers."""
    while isinstance(function, functools.partial):
        function = function.func
    return function


def _documented_target(function: Callable[..., Any]) -> Any:
    """What documents a registered loss: the function itself, or the class of
    a callable instance (``functools.partial`` is looked through)."""
    function = _unwrap(function)
    return function if inspect.isfunction(function) or inspect.isclass(function) else type(function)


def object_path(function: Callable[..., Any]) -> str | None:
    """The dotted path mkdocstrings can render for a registered loss, or ``None``.

    A function gives ``module.qualname``; a callable instance gives its class;
    a ``functools.partial`` gives the function it wraps. The path must lead
    back to the same object when imported from a Python source file outside
    the standard library, so that a closure, a lambda or a function defined
    under another name falls back to the plain docstring instead of breaking
    the build.
    """
    target = _documented_target(function)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return None
    try:
        obj: Any = importlib.import_module(module)
        source = str(getattr(obj, "__file__", None) or "")
        if not source.endswith(".py") or _in_stdlib(source):
            return None
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return f"{module}.{qualname}" if obj is target else None


def _example(entry: Any) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]:
    """Keys, dtypes and shapes of the loss's registered example inputs, and
    the example's parameters."""
    factory = getattr(entry, "example_inputs", None)
    if factory is None:
        return (), ()
    try:
        import torch

        model_output, targets, params = factory(batch_size=4, dtype=torch.float32)
    except Exception:
        return (), ()
    lines = []
    for source, mapping in (("model_output", model_output), ("targets", targets)):
        for key, value in mapping.items():
            lines.append(f"`{source}[{key!r}]`: {_describe_value(value)}")
    if params:
        lines.append("parameters: " + ", ".join(f"`{k}`: {_describe_value(v)}" for k, v in params.items()))
    return tuple(lines), tuple(params.items())


def _describe_value(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        grad = ", requires grad" if value.requires_grad else ""
        return f"`{dtype}` tensor of shape `{list(value.shape)}`{grad}"
    text = repr(value)
    return f"`{text if len(text) <= 60 else type(value).__name__}`"


def collect_losses(infos: Iterable[Any] | None = None) -> list[LossDoc]:
    """:class:`LossDoc` for each of ``infos`` (default: every registered loss,
    from ``losses_core.list_losses()``)."""
    from losses_core import LOSSES, list_losses

    docs = []
    for info in list_losses() if infos is None else infos:
        handle = LOSSES[info.qualified_name]
        entry = handle.entry
        function = entry.function
        target = _documented_target(function)
        signature = entry.signature
        example, example_params = _example(entry)
        parameters = tuple(
            (name, None if p.default is inspect.Parameter.empty else p.default)
            for name, p in signature.parameters.items()
        )
        docs.append(
            LossDoc(
                name=info.name,
                qualified_name=info.qualified_name,
                provider=info.provider,
                version=info.version,
                aliases=tuple(info.aliases),
                ambiguous=info.ambiguous,
                module=getattr(target, "__module__", None),
                object_path=object_path(function),
                doc=inspect.getdoc(target) or "",
                parameters=parameters,
                required=tuple(sorted(signature.required)),
                accepts_any_keyword=bool(signature.var_keyword and not signature.checks_names),
                example=example,
                inputs=tuple(entry.inputs),
                example_params=example_params,
            )
        )
    return docs


def plugin_problems() -> list[str]:
    """Why the loss pages of this process would be incomplete: plugins that
    failed to load or were skipped, and plugin controls set in the
    environment (the docs must show every installed distribution)."""
    from losses_core import list_plugins
    from losses_core._environment import DISABLE_AUTOLOAD, DISABLE_PLUGINS, LOAD_PLUGINS

    problems = [
        f"{variable} is set in the environment, so the loss pages may leave out installed plugins"
        for variable in (DISABLE_AUTOLOAD, LOAD_PLUGINS, DISABLE_PLUGINS)
        if os.environ.get(variable) is not None
    ]
    problems += [
        f"plugin {p.name} {p.version or ''} {p.status}: {p.error}"
        for p in list_plugins()
        if p.status in ("failed", "skipped")
    ]
    return problems


# -- rendering the loss pages ----------------------------------------------------
def loss_anchor(name: str) -> str:
    """The HTML id of a loss's section on its distribution's page."""
    return "loss-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")


def _provider_order(provider: str) -> tuple[int, str]:
    return (0 if provider == CORE else 2 if provider == RUNTIME else 1, provider)


def _summary(doc: str) -> str:
    from losses_core._text import first_sentence  # the sentence `losses list` shows, in Markdown

    paragraph = re.sub(r",?\s*registered as ``[^`]+``", "", first_sentence(doc)).rstrip(" :,;")
    return rst_to_markdown(paragraph).replace("|", r"\|").replace("\n", " ")


_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _yaml_float(value: float) -> str:
    """``value`` as a float that ``yaml.safe_load`` reads back as that float:
    PyYAML follows YAML 1.1, where ``1e-10`` (no dot) is a string and infinity
    is ``.inf``."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    mantissa, exponent, power = repr(value).partition("e")
    if exponent and "." not in mantissa:
        mantissa += ".0"
    return mantissa + exponent + power


def _yaml_scalar(value: Any) -> str | None:
    """``value`` as a YAML scalar or flow sequence, or ``None`` if it has no
    plain YAML form (a tensor, a callable)."""
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z_][\w-]*", value) and value.lower() not in _YAML_WORDS
        return value if plain else json.dumps(value)
    if isinstance(value, float):
        return _yaml_float(value)
    if isinstance(value, (bool, int)) or value is None:
        return json.dumps(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return "[" + ", ".join(str(_yaml_scalar(v)) for v in value) + "]"
    return None


def config_snippet(doc: LossDoc) -> str:
    """The YAML config of the loss's section: its class and every parameter
    with a YAML form, at its default. A required parameter shows the value of
    the loss's example inputs (so that the snippet runs as shown), or, when
    the example gives none, ``null`` with a comment asking for a value."""
    lines = ["loss:", f"  class: {_yaml_scalar(doc.qualified_name if doc.ambiguous else doc.name)}"]
    example = dict(doc.example_params)
    params = []
    for name, default in doc.parameters:
        if name in doc.required:
            value = _yaml_scalar(example[name]) if name in example else None
            if value is None:
                params.append(f"    {name}: null  # required: no example value, set one")
            else:
                params.append(f"    {name}: {value}  # required; the example's value")
            continue
        if name == "keys":  # mapped in its own section, see the inputs table
            continue
        scalar = _yaml_scalar(default)
        if scalar is not None:
            params.append(f"    {name}: {scalar}")
    if params:
        lines += ["  params:", *params]
    return "\n".join(lines)


def _distribution_header(provider: str, docs: list[LossDoc]) -> list[str]:
    lines = [f"# {provider}", ""]
    version = next((d.version for d in docs if d.version), None)
    summary = None
    if provider != RUNTIME:
        try:
            from importlib.metadata import metadata

            summary = metadata(provider).get("Summary")
        except Exception:
            summary = None
    if summary:
        lines += [summary, ""]
    facts = [f"{len(docs)} loss{'es' if len(docs) != 1 else ''}"]
    if version:
        facts.append(f"version {version} (at build time)")
    if provider == RUNTIME:
        facts.append("registered at runtime while the docs were built")
    else:
        facts.append(f"install: `pip install {provider}`")
    lines += [" · ".join(facts), ""]
    package = _common_package([d.module for d in docs if d.module and d.object_path])
    if package and provider != RUNTIME:
        lines += [
            f"::: {package}",
            "    options:",
            "      show_root_heading: false",
            "      show_root_toc_entry: false",
            "      members: false",
            "",
        ]
    return lines


def _other_exports(package: str, docs: list[LossDoc]) -> list[str]:
    """Public names of ``package.__all__`` other than its registered losses
    (helper classes, metrics and schedule modules)."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        return []
    losses = {d.object_path for d in docs}
    names = []
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name, None)
        if name.startswith("_") or obj is None:
            continue
        if not inspect.ismodule(obj) and callable(obj) and object_path(obj) in losses:
            continue
        names.append(name)
    return names


def _package_api(provider: str, docs: list[LossDoc]) -> list[str]:
    package = _common_package([d.module for d in docs if d.module and d.object_path])
    if provider in (CORE, RUNTIME) or not package:
        return []
    names = _other_exports(package, docs)
    if not names:
        return []
    lines = [
        f"## Other public API of `{package}` {{ #package-api }}",
        "",
        "Exported next to the losses: " + ", ".join(f"`{n}`" for n in names) + ".",
        "",
    ]
    for name in names:
        lines += [
            f"::: {package}.{name}",
            "    options:",
            "      show_root_full_path: true",
            "      heading_level: 3",
            "",
        ]
    return lines


def _common_package(modules: list[str]) -> str | None:
    if not modules:
        return None
    parts = [m.split(".") for m in modules]
    common: list[str] = []
    for pieces in zip(*parts, strict=False):
        if len(set(pieces)) != 1:
            break
        common.append(pieces[0])
    if len(set(modules)) == 1 and len(common) > 1:
        common = common[:-1]
    return ".".join(common) or None


def _loss_section(
    doc: LossDoc, anchor: str, rendered: dict[str, tuple[str, str]], figures: Sequence[str] = ()
) -> list[str]:
    """The section of one loss, ending with ``figures`` (Markdown blocks);
    ``rendered`` maps the objects already rendered on the page to (loss name,
    anchor), so that a function registered under two names is rendered once
    (an HTML id may appear only once per page)."""
    lines = [f"## `{doc.name}` {{ #{anchor} }}", ""]
    facts = [f"**Registered name** `{doc.name}`"]
    facts.append(f"**qualified** `{doc.qualified_name}`")
    if doc.aliases:
        facts.append("**aliases** " + ", ".join(f"`{a}`" for a in doc.aliases))
    provider = f"`{doc.provider}`" + (f" {doc.version}" if doc.version else "")
    facts.append(f"**provider** {provider}")
    lines += [" · ".join(facts), ""]
    if doc.ambiguous:
        lines += [
            '!!! warning "Name conflict"',
            f"    Another installed distribution also registers `{doc.name}`: use the "
            f"qualified name `{doc.qualified_name}`.",
            "",
        ]
    if doc.inputs:
        lines += [
            "Inputs, as the loss declares them (map your own key names with `keys:` in config, "
            "or `keys={...}` in code):",
            "",
            "| input | read from | dtype | shape | |",
            "|---|---|---|---|---|",
        ]
        for spec in doc.inputs:
            shape = f"`[{spec.shape}]`" if spec.shape else "any"
            where = f"`{spec.source}[{spec.default_key!r}]`"
            optional = "optional. " if spec.optional else ""
            lines.append(f"| `{spec.name}` | {where} | {spec.dtype} | {shape} | {optional}{spec.doc} |")
        lines.append("")
    if doc.example:
        lines += ["Example inputs (from the factory registered with the loss, batch size 4):", ""]
        lines += [f"- {line}" for line in doc.example]
        lines.append("")
    lines += ["```yaml", config_snippet(doc), "```", ""]
    if doc.accepts_any_keyword:
        lines += ["This loss reads its parameters from `**kwargs`, so config names are not checked.", ""]
    if doc.object_path and doc.object_path in rendered:
        first, first_anchor = rendered[doc.object_path]
        lines += [f"`{doc.object_path}`, documented under [`{first}`](#{first_anchor}).", ""]
    elif doc.object_path:
        rendered[doc.object_path] = (doc.name, anchor)
        lines += [
            f"::: {doc.object_path}",
            "    options:",
            "      show_root_heading: true",
            "      show_root_toc_entry: false",
            "      show_root_full_path: true",
            "      heading_level: 3",
            "",
        ]
    elif doc.doc:
        lines += [rst_to_markdown(doc.doc), ""]
    for figure in figures:
        lines += [figure, ""]
    return lines


def _page_name(provider: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", provider) + ".md"


def loss_pages(docs: list[LossDoc], figures: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """The ``losses/`` pages: ``index.md``, one page per provider and ``SUMMARY.md``
    (the navigation read by mkdocs-literate-nav). Keys are paths relative to
    the docs folder.

    :param figures: Markdown blocks to embed, by section: a loss's qualified
        name (at the end of its section) or a provider (after its page's header).
    :raises ValueError: ``figures`` names a section that is on no page.
    """
    figures = figures or {}
    by_provider: dict[str, list[LossDoc]] = {}
    for doc in docs:
        by_provider.setdefault(doc.provider, []).append(doc)
    providers = sorted(by_provider, key=_provider_order)
    unplaced = set(figures) - set(by_provider) - {d.qualified_name for d in docs}
    if unplaced:
        raise ValueError(
            f"figures for {sorted(unplaced)!r}, which are neither a registered loss nor a distribution "
            "with losses (expected a qualified loss name such as 'focal@losses-core', or a distribution)"
        )
    pages: dict[str, str] = {}
    index = [
        "# Losses by package",
        "",
        "Every loss registered in the environment that built these pages, generated from "
        "`losses_core.list_losses()`: installing a distribution adds its section on the next build. "
        "On your machine, `losses list` shows what *you* have installed and `losses show NAME` "
        "prints one loss's signature and formula.",
        "",
        f"{len(docs)} losses from {len(providers)} distribution{'s' if len(providers) != 1 else ''}.",
        "",
    ]
    nav = ["* [Overview](index.md)"]
    for provider in providers:
        page = _page_name(provider)
        members = sorted(by_provider[provider], key=lambda d: d.name.casefold())
        nav.append(f"* [{provider}]({page})")
        anchors: dict[str, str] = {}
        used: set[str] = set()
        for doc in members:
            anchor = loss_anchor(doc.name)
            while anchor in used:
                anchor += "-"
            used.add(anchor)
            anchors[doc.qualified_name] = anchor
        text = _distribution_header(provider, members)
        for figure in figures.get(provider, ()):
            text += [figure, ""]
        rendered: dict[str, tuple[str, str]] = {}
        for doc in members:
            text += _loss_section(
                doc, anchors[doc.qualified_name], rendered, figures.get(doc.qualified_name, ())
            )
        text += _package_api(provider, members)
        pages[f"losses/{page}"] = "\n".join(text).rstrip() + "\n"
        index += [f"## [{provider}]({page})", "", "| loss | aliases | summary |", "|---|---|---|"]
        for doc in members:
            aliases = ", ".join(f"`{a}`" for a in doc.aliases)
            index.append(
                f"| [`{doc.name}`]({page}#{anchors[doc.qualified_name]}) | {aliases} | {_summary(doc.doc)} |"
            )
        index.append("")
    pages["losses/index.md"] = "\n".join(index).rstrip() + "\n"
    pages["losses/SUMMARY.md"] = "\n".join(nav) + "\n"
    return pages


# -- the CLI reference -----------------------------------------------------------
_MARKER = re.compile(r"^<!-- (?P<kind>cli-help|json-fields)(?::\s*(?P<arg>[\w.-]+))?\s*-->$", re.M)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser``, by name, in declaration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@contextmanager
def _columns(width: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _help(parser: argparse.ArgumentParser) -> str:
    with _columns(96):
        text = parser.format_help()
    return "```text\n" + text.rstrip() + "\n```"


def _json_fields(name: str) -> str:
    import losses_core

    cls = getattr(losses_core, name)
    rows = ["| field | type |", "|---|---|"]
    for field in dataclasses.fields(cls):
        rows.append(f"| `{field.name}` | `{field.type}` |")
    return "\n".join(rows)


def cli_page(template: str, parser: argparse.ArgumentParser | None = None) -> str:
    """The CLI reference: ``template`` with each ``<!-- cli-help: NAME -->``
    marker replaced by that subcommand's ``--help`` (``<!-- cli-help -->``: the
    top-level help) and each ``<!-- json-fields: Class -->`` by a table of the
    dataclass's fields; subcommands without a ``## losses NAME`` heading get a
    section appended.

    :raises ValueError: a marker names a subcommand the parser does not have.
    """
    if parser is None:
        from losses_core._cli import build_parser

        parser = build_parser()
    commands = subcommands(parser)

    def replace(match: re.Match[str]) -> str:
        kind, arg = match["kind"], match["arg"]
        if kind == "json-fields":
            return _json_fields(arg or "")
        if arg is None:
            return _help(parser)
        if arg not in commands:
            raise ValueError(f"cli.md documents `losses {arg}`, which build_parser() does not define")
        return _help(commands[arg])

    text = _MARKER.sub(replace, template).rstrip() + "\n"
    missing = [n for n in commands if not re.search(rf"^#+ +`?losses {re.escape(n)}\b", text, re.M)]
    if missing:
        text += "\n## Other commands\n\nNot described in prose yet; their built-in help:\n"
        for name in missing:
            text += f"\n### `losses {name}`\n\n{_help(commands[name])}\n"
    return text
