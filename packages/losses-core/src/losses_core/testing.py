"""Conformance checks for loss plugins, in the spirit of scikit-learn's
``check_estimator``.

``check_loss(name)`` runs one registered loss (or a callable with an
``example_inputs`` factory) through the contract of the loss protocol;
``check_distribution("losses-foo")`` runs every loss a distribution
provides. Each returns :class:`ConformanceReport` objects; call
``report.raise_for_failures()`` (or :func:`assert_conforms`) in a test.

The checks, in order:

``call``
    the loss accepts ``(model_output, targets, **params)`` built by its
    example-input factory and returns a 0-dim floating tensor or a valid
    ``{"loss", "metrics", "auxiliary"}`` mapping, with a finite loss.
``registry_call``
    ``LOSSES[name](model_output, targets, **params)`` returns a 0-dim
    floating tensor (for a registered loss).
``names``
    no other installed provider registers the loss's name or one of its
    aliases (case-insensitive, ``-`` = ``_``): a collision makes bare-name
    lookups ambiguous for every user who installs both.
``gradients``
    ``loss.backward()`` gives finite gradients to every input tensor that
    requires grad (and at least one input requires grad).
``missing_key``
    dropping any single key of ``model_output`` or ``targets`` either still
    works (an optional key) or raises a ``KeyError``/``LossInputError`` whose
    message names the key; any other error fails. For a loss that declares
    its inputs, dropping a required input must raise ``MissingInputError``
    naming it; dropping an optional one must work, or, when the example's
    parameters need it (an auxiliary term switched on), raise
    ``MissingInputError`` naming it.
``batch_size_1``
    the loss works, finite, for a batch of one.
``float64``
    inputs in float64 give a finite float64 loss (no silent down-cast).
``bfloat16``
    inputs in bfloat16 give a finite loss (skip it where it makes no sense).
``pickle``
    the resolved loss survives ``pickle`` and gives the same value.
``compile``
    ``torch.compile(fn, fullgraph=True, backend="aot_eager")`` of a function
    calling the loss works without graph breaks and matches eager.

Usable from pytest::

    import pytest
    from losses_core.testing import assert_conforms, loss_names

    @pytest.mark.parametrize("name", loss_names(distribution="losses-foo"))
    def test_conformance(name):
        assert_conforms(name)
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch

from losses_core._errors import LossError, MissingInputError
from losses_core._plugins import ensure_loaded
from losses_core._registry import REGISTRY, DeclaredLoss, ExampleInputs, LossEntry, normalize_distribution
from losses_core._resolve import entry_for_spec, resolve_loss

__all__ = [
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
]

CHECKS = (
    "call",
    "registry_call",
    "names",
    "gradients",
    "missing_key",
    "batch_size_1",
    "float64",
    "bfloat16",
    "pickle",
    "compile",
)

Example = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


class ConformanceError(AssertionError):
    """A loss failed one or more conformance checks."""


class CheckResult(NamedTuple):
    """The outcome of one check: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""

    check: str
    status: str
    message: str = ""


class ConformanceReport(NamedTuple):
    """Every check's outcome for one loss."""

    loss: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def raise_for_failures(self) -> None:
        """Raise :class:`ConformanceError` listing every failed check."""
        if not self.ok:
            lines = "\n".join(f"  - {r.check}: {r.message}" for r in self.failures)
            raise ConformanceError(
                f"loss {self.loss!r} failed {len(self.failures)} conformance check(s):\n{lines}"
            )

    def __str__(self) -> str:
        lines = [f"{self.loss}:"]
        lines += [f"  {r.status:7s} {r.check}{': ' + r.message if r.message else ''}" for r in self.results]
        return "\n".join(lines)


@contextmanager
def isolated_registry() -> Iterator[None]:
    """Undo, on exit, every loss registration and hook plugin made inside.

    Losses registered (or removed) and hook plugins registered inside the
    block are rolled back, so that tests do not leak state into each other.
    A declared loss whose module was imported inside the block stays
    registered: importing it is not a registration made by the block.
    Use it as an autouse fixture in a ``conftest.py``::

        import pytest
        from losses_core.testing import isolated_registry

        @pytest.fixture(autouse=True)
        def _isolated_registry():
            with isolated_registry():
                yield
    """
    from losses_core._hooks import add_hook_plugin, hook_plugin_items, remove_hook_plugin

    ensure_loaded()
    entries_before = set(REGISTRY.entries())
    plugins_before = hook_plugin_items()
    try:
        yield
    finally:
        kept = {id(p) for _, p in plugins_before}
        for _, plugin in hook_plugin_items():
            if id(plugin) not in kept:
                remove_hook_plugin(plugin)
        present = {id(p) for _, p in hook_plugin_items()}
        for name, plugin in plugins_before:
            if id(plugin) not in present:
                add_hook_plugin(plugin, name)
        declared_before = {
            (e.provider, key): e for e in entries_before if isinstance(e, DeclaredLoss) for key in e.keys
        }
        imported = set()
        for entry in REGISTRY.entries():
            if entry in entries_before:
                continue
            replaced = declared_before.get((entry.provider, entry.name))
            if isinstance(entry, LossEntry) and replaced is not None:
                imported.add(id(replaced))
                continue
            REGISTRY.remove_entry(entry)
        current = set(REGISTRY.entries())
        for entry in entries_before:
            if entry not in current and id(entry) not in imported:
                REGISTRY.add(entry)


def loss_names(*, distribution: str | None = None, pattern: str = "*") -> list[str]:
    """Qualified names (``name@provider``) of registered losses, optionally
    only those of one distribution, for ``pytest.mark.parametrize``.

    :raises LookupError: ``distribution`` provides no loss (a misspelt or
        uninstalled distribution must not silently skip a test suite).
    """
    from losses_core._listing import list_losses

    wanted = normalize_distribution(distribution) if distribution else None
    names = [
        info.qualified_name for info in list_losses(pattern) if wanted is None or info.provider == wanted
    ]
    if wanted is not None and not names:
        providers = sorted({info.provider for info in list_losses()})
        raise LookupError(
            f"distribution {distribution!r} provides no registered loss"
            f"{f' matching {pattern!r}' if pattern != '*' else ''}; providers with losses: "
            f"{', '.join(providers)} (is it installed, and is its name spelt right?)"
        )
    return names


def check_distribution(distribution: str, **options: Any) -> list[ConformanceReport]:
    """Run :func:`check_loss` on every loss that ``distribution`` provides."""
    names = loss_names(distribution=distribution)  # raises LookupError when there are none
    return [check_loss(name, **options) for name in names]


def check_manifest(distribution: str) -> list[str]:
    """How what ``distribution`` declares (its installed ``losses.plugins``
    entry points and its manifest) differs from what its code registers; an
    empty list when they agree.

    Imports every module of the packages its entry points name (see
    ``losses manifest``). A plugin whose entry points name only modules (the
    dynamic form) declares nothing to compare and gives an empty list.

    :raises LookupError: ``distribution`` has no entry point in the
        ``losses.plugins`` group here.
    """
    from losses_core._generate import Declarations, ManifestLoss, compare_declarations, generate_declarations
    from losses_core._plugins import LOADER

    LOADER.catalogue()
    wanted = normalize_distribution(distribution)
    records = [r for r in LOADER.records if r.distribution == wanted]
    if not records:
        installed = sorted({r.distribution for r in LOADER.records})
        raise LookupError(
            f"distribution {distribution!r} has no entry point in the losses.plugins group here; "
            f"found: {', '.join(installed)}"
        )
    problems = []
    for record in records:
        if record.form in ("dynamic", "runtime") or record.status == "skipped":
            continue
        if LOADER.manifest_of(record) is None:
            found_errors = [e for e in record.errors if e.startswith("manifest:")]
            problems += [f"{record.distribution}: {e}" for e in found_errors] or [
                f"{record.distribution}: no manifest (an entry point 'package:losses.json')"
            ]
        declared = Declarations(
            tuple(ManifestLoss(e.name, e.object, e.summary, e.aliases, e.override) for e in record.declared),
            tuple(record.modules),
        )
        packages = sorted({loss.object.partition(":")[0].partition(".")[0] for loss in declared.losses})
        if record.form == "builtin":
            packages = ["losses_core.losses"]
        found: list[ManifestLoss] = []
        modules: list[str] = []
        for package in packages or [record.distribution.replace("-", "_")]:
            try:
                generated = generate_declarations(package)
            except ValueError as exc:
                problems.append(f"{record.distribution}: {exc}")
                continue
            found += generated.losses
            modules += generated.modules
        registered = Declarations(tuple(found), tuple(modules))
        problems += [f"{record.distribution}: {p}" for p in compare_declarations(declared, registered)]
    return problems


def assert_conforms(loss: str | Callable[..., Any], **options: Any) -> ConformanceReport:
    """:func:`check_loss`, raising :class:`ConformanceError` on any failure."""
    report = check_loss(loss, **options)
    report.raise_for_failures()
    return report


def check_loss(
    loss: str | Callable[..., Any],
    *,
    example_inputs: ExampleInputs | None = None,
    skip: Iterable[str] = (),
    seed: int = 0,
) -> ConformanceReport:
    """Run the conformance checks on one loss.

    :param loss: a registered name (``"focal"``, ``"focal@losses-core"``), a
        ``"module:attr"`` path or a callable.
    :param example_inputs: a factory ``(batch_size=4, dtype=torch.float32)
        -> (model_output, targets, params)``; defaults to the one registered
        with the loss.
    :param skip: names of checks not to run (see :data:`CHECKS`).
    :param seed: the random seed set before each call of the factory.
    """
    ensure_loaded()
    entry = entry_for_spec(loss) if not isinstance(loss, LossEntry) else loss
    label = entry.qualified_name if isinstance(loss, str) and entry in REGISTRY.entries() else entry.name
    factory = example_inputs or entry.example_inputs
    skipped = set(skip)
    unknown = skipped - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; the checks are {', '.join(CHECKS)}")
    if factory is None:
        return ConformanceReport(
            label,
            (
                CheckResult(
                    "call",
                    "failed",
                    "no example_inputs factory: register the loss with example_inputs=... or pass one",
                ),
            ),
        )

    def make(batch_size: int = 4, dtype: torch.dtype = torch.float32) -> Example:
        torch.manual_seed(seed)
        model_output, targets, params = factory(batch_size=batch_size, dtype=dtype)
        return dict(model_output), dict(targets), dict(params)

    spec: str | Callable[..., Any] = loss if isinstance(loss, str) else entry.function
    registered = entry in REGISTRY.entries()
    results: list[CheckResult] = []
    for check in CHECKS:
        if check in skipped:
            results.append(CheckResult(check, "skipped", "skipped on request"))
            continue
        if check in ("registry_call", "names") and not registered:
            results.append(CheckResult(check, "skipped", "not a registered loss"))
            continue
        try:
            message = _CHECKS[check](entry, spec, make)
        except Exception as exc:
            results.append(CheckResult(check, "failed", f"{type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(check, "passed", message or ""))
        if check == "call" and results[-1].status == "failed":
            results += [
                CheckResult(c, "skipped", "the basic call failed") for c in CHECKS[1:] if c not in skipped
            ]
            break
    return ConformanceReport(label, tuple(results))


# -- the checks ------------------------------------------------------------
Maker = Callable[..., Example]
Spec = Any


def _run(spec: Spec, example: Example) -> torch.Tensor:
    model_output, targets, params = example
    result = resolve_loss(spec, **params)(model_output, targets)
    loss = result["loss"]
    if not bool(torch.isfinite(loss)):
        raise AssertionError(f"the loss is not finite: {loss.item()}")
    return loss


def _leaves(example: Example) -> list[torch.Tensor]:
    model_output, targets, _ = example
    tensors = [v for v in (*model_output.values(), *targets.values()) if isinstance(v, torch.Tensor)]
    return [t for t in tensors if t.requires_grad and t.is_leaf]


def _check_call(entry: LossEntry, spec: Spec, make: Maker) -> str:
    loss = _run(spec, make())
    return f"loss {loss.item():.6g}"


def _check_gradients(entry: LossEntry, spec: Spec, make: Maker) -> str:
    example = make()
    leaves = _leaves(example)
    if not leaves:
        raise AssertionError(
            "no input tensor requires grad: make the factory return leaves with requires_grad=True"
        )
    _run(spec, example).backward()  # type: ignore[no-untyped-call]
    for leaf in leaves:
        if leaf.grad is None:
            continue
        if not bool(torch.isfinite(leaf.grad).all()):
            raise AssertionError(f"non-finite gradient for an input of shape {tuple(leaf.shape)}")
    if all(leaf.grad is None for leaf in leaves):
        raise AssertionError("no input that requires grad received a gradient")
    return f"{len(leaves)} input(s) with finite gradients"


def _check_missing_key(entry: LossEntry, spec: Spec, make: Maker) -> str:
    if entry.inputs:
        return _check_missing_inputs(entry, spec, make)
    model_output, targets, params = make()
    required = []
    for source, mapping in (("model_output", model_output), ("targets", targets)):
        for key in list(mapping):
            reduced = {k: v for k, v in mapping.items() if k != key}
            example = (
                (reduced, targets, params) if source == "model_output" else (model_output, reduced, params)
            )
            try:
                _run(spec, copy.copy(example))
            except (KeyError, LossError) as exc:
                if key not in str(exc):
                    raise AssertionError(
                        f"dropping {source}[{key!r}] raised {type(exc).__name__} "
                        f"without naming the key: {exc}"
                    ) from exc
                required.append(f"{source}[{key!r}]")
            except Exception as exc:
                raise AssertionError(
                    f"dropping {source}[{key!r}] raised {type(exc).__name__} instead of a clear missing-key "
                    f"error: {exc}"
                ) from exc
    return "required: " + (", ".join(required) or "none")


def _check_missing_inputs(entry: LossEntry, spec: Spec, make: Maker) -> str:
    required = []
    for declared in entry.inputs:
        model_output, targets, params = make()
        keys = params.get("keys") or {}
        key = keys.get(declared.name, declared.default_key)
        mapping = model_output if declared.source == "model_output" else targets
        if key not in mapping:
            if declared.optional:
                continue
            raise AssertionError(f"the example inputs lack the required input {declared.name!r} ({key!r})")
        del mapping[key]
        try:
            _run(spec, (model_output, targets, params))
        except MissingInputError as exc:
            # an optional input may still be needed by some parameter values
            # (an auxiliary term that is switched on): the loss must then say so
            if declared.name not in str(exc):
                raise AssertionError(
                    f"dropping input {declared.name!r} raised without naming it: {exc}"
                ) from exc
            required.append(
                declared.name if not declared.optional else f"{declared.name} (with these parameters)"
            )
        else:
            if not declared.optional:
                raise AssertionError(f"dropping required input {declared.name!r} raised nothing")
    return "required: " + (", ".join(required) or "none")


def _check_batch_size_1(entry: LossEntry, spec: Spec, make: Maker) -> str:
    _run(spec, make(batch_size=1))
    return ""


def _check_float64(entry: LossEntry, spec: Spec, make: Maker) -> str:
    loss = _run(spec, make(dtype=torch.float64))
    if loss.dtype != torch.float64:
        raise AssertionError(f"float64 inputs gave a {loss.dtype} loss")
    return ""


def _check_bfloat16(entry: LossEntry, spec: Spec, make: Maker) -> str:
    loss = _run(spec, make(dtype=torch.bfloat16))
    return f"loss dtype {loss.dtype}"


def _check_pickle(entry: LossEntry, spec: Spec, make: Maker) -> str:
    model_output, targets, params = make()
    resolved = resolve_loss(spec, **params)
    restored = pickle.loads(pickle.dumps(resolved))
    expected = resolved(model_output, targets)["loss"]
    got = restored(model_output, targets)["loss"]
    torch.testing.assert_close(got, expected)
    return ""


def _check_compile(entry: LossEntry, spec: Spec, make: Maker) -> str:
    model_output, targets, params = make()
    resolved = resolve_loss(spec, **params)

    def step(mo: Mapping[str, Any], t: Mapping[str, Any]) -> torch.Tensor:
        return resolved(mo, t)["loss"]

    expected = step(model_output, targets)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    got = compiled(model_output, targets)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    return ""


def _check_registry_call(entry: LossEntry, spec: Spec, make: Maker) -> str:
    from losses_core._mapping import LOSSES

    model_output, targets, params = make()
    value = LOSSES[entry.qualified_name](model_output, targets, **params)
    if not isinstance(value, torch.Tensor) or value.ndim != 0 or not value.is_floating_point():
        raise AssertionError(
            f"LOSSES[{entry.qualified_name!r}] returned {type(value).__name__}, not a 0-dim tensor"
        )
    return ""


def _check_names(entry: LossEntry, spec: Spec, make: Maker) -> str:
    clashes = [
        f"{key!r} is also registered by {other.provider_label} (as {other.name!r})"
        for key in entry.keys
        for other in REGISTRY.candidates(key)
        if other.provider != entry.provider
    ]
    if clashes:
        raise AssertionError("; ".join(dict.fromkeys(clashes)))
    return ""


_CHECKS: dict[str, Callable[[LossEntry, Spec, Maker], str]] = {
    "call": _check_call,
    "registry_call": _check_registry_call,
    "names": _check_names,
    "gradients": _check_gradients,
    "missing_key": _check_missing_key,
    "batch_size_1": _check_batch_size_1,
    "float64": _check_float64,
    "bfloat16": _check_bfloat16,
    "pickle": _check_pickle,
    "compile": _check_compile,
}
