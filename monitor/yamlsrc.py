"""YAML with line numbers, shared by config and rules.

``load`` returns plain Python data and a ``Located`` index that maps a path of keys and
indexes (``("match", "any", 2)``) to the line and column where that value starts. The loader
is strict where PyYAML is lenient: duplicate keys, aliases and non-standard tags are problems,
not silent surprises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import Reader

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


_STR_TAG = "tag:yaml.org,2002:str"


class _Builder:
    """Turn a composed node tree into plain data, recording every position.

    With ``seen`` set (a tree composed by libyaml, see ``_load_fast``), every node is also
    checked by ``_check_fast``; any doubt raises ``_Fallback``.
    """

    def __init__(self, loader: yaml.SafeLoader | yaml.CSafeLoader, located: Located) -> None:
        self.loader = loader
        self.located = located
        self.problems: list[Problem] = []
        self.seen: set[int] | None = None

    def build(self, node: Node, path: PathKey, depth: int = 0) -> Any:
        self.located.values[path] = _mark(node)
        if self.seen is not None:
            self._check_fast(node)
        if depth > MAX_DEPTH:
            raise _Stop(self._at(node, f"nesting deeper than {MAX_DEPTH} levels"))
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG and self.seen is not None:
                # What SafeConstructor.construct_yaml_str returns, without its bookkeeping.
                return node.value
            if node.tag in _SCALAR_TAGS:
                try:
                    return self.loader.construct_object(node, deep=True)
                except yaml.YAMLError as exc:
                    raise _Stop(self._at(node, f"invalid value: {exc}")) from exc
                except _CONSTRUCTOR_ERRORS as exc:
                    raise _Stop(self._at(node, f"invalid value {_short(node)}: {exc}")) from exc
            raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
        raise _Stop(self._at(node, "unsupported YAML node"))  # pragma: no cover

    def _check_fast(self, node: Node) -> None:
        """Refuse (to the Python path) what libyaml composes but PyYAML reads otherwise."""
        seen = self.seen
        assert seen is not None
        if id(node) in seen:
            raise _Fallback  # an alias: libyaml gives the anchored node itself
        seen.add(id(node))
        if isinstance(node, SequenceNode | MappingNode) and node.flow_style:
            # Inside [...] and {...}, PyYAML ends a plain scalar at "?" and libyaml does not,
            # and the two place an empty value ("{a: }") differently.
            items = node.value if isinstance(node, SequenceNode) else chain(*node.value)
            for item in items:
                plain = isinstance(item, ScalarNode) and not item.style
                if plain and ("?" in item.value or not item.value):
                    raise _Fallback

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise _Stop(self._at(node, f"tag {node.tag!r} is not allowed"))
        out: dict[str, Any] = {}
        first: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if self.seen is not None:
                self._check_fast(key_node)
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


class _Fallback(Exception):
    """The libyaml tree holds something only the pure-Python path reports exactly."""


# libyaml composes the node tree in C, about 15 times faster than PyYAML's pure-Python scanner,
# parser and composer. Its messages and error positions differ from PyYAML's and it resolves
# aliases silently, so it serves only documents it accepts without any problem; everything
# else is parsed again by the pure-Python path, which alone words problems (see _load_fast).
# libyaml limits nesting (to 1000 levels) only since 0.2.6: before, a deeply nested document
# could overflow the C stack of its recursive composer.
_CLoader: type[yaml.CSafeLoader] | None = None
if getattr(yaml, "__with_libyaml__", False):  # pragma: no branch
    try:
        from yaml._yaml import get_version as _libyaml_version

        if _libyaml_version() >= (0, 2, 6):
            _CLoader = yaml.CSafeLoader
    except ImportError:  # pragma: no cover
        _CLoader = None


# Text where libyaml and PyYAML disagree (libyaml takes what PyYAML refuses, or reads it
# differently) takes the Python path at once:
_PYTHON_ONLY = re.compile(
    r"""
      [\t]                 # PyYAML refuses a tab in many places (after a value, after "a:")
    | \ufeff               # a byte order mark: the two count the columns after it differently
    | (?:^|[\s\[\]{},]) !  # a tag: "!" on an empty node is null for PyYAML, "" for libyaml
    | [|>] [-+0-9]* \#     # "|#": a comment right after a block scalar header
    """,
    re.MULTILINE | re.VERBOSE,
)
_LINE_ENDS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def _load_fast(text: str, file: str) -> tuple[Any, Located, list[Problem]] | None:
    """Load ``text`` with libyaml when it is free of problems; None means "use the Python path".

    The result is then the one the Python path gives: the same resolver and constructors turn
    the same node tree (same tags, values and start marks) into the same data and positions.
    Anything that is or may be a problem returns None, so that its message and position come
    from the Python path: a character the Python reader refuses, a byte order mark (the two
    count columns after one differently), a YAML error, an alias (the same node object twice
    in the tree), any problem of the builder (duplicate key, tag, value, depth).
    """
    if _CLoader is None or _PYTHON_ONLY.search(text) or Reader.NON_PRINTABLE.search(text):
        return None
    if not text.endswith(_LINE_ENDS):
        return None  # libyaml ends the last line itself: an empty value there moves a line down
    loader = _CLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except Exception:  # libyaml's error: the Python parser words and places it
            return None
        located = Located(file)
        if node is None:
            return None, located, []
        builder = _Builder(loader, located)
        builder.seen = set()
        try:
            data = builder.build(node, ())
        except (_Stop, _Fallback, RecursionError):
            return None
        if builder.problems:
            return None
        return data, located, []
    finally:
        loader.dispose()


def load_text(text: str, file: str) -> tuple[Any, Located, list[Problem]]:
    """Parse one YAML document; return (data, positions, problems)."""
    if len(text) > MAX_BYTES:
        return None, Located(file), [Problem(file, 1, 1, f"file larger than {MAX_BYTES} bytes")]
    fast = _load_fast(text, file)
    if fast is not None:
        return fast
    return _load_python(text, file)


def _load_python(text: str, file: str) -> tuple[Any, Located, list[Problem]]:
    """Parse with PyYAML's pure-Python scanner, parser and composer (the reference path)."""
    located = Located(file)
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
