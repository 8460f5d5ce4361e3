"""Config files read with bounds: the one place losses-core parses YAML.

A loss config is a few lines of hand-written data, so :func:`read_yaml_file`
refuses what only a mistake or a hostile file produces, before any Python
object is built from it:

- a file larger than :data:`MAX_BYTES` (1 MiB), or text that is not UTF-8;
- nesting deeper than :data:`MAX_DEPTH` (100) levels, counted through
  aliases (a 5,000-deep list would otherwise exhaust Python's recursion);
- more than :data:`MAX_NODES` (1,000,000) values once every alias is
  expanded: a 500-byte file of nested aliases ("billion laughs") stands for
  10^9 values, which any later walk (a check, an error message) would visit;
- an alias to a node that contains it (a recursive structure);
- a key given twice in one mapping, which PyYAML would silently resolve to
  the last value (a key that a ``<<`` merge brings in may be overridden, as
  YAML intends).

Only YAML's standard tags are built (``yaml.SafeLoader``): no Python object
is ever constructed from a file. Every refusal is a
:class:`~losses_core.ConfigError` naming the file, the line where it
applies, and the limit. The limits are fixed; data that exceeds them can be
parsed by the caller and passed to ``load_config`` as a mapping, to which
they do not apply.

:func:`plain_data` gives config data that does not come from a file
(OmegaConf's ``DictConfig`` and ``ListConfig``, say) the containers a file
gives, so the rest of losses-core sees dicts and lists whatever the caller
used.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from losses_core._errors import ConfigError, capped_repr

if TYPE_CHECKING:
    from collections.abc import Callable

    import yaml

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "plain_data", "read_yaml_file"]

MAX_BYTES = 1 << 20
"""The largest config file read, in bytes (1 MiB)."""

MAX_DEPTH = 100
"""The deepest nesting of lists and mappings, aliases expanded."""

MAX_NODES = 1_000_000
"""The most values (scalars, lists and mappings) a document may stand for
with every alias expanded."""

_MERGE = "tag:yaml.org,2002:merge"


def read_yaml_file(path: Path) -> Any:
    """The data of the YAML file ``path`` (``None`` for an empty document).

    :raises ConfigError: the file cannot be read, is too large, is not UTF-8,
        is not valid YAML, or exceeds a limit above.
    """
    where = str(path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read loss config: {exc.strerror or exc}") from exc
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where}: the file is larger than {MAX_BYTES} bytes, the limit for a loss config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{where}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    return _parse(text, where)


def _parse(text: str, where: str) -> Any:
    import yaml

    try:
        loader = _loader_class()(text, where)
    except yaml.reader.ReaderError as exc:  # a control character, found before parsing
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise ConfigError(
            f"{where}: line {line}: invalid YAML: character U+{code:04X} (offset {exc.position}) "
            "cannot appear in a YAML file"
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, loader, where)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML{_at(exc.problem_mark)}: {_reason(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    except ValueError as exc:
        # a scalar whose tag PyYAML resolved but cannot build: an integer of
        # more than 4,300 digits, a date such as 2024-13-45
        raise ConfigError(f"{where}: invalid YAML value: {exc}") from None
    finally:
        loader.dispose()


def _at(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _reason(exc: yaml.MarkedYAMLError) -> str:
    return "; ".join(str(part) for part in (exc.context, exc.problem) if part)


@functools.cache
def _loader_class() -> Callable[[str, str], yaml.SafeLoader]:
    """``yaml.SafeLoader`` limited to :data:`MAX_DEPTH` levels while
    composing (the class is made when PyYAML is first needed)."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, text: str, where: str) -> None:
            super().__init__(text)
            self.where = where
            self.depth = 0

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    line = self.get_mark().line + 1
                    raise ConfigError(
                        f"{self.where}: line {line}: nesting deeper than {MAX_DEPTH} levels, "
                        "the limit for a loss config"
                    )
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return BoundedLoader


def _check_graph(root: yaml.Node, loader: yaml.SafeLoader, where: str) -> None:
    """Refuse a composed document that, aliases expanded, is deeper than
    :data:`MAX_DEPTH`, larger than :data:`MAX_NODES` or recursive, or that
    repeats a key in a mapping.

    Each node is visited once (an alias is the node it names), iteratively,
    so the walk itself is bounded by the document's size, not its expansion.
    """
    import yaml

    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if children_done:
            open_nodes.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            height[key] = 1 + max((height[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise ConfigError(
                    f"{where}: line {line}: with its aliases expanded, this value holds more than "
                    f"{MAX_NODES} values, the limit for a loss config"
                )
            if height[key] > MAX_DEPTH:
                raise ConfigError(
                    f"{where}: line {line}: with its aliases expanded, this value nests deeper than "
                    f"{MAX_DEPTH} levels, the limit for a loss config"
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise ConfigError(
                f"{where}: line {line}: an alias refers to a value that contains it; "
                "a loss config cannot be recursive"
            )
        if isinstance(node, yaml.MappingNode):
            _check_keys(node, loader, where)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_keys(node: yaml.MappingNode, loader: yaml.SafeLoader, where: str) -> None:
    """Refuse a key given twice in ``node`` (keys a ``<<`` merge brings in
    are not the mapping's own and may be overridden)."""
    import yaml

    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{where}: line {line}: duplicate key {capped_repr(key)} (first given at line {seen[key]}); "
                "each key may appear once in a mapping"
            )
        seen[key] = line


_STRINGS = (str, bytes, bytearray, memoryview)


def plain_data(value: Any) -> Any:
    """``value`` with the containers a YAML file gives: at any depth, a
    mapping that is not a ``dict`` becomes a ``dict`` and a sequence that is
    not a ``list``, ``tuple`` or string becomes a ``list``.

    For config data that does not come from a file: OmegaConf's
    ``DictConfig`` and ``ListConfig`` (a ``MutableMapping`` and a
    ``MutableSequence``, recognised as such, so losses-core never imports
    OmegaConf), a ``MappingProxyType``, a ``range``. Values are read through
    the container's own ``items()`` or iteration (OmegaConf resolves
    interpolations there, and raises for a missing ``???`` value). A dict,
    list or tuple is rebuilt only when something inside it changed; every
    other value (numbers, strings, tensors, objects) is returned as it is.
    Each container is visited once, however often it is shared (a mapping
    source is not bounded like a file: an alias bomb built in Python stays
    cheap), and a container that contains itself is left as it is where it
    recurs.
    """
    return _Plain().convert(value)


class _Plain:
    """One walk of :func:`plain_data`: each container converted once."""

    def __init__(self) -> None:
        self.done: dict[int, tuple[Any, Any]] = {}
        """``id(container) -> (container, converted)``; holding the container
        keeps its id from being reused during the walk."""
        self.open: set[int] = set()
        """The containers being converted (a recurrence is a cycle)."""

    def convert(self, value: Any) -> Any:
        if isinstance(value, _STRINGS) or not isinstance(value, (Mapping, Sequence)):
            return value
        key = id(value)
        if key in self.done:
            return self.done[key][1]
        if key in self.open:
            return value
        self.open.add(key)
        try:
            converted = self._container(value)
        finally:
            self.open.discard(key)
        self.done[key] = (value, converted)
        return converted

    def _container(self, value: Mapping[Any, Any] | Sequence[Any]) -> Any:
        if isinstance(value, Mapping):
            mapping = {key: self.convert(item) for key, item in value.items()}
            if isinstance(value, dict) and all(mapping[key] is item for key, item in value.items()):
                return value
            return mapping
        items = [self.convert(item) for item in value]
        if isinstance(value, (list, tuple)):
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return tuple(items) if isinstance(value, tuple) else items
        return items
