"""YAML with line numbers, shared by config and rules.

``load`` returns plain Python data and a ``Located`` index that maps a path of keys and
indexes (``("match", "any", 2)``) to the line and column where that value starts. The loader
is strict where PyYAML is lenient: duplicate keys, aliases and non-standard tags are problems,
not silent surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.errors import Problem

PathKey = tuple[str | int, ...]

MAX_BYTES = 1_000_000
MAX_DEPTH = 50


@dataclass
class Located:
    """Positions of every value (and every mapping key) of one YAML document."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Return (line, col) of ``path``, falling back to its nearest located parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: PathKey, message: str, *, key: bool = False, hint: str = "") -> Problem:
        line, col = self.at(path, key=key)
        # A key problem is about the mapping that holds the key: name the parent.
        prefix = format_path(path[:-1] if key else path)
        text = f"{prefix}: {message}" if prefix else message
        return Problem(self.file, line, col, text, hint)


def format_path(path: PathKey) -> str:
    """Render ``("match", "any", 2)`` as ``match.any[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_SCALAR_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
}


# PyYAML's own constructors raise these for values such as 2001-13-45 or "!!int x".
_CONSTRUCTOR_ERRORS = (ValueError, AttributeError, KeyError, OverflowError, TypeError)


def _short(node: Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


class _Loader(yaml.SafeLoader):
    """SafeLoader used only to compose nodes and construct scalars; refuses aliases."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(problem="aliases (*name) are not allowed", problem_mark=mark)
        return super().compose_node(parent, index)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, loader: _Loader, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.problems: list[Problem] = []

    def build(self, node: Node, path: PathKey, depth: int = 0) -> Any:
        self.located.values[path] = _mark(node)
        if depth > MAX_DEPTH:
            raise _Stop(self._at(node, f"nesting deeper than {MAX_DEPTH} levels"))
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            if node.tag in _SCALAR_TAGS:
                try:
                    return self.loader.construct_object(node, deep=True)
                except yaml.YAMLError as exc:
                    raise _Stop(self._at(node, f"invalid value: {exc}")) from exc
                except _CONSTRUCTOR_ERRORS as exc:
                    raise _Stop(self._at(node, f"invalid value {_short(node)}: {exc}")) from exc
            raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
        raise _Stop(self._at(node, "unsupported YAML node"))  # pragma: no cover

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
        out: dict[str, Any] = {}
        first: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _Stop(self._at(key_node, "mapping keys must be plain text"))
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Stop(self._at(key_node, "merge keys (<<) are not allowed"))
            try:
                key = str(self.loader.construct_object(key_node))
            except (yaml.YAMLError, *_CONSTRUCTOR_ERRORS) as exc:
                raise _Stop(self._at(key_node, f"invalid key {_short(key_node)}: {exc}")) from exc
            if key in first:
                line, _col = first[key]
                self.problems.append(
                    self._at(key_node, f"duplicate key '{key}' (first defined at line {line})")
                )
                continue
            first[key] = _mark(key_node)
            self.located.keys[(*path, key)] = _mark(key_node)
            out[key] = self.build(value_node, (*path, key), depth + 1)
        return out

    def _at(self, node: Node, message: str) -> Problem:
        line, col = _mark(node)
        return Problem(self.located.file, line, col, message)


class _Stop(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def load_text(text: str, file: str) -> tuple[Any, Located, list[Problem]]:
    """Parse one YAML document; return (data, positions, problems)."""
    located = Located(file)
    if len(text) > MAX_BYTES:
        return None, located, [Problem(file, 1, 1, f"file larger than {MAX_BYTES} bytes")]
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"character {exc.character!r} is not allowed in YAML"
        return None, located, [Problem(file, line, col, what)]
    except yaml.YAMLError as exc:
        return None, located, [Problem(file, 1, 1, f"YAML error: {exc}")]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, located, []
        builder = _Builder(loader, located)
        try:
            data = builder.build(node, ())
        except _Stop as stop:
            return None, located, [*builder.problems, stop.problem]
        return data, located, builder.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if what.startswith("aliases"):
            return None, located, [Problem(file, line, col, what)]
        if exc.context:
            what = f"{exc.context}: {what}" if exc.problem else exc.context
        return None, located, [Problem(file, line, col, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, located, [Problem(file, 1, 1, f"YAML error: {exc}")]
    except RecursionError:
        return None, located, [Problem(file, 1, 1, f"nesting deeper than {MAX_DEPTH} levels")]
    finally:
        loader.dispose()


def load_file(path: Path, display: str) -> tuple[Any, Located, list[Problem]]:
    """Read and parse a YAML file; unreadable files are a problem, not an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, Located(display), [Problem(display, 0, 0, f"cannot read: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Located(display), [Problem(display, 1, 1, f"not UTF-8 text: {exc.reason}")]
    return load_text(text, display)
