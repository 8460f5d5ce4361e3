"""Loss configuration from YAML files or mappings.

Accepted shapes of the ``loss`` node (at the top level, or under a section
such as ``train:``/``val:``)::

    loss:                     # class and params
      class: VAELoss
      params: {beta: 1.0}

    loss:                     # type and kwargs (the same thing, other words)
      type: token_ce          # or a dotted path "my_module:custom_loss"
      kwargs: {ignore_index: -100}
      keys: {logits: lm_logits}   # optional: where the loss's inputs live

    loss: mse                 # a bare name, no parameters

    loss:                     # a weighted sum; each term in either style
      terms:
        - {class: VAELoss, params: {beta: 4.0}, weight: 1.0}
        - {type: mse, weight: 0.1, name: aux_mse}

``keys`` maps the loss's declared input names onto the keys of your
``model_output``/``targets`` dicts (see :mod:`losses_core.inputs`).

A mapping given instead of a file may be any ``Mapping`` with ``Sequence``
lists in it, OmegaConf's ``DictConfig`` and ``ListConfig`` (Hydra's config
nodes) included: the loss node is read as the dicts and lists of a file.

Validation is strict by default: an unknown loss, a parameter the loss does
not declare (``betta`` for ``beta``, even when the loss takes ``**kwargs``), a
missing required parameter, a value that does not fit the parameter's
annotation (see :mod:`losses_core.params`) or the loss's validator (a
misspelt key inside a schedule), an input name in ``keys`` the loss does not
declare, a missing section or a malformed node raises :class:`ConfigError`
naming the file and key path.

A composite term's ``weight`` must be a finite number.

A dotted path imports the named module, which runs its code with your
privileges. It is allowed by default; pass ``allow_import=False`` or set
``LOSSES_CONFIG_ALLOW_IMPORT=0`` to forbid it (for configs from untrusted
sources). Files are parsed once, with YAML's safe tags only, within bounds
on size, nesting and alias expansion, and a key given twice in a mapping is
an error (see ``losses_core._yaml``); PyYAML is imported only when a file is
loaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losses_core._environment import CONFIG_ALLOW_IMPORT, env_flag
from losses_core._errors import ConfigError, LossConflictError, UnknownLossError, capped_repr
from losses_core._yaml import plain_data

__all__ = ["LossConfig", "LossSpec", "load_config", "loss_from_config", "validate_config"]

_NAME_KEYS = ("class", "type")
_PARAM_KEYS = ("params", "kwargs")
_TERM_KEYS = frozenset({*_NAME_KEYS, *_PARAM_KEYS, "keys", "weight", "name"})


@dataclass(frozen=True)
class LossSpec:
    """One loss from config: its name or dotted path, parameters, weight and label."""

    loss: str
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    label: str | None = None


@dataclass(frozen=True)
class LossConfig:
    """A validated loss configuration."""

    terms: tuple[LossSpec, ...]
    composite: bool
    source: str
    section: str | None = None
    strict: bool = True
    """Whether parameter names were checked (with ``strict=False`` names the
    loss does not declare reach its ``**kwargs`` when it is built)."""

    def build(self) -> Any:
        """A :class:`~losses_core.ResolvedLoss` (one loss) or a composite loss
        (``terms``: a weighted sum whose metrics are keyed by term label)."""
        from losses_core._resolve import CompositeLoss, resolve

        if not self.composite:
            spec = self.terms[0]
            return resolve(spec.loss, spec.params, self.strict)
        labels: set[str] = set()
        terms = []
        for spec in self.terms:
            label = base = spec.label or spec.loss
            suffix = 1
            while label in labels:  # a repeated loss gets the first free label_<n>
                label, suffix = f"{base}_{suffix}", suffix + 1
            labels.add(label)
            terms.append((label, spec.weight, resolve(spec.loss, spec.params, self.strict)))
        return CompositeLoss(terms)


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    section: str | None = None,
    strict: bool = True,
    allow_import: bool | None = None,
) -> LossConfig:
    """Read and validate a loss configuration.

    :param source: a YAML file path, or an already-parsed mapping (a
        ``dict``, or a ``DictConfig`` from Hydra or OmegaConf).
    :param section: the section holding ``loss`` (``"train"``, ``"val"``);
        ``None`` reads the top-level ``loss``.
    :param strict: reject parameters the loss does not declare.
    :param allow_import: allow ``"module:attr"`` specs; ``None`` reads
        ``LOSSES_CONFIG_ALLOW_IMPORT`` (default allowed).
    :raises ConfigError: listing every problem found, each with the file and
        key path.
    """
    data, where = _read(source)
    config, problems = _parse(data, where, section, strict, _allow_import(allow_import))
    if problems:
        raise ConfigError("\n".join(problems))
    assert config is not None
    return config


def validate_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    section: str | None = None,
    strict: bool = True,
    allow_import: bool | None = None,
) -> list[str]:
    """Every problem of a configuration, as messages (empty when valid).

    With ``section=None`` and no top-level ``loss``, every section that holds
    a ``loss`` is checked.
    """
    return _check_sections(source, section=section, strict=strict, allow_import=allow_import)[1]


def _check_sections(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    section: str | None = None,
    strict: bool = True,
    allow_import: bool | None = None,
) -> tuple[dict[str | None, LossConfig], list[str]]:
    """The configuration of each section that holds a loss, and every
    problem, from one read of ``source`` (what ``losses check`` reports).

    ``section=None`` with a top-level ``loss`` gives ``{None: config}``;
    without one, every section holding a ``loss`` is checked. A section with
    a problem has no configuration.
    """
    try:
        data, where = _read(source)
    except ConfigError as exc:
        return {}, [str(exc)]
    allowed = _allow_import(allow_import)
    names: list[str | None] = [section]
    if section is None and isinstance(data, Mapping) and "loss" not in data:
        found = [k for k, v in data.items() if isinstance(v, Mapping) and "loss" in v]
        if found:
            names = list(found)
    configs: dict[str | None, LossConfig] = {}
    problems: list[str] = []
    for name in names:
        config, found_problems = _parse(data, where, name, strict, allowed)
        problems += found_problems
        if config is not None:
            configs[name] = config
    return configs, problems


def _allow_import(allow_import: bool | None) -> bool:
    return env_flag(CONFIG_ALLOW_IMPORT, default=True) if allow_import is None else allow_import


def _parse(
    data: Any, where: str, section: str | None, strict: bool, allow_import: bool
) -> tuple[LossConfig | None, list[str]]:
    problems: list[str] = []
    try:
        node, path = _loss_node(data, where, section)
    except ConfigError as exc:
        return None, [str(exc)]
    try:  # a DictConfig or ListConfig (Hydra) reads as the dicts and lists of a file
        node = plain_data(node)
    except Exception as exc:  # what the container raises reading a value (OmegaConf: a missing ???)
        return None, [f"{where}: {path}: cannot read the config: {type(exc).__name__}: {exc}"]
    if isinstance(node, Mapping) and "terms" in node:
        extra = set(node) - {"terms"}
        if extra:
            problems.append(f"{where}: {path}: unexpected key(s) {sorted(extra)} beside 'terms'")
        raw_terms = node["terms"]
        if not isinstance(raw_terms, (list, tuple)) or not raw_terms:
            return None, [*problems, f"{where}: {path}.terms: expected a non-empty list of loss terms"]
        specs = [
            _parse_term(t, where, f"{path}.terms[{i}]", strict, allow_import, problems, composite=True)
            for i, t in enumerate(raw_terms)
        ]
        if problems:
            return None, problems
        config = LossConfig(tuple(s for s in specs if s), True, where, section, strict)
        return config, []
    spec = _parse_term(node, where, path, strict, allow_import, problems, composite=False)
    if problems or spec is None:
        return None, problems
    return LossConfig((spec,), composite=False, source=where, section=section, strict=strict), []


def loss_from_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    section: str | None = None,
    strict: bool = True,
    allow_import: bool | None = None,
) -> Any:
    """Load, validate and build the loss of a configuration: a
    :class:`~losses_core.ResolvedLoss` whose calls return ``LossReturn``
    dicts, or a composite loss for ``terms``."""
    return load_config(source, section=section, strict=strict, allow_import=allow_import).build()


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        return source, "<config>"
    from losses_core._yaml import read_yaml_file

    path = Path(source)
    return read_yaml_file(path), str(path)


def _loss_node(data: Any, where: str, section: str | None) -> tuple[Any, str]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    if section is not None:
        if section not in data:
            sections = sorted(k for k, v in data.items() if isinstance(v, Mapping) and "loss" in v)
            hint = f"; sections with a loss: {', '.join(sections)}" if sections else ""
            raise ConfigError(f"{where}: missing section {section!r}{hint}")
        container = data[section]
        if not isinstance(container, Mapping) or "loss" not in container:
            raise ConfigError(f"{where}: {section}: expected a mapping with a 'loss' key")
        return container["loss"], f"{section}.loss"
    if "loss" in data:
        return data["loss"], "loss"
    sections = sorted(k for k, v in data.items() if isinstance(v, Mapping) and "loss" in v)
    if sections:
        raise ConfigError(
            f"{where}: no top-level 'loss'; choose a section ({', '.join(sections)}) with section=..."
        )
    raise ConfigError(f"{where}: missing 'loss'")


def _parse_term(
    node: Any,
    where: str,
    path: str,
    strict: bool,
    allow_import: bool,
    problems: list[str],
    *,
    composite: bool,
) -> LossSpec | None:
    """Parse one loss node, appending every problem found to ``problems``."""
    if isinstance(node, str):
        node = {"type": node}
    if not isinstance(node, Mapping):
        problems.append(f"{where}: {path}: expected a loss name or a mapping, got {type(node).__name__}")
        return None
    before = len(problems)
    allowed = _TERM_KEYS if composite else _TERM_KEYS - {"weight", "name"}
    extra = set(node) - allowed
    if extra:
        problems.append(
            f"{where}: {path}: unexpected key(s) {capped_repr(sorted(map(str, extra)))}; expected "
            f"class/params (or type/kwargs), keys{', weight, name' if composite else ''}"
        )
    name_keys = [k for k in _NAME_KEYS if k in node]
    param_keys = [k for k in _PARAM_KEYS if k in node]
    if len(param_keys) > 1:
        problems.append(f"{where}: {path}: use either 'params' or 'kwargs', not both")
    param_key = param_keys[0] if param_keys else "params"
    params = node.get(param_key) or {}
    if not isinstance(params, Mapping):
        problems.append(
            f"{where}: {path}.{param_key}: expected a mapping of parameters, got {type(params).__name__}"
        )
        params = {}
    keys = node.get("keys")
    if keys is not None and not isinstance(keys, Mapping):
        problems.append(
            f"{where}: {path}.keys: expected a mapping of input names to keys, got {capped_repr(keys)}"
        )
        keys = None
    if keys is not None and "keys" in params:
        problems.append(
            f"{where}: {path}: 'keys' is given both beside and inside {param_key!r}; give it once"
        )
    weight = _finite(node.get("weight", 1.0))
    if weight is None:
        problems.append(
            f"{where}: {path}.weight: expected a finite number, got {capped_repr(node.get('weight'))}"
        )
        weight = 1.0
    label = node.get("name")
    if label is not None and not isinstance(label, str):
        problems.append(f"{where}: {path}.name: expected a string, got {capped_repr(label)}")
    if len(name_keys) != 1:
        problems.append(f"{where}: {path}: expected exactly one of 'class' or 'type'")
        return None
    name_key = name_keys[0]
    name = node[name_key]
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: {path}.{name_key}: expected a loss name, got {capped_repr(name)}")
        return None
    if ":" in name and not allow_import:
        problems.append(
            f"{where}: {path}.{name_key}: {capped_repr(name)} is a dotted path, which imports code, "
            f"and imports are disabled (allow_import=False or {CONFIG_ALLOW_IMPORT}=0)"
        )
        return None
    problems += _validate(name, dict(params), keys, where, path, param_key, name_key, strict)
    if len(problems) > before:
        return None
    if keys is not None:
        params = {**params, "keys": dict(keys)}
    return LossSpec(loss=name, params=dict(params), weight=float(weight), label=label)


def _finite(weight: Any) -> float | None:
    """``weight`` as a float, or ``None`` unless it is a finite number (a
    NaN or infinite weight makes the whole sum NaN or infinite)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        return None
    try:
        value = float(weight)
    except OverflowError:  # an int beyond a float's range
        return None
    return value if math.isfinite(value) else None


def _validate(
    name: str,
    params: dict[str, Any],
    keys: Mapping[str, Any] | None,
    where: str,
    path: str,
    param_key: str,
    name_key: str,
    strict: bool,
) -> list[str]:
    if ":" not in name:
        # the name first, from package metadata: an unknown or ambiguous name
        # imports no plugin module (and not torch)
        from losses_core._plugins import find

        try:
            find(name)
        except (UnknownLossError, LossConflictError) as exc:
            return [f"{where}: {path}.{name_key}: {exc}"]
    from losses_core._resolve import entry_for_spec

    try:
        entry = entry_for_spec(name)
    except (UnknownLossError, LossConflictError) as exc:
        return [f"{where}: {path}.{name_key}: {exc}"]
    signature = entry.signature
    found = [
        f"{where}: {path}.{param_key}: {p}"
        for p in signature.problems(entry.name, params, check_names=strict)
    ]
    if keys is not None:
        if "keys" not in signature.parameters:
            found.append(
                f"{where}: {path}.keys: loss {entry.name!r} declares no inputs, so its keys cannot be mapped"
            )
        else:
            found += [
                f"{where}: {path}.keys: {p}"
                for p in signature.problems(entry.name, {"keys": dict(keys)}, complete=False)
            ]
    return found
