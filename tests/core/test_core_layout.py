"""The shape of losses-core: the public names, private modules without import
cycles, pluggy confined to one module, and plugins on the public API only."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import losses_core

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "packages" / "losses-core" / "src" / "losses_core"
PLUGIN_DISTRIBUTIONS = ("losses-vae", "losses-sae", "losses-ranking", "losses-llm")
PLUGINS = [ROOT / "packages" / name / "src" for name in PLUGIN_DISTRIBUTIONS]

PUBLIC_NAMES = {
    "ENTRY_POINT_GROUP",
    "LOSSES",
    "ConfigError",
    "HookError",
    "Input",
    "LossCall",
    "LossConflictError",
    "LossEntry",
    "LossEnvironmentError",
    "LossError",
    "LossFunction",
    "LossInfo",
    "LossInputError",
    "LossModule",
    "LossOutput",
    "LossParameterError",
    "LossRegistrar",
    "LossRegistrationError",
    "LossResultError",
    "LossReturn",
    "MetricsCollector",
    "MissingInputError",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PluginFailure",
    "PluginInfo",
    "Range",
    "RegisteredLoss",
    "ResolvedLoss",
    "UnknownLossError",
    "__version__",
    "hookimpl",
    "list_losses",
    "list_plugins",
    "load_config",
    "loss_from_config",
    "register_hooks",
    "register_loss",
    "resolve_loss",
    "unregister_hooks",
    "use_hooks",
}
"""The documented top-level API (docs/api/index.md); a change here is an API change."""

PUBLIC_MODULES = {
    "builtin_hooks": {"MetricsCollector", "NonFiniteGuard"},
    "config": {"LossConfig", "LossSpec", "load_config", "loss_from_config", "validate_config"},
    "hookspecs": {"losses_post_loss", "losses_pre_loss", "losses_register"},
    "inputs": {"Fetcher", "Input", "InputDtype", "InputSource", "fetch_inputs"},
    "params": {"Checker", "Range", "annotation_checker", "describe_annotation"},
    "reduction": {"REDUCTIONS", "Reduction", "reduce", "safe_divide"},
    "results": {"check_finite", "loss_result"},
    "tensors": {"MIN_SQUARED_DISTANCE", "as_float", "at_least_float32", "euclidean_distances", "label_masks"},
    "lazy": {"export_lazily"},
    "module": {"LossModule"},
    "integrations": set(),
    "integrations.transformers": {"TrainerLoss"},
    "testing": {
        "CHECKS",
        "CheckResult",
        "ConformanceError",
        "ConformanceReport",
        "assert_conforms",
        "check_distribution",
        "check_loss",
        "check_manifest",
        "isolated_registry",
        "loss_names",
    },
}


def test_public_names_are_pinned() -> None:
    assert set(losses_core.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(losses_core, name) is not None


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_public_modules_are_pinned(module: str) -> None:
    imported = __import__(f"losses_core.{module}", fromlist=["__all__"])
    assert set(imported.__all__) == PUBLIC_MODULES[module]


def _imports(path: Path) -> set[str]:
    """Every losses_core module ``path`` imports, at module level or inside
    functions (``if TYPE_CHECKING:`` blocks excluded), as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("losses_core"):
            found.add(node.module)
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("losses_core"))
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith("losses_core")
        ):
            found.add(str(node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _module_graph() -> dict[str, set[str]]:
    modules = {
        "losses_core." + ".".join(p.relative_to(CORE).with_suffix("").parts).removesuffix(".__init__"): p
        for p in CORE.rglob("*.py")
    }
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name and m != "losses_core"}
    return graph


def test_no_import_cycles_even_through_function_level_imports() -> None:
    graph = _module_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_private_modules_are_few_and_named_for_their_job() -> None:
    private = sorted(p.stem for p in CORE.glob("_*.py") if not p.stem.startswith("__"))
    assert private == [
        "_call",
        "_capture",
        "_cli",
        "_declaration",
        "_environment",
        "_errors",
        "_generate",
        "_hooks",
        "_listing",
        "_manifest",
        "_mapping",
        "_metadata",
        "_names",
        "_plugins",
        "_registry",
        "_resolve",
        "_scaffold",
        "_signature",
        "_table",
        "_text",
        "_types",
        "_version",
        "_yaml",
    ]


def test_pluggy_is_imported_by_one_module_only() -> None:
    importers = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "pluggy" or n.startswith("pluggy.") for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["_hooks.py"]


def test_plugins_import_only_the_public_losses_core_api() -> None:
    offenders = []
    for src in PLUGINS:
        for path in src.rglob("*.py"):
            own = path.relative_to(src).parts[0]
            offenders += _private_imports(path, own)
    assert offenders == []


def _private_imports(path: Path, own: str) -> list[str]:
    offenders = []
    for module in _imports(path) | _other_imports(path):
        top, _, rest = module.partition(".")
        private = any(part.startswith("_") for part in rest.split(".") if part)
        if private and top != own:
            offenders.append(f"{path.relative_to(ROOT)}: {module}")
    return offenders


def _other_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.split(".")[0].startswith("losses_")}


def test_the_lint_rule_bans_exactly_the_private_modules() -> None:
    from losses_core._scaffold import banned_api, private_modules

    private = set(private_modules())
    assert {f"losses_core.{p.stem}" for p in CORE.glob("_*.py") if not p.stem.startswith("__")} <= private
    assert set(re.findall(r'^"(losses_core\.[a-z_.]+)"\.msg', banned_api(), flags=re.M)) == private
    for src in PLUGINS:
        config = (src.parent / "ruff.toml").read_text(encoding="utf-8")
        banned = set(re.findall(r'^"(losses_core\.[a-z_.]+)"\.msg', config, flags=re.M))
        assert banned == private, src.parent.name
        assert 'extend-select = ["TID251"]' in config


def test_import_losses_core_loads_nothing_heavy() -> None:
    import subprocess

    code = (
        "import sys, losses_core; "
        "from losses_core import LOSSES; LOSSES['mse']; "
        "watch = ('pluggy', 'yaml', 'torch._dynamo', 'losses_core._cli', 'losses_core.config'); "
        "print(sorted(m for m in watch if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
