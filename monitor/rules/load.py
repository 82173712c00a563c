"""Read rule files into RuleSpecs; every problem is located, and one bad file skips only itself."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import Problem, display_path
from monitor.rules.compile import TermError, term_body
from monitor.rules.schema import CLAUSE_KEYS, Clause, RuleFields, RuleSpec, Term
from monitor.text import fold
from monitor.validate import did_you_mean, validate
from monitor.yamlsrc import Located, PathKey, load_file

RULE_SUFFIXES = (".yaml", ".yml")
LIST_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
MAX_NEAR = 1000


@dataclass
class LoadedRules:
    """The rules that loaded, and every problem found on the way."""

    specs: list[RuleSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)
    # Files that are broken now but whose last good version stays in force.
    kept: list[str] = field(default_factory=list)


def _term(text: str, line: int, col: int) -> Term:
    """Make a Term; a phrase is folded as article text is (``monitor.text.fold``), so that a
    term typed with full-width letters still finds its words."""
    text = text.strip()
    term = Term(text, line, col)
    return term if term.is_regex else Term(fold(text), line, col)


def rule_files(directory: Path) -> list[Path]:
    """Return the rule files of a directory: ``*.yaml`` and ``*.yml``, no hidden or backup files."""
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in RULE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _shown_rule_files(directory: Path, base: Path | None) -> list[tuple[Path, str]]:
    """Return the rule files of ``directory``, each with what ``display_path`` shows for it.

    The folder is resolved once: a file that is not a symbolic link resolves to the resolved
    folder plus its name, so only links are resolved one by one (resolving a thousand files
    took longer than parsing them).
    """
    root = (base or Path.cwd()).resolve()
    folder = directory.resolve()
    shown: list[tuple[Path, str]] = []
    for path in rule_files(directory):
        real = path.resolve() if path.is_symlink() else folder / path.name
        try:
            shown.append((path, str(real.relative_to(root))))
        except ValueError:
            shown.append((path, str(path)))
    return shown


@dataclass(frozen=True)
class RuleContext:
    """What rules may refer to: channel names, source ids and shared term lists."""

    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] | None = None
    lists: dict[str, tuple[Term, ...]] = field(default_factory=dict)


def is_list_file(data: Any) -> bool:
    return isinstance(data, dict) and set(data) == {"lists"}


def load_lists(
    files: list[tuple[Path, str]],
) -> tuple[dict[str, tuple[Term, ...]], list[Problem], set[str]]:
    """Read every list file (a mapping with the single key ``lists``) among the rule files."""
    lists: dict[str, tuple[Term, ...]] = {}
    where: dict[str, str] = {}
    problems: list[Problem] = []
    list_files: set[str] = set()
    for path, display in files:
        # Only a file with a top-level "lists:" line can be a list file: parsing every rule
        # file twice doubled the load time of large rule sets.
        try:
            if not any(line.startswith("lists:") for line in path.read_text("utf-8").splitlines()):
                continue
        except (OSError, UnicodeDecodeError):
            continue  # reported when the file is loaded as a rule
        data, located, file_problems = load_file(path, display)
        if file_problems or not is_list_file(data):
            continue
        list_files.add(display)
        body = data["lists"]
        if not isinstance(body, dict):
            problems.append(located.problem(("lists",), "lists must map names to term lists"))
            continue
        for name, items in body.items():
            key: PathKey = ("lists", name)
            if not re.match(LIST_NAME, name):
                problems.append(
                    located.problem(
                        key, f"list name '{name}' must be letters, digits and _", key=True
                    )
                )
                continue
            if name in lists:
                problems.append(
                    located.problem(
                        key, f"list '{name}' is also defined in {where[name]}", key=True
                    )
                )
                continue
            if not isinstance(items, list) or not items:
                problems.append(located.problem(key, "a list needs at least one term"))
                continue
            terms: list[Term] = []
            for i, item in enumerate(items):
                if not isinstance(item, str | int | float) or isinstance(item, bool):
                    problems.append(located.problem((*key, i), "list items must be terms"))
                    continue
                line, col = located.at((*key, i))
                term = _term(str(item), line, col)
                try:
                    term_body(term)
                except TermError as exc:
                    problems.append(located.problem((*key, i), str(exc)))
                    continue
                terms.append(term)
            if len(terms) == len(items):
                lists[name] = tuple(terms)
                where[name] = display
    return lists, problems, list_files


def load_rules(
    directory: Path,
    channels: Iterable[str],
    base: Path | None = None,
    previous: LoadedRules | None = None,
    sources: Iterable[str] | None = None,
) -> LoadedRules:
    """Load every rule file of ``directory``; a file with problems is skipped, others still load.

    Files whose only key is ``lists`` hold shared term lists that rules use as ``@name``.
    With ``previous`` (a reload), a file that is broken now keeps its last good version.
    """
    result = LoadedRules()
    if not directory.is_dir():
        result.problems.append(
            Problem(display_path(directory, base), 0, 0, "rules directory not found")
        )
        return result
    files = _shown_rule_files(directory, base)
    lists, list_problems, list_files = load_lists(files)
    result.problems += list_problems
    context = RuleContext(
        channels=tuple(sorted(set(channels))),
        sources=tuple(sorted(set(sources))) if sources is not None else None,
        lists=lists,
    )
    seen: dict[str, RuleSpec] = {}
    for path, display in files:
        if display in list_files:
            continue
        spec, problems = load_rule_file(path, display, context)
        if spec is not None and spec.id in seen:
            other = seen[spec.id]
            problems.append(
                Problem(
                    display,
                    spec.line,
                    1,
                    f"duplicate rule id '{spec.id}' (also defined at {other.file}:{other.line})",
                )
            )
            spec = None
        if problems:
            result.problems += problems
            result.bad_files.append(display)
            old = [s for s in (previous.specs if previous else []) if s.file == display]
            if old and all(s.id not in seen for s in old):
                result.kept.append(display)
                spec = old[0]
            else:
                continue
        if spec is not None:
            seen[spec.id] = spec
            result.specs.append(spec)
    result.problems.sort()
    return result


def load_rule_file(
    path: Path, display: str, context: RuleContext
) -> tuple[RuleSpec | None, list[Problem]]:
    """Load one rule file."""
    data, located, problems = load_file(path, display)
    if problems:
        return None, problems
    return parse_rule(data, located, path.stem, context)


def parse_rule(
    data: Any, located: Located, default_id: str, context: RuleContext | list[str]
) -> tuple[RuleSpec | None, list[Problem]]:
    """Validate the data of one rule document (``context`` may be just the channel names)."""
    if not isinstance(context, RuleContext):
        context = RuleContext(channels=tuple(context))
    channels = list(context.channels)
    if data is None:
        return None, [located.problem((), "the rule file is empty")]
    if not isinstance(data, dict):
        return None, [located.problem((), "a rule must be a mapping of keys (id, match, ...)")]
    data = {"id": default_id, **data}
    fields, problems = validate(RuleFields, data, located)
    clause: Clause | None = None
    if "match" not in data or data["match"] is None:
        problems.append(located.problem((), "missing required key 'match'"))
    else:
        parsed, clause_problems = parse_clause(data["match"], located, ("match",), context)
        problems += clause_problems
        if isinstance(parsed, Term):
            parsed = Clause(any=(parsed,))
        clause = parsed
        if clause is not None and not clause_problems and not _has_positive(clause):
            problems.append(
                located.problem(("match",), "needs at least one term outside 'not' to match")
            )
    wanted = data.get("channels")
    if isinstance(wanted, list):
        for i, name in enumerate(wanted):
            if isinstance(name, str) and name not in channels:
                problems.append(
                    located.problem(
                        ("channels", i),
                        f"unknown channel '{name}' (configured: {', '.join(channels)})",
                        hint=did_you_mean(name, channels),
                    )
                )
    problems += _check_references(data, located, context)
    if problems or fields is None or clause is None:
        return None, problems
    line, _ = located.at(())
    return RuleSpec(fields=fields, match=clause, file=located.file, line=line), []


def _check_references(
    data: dict[str, Any], located: Located, context: RuleContext
) -> list[Problem]:
    """Check names that point outside the rule; works on the raw data so all problems show."""
    problems: list[Problem] = []
    wanted = data.get("sources")
    if isinstance(wanted, dict) and context.sources is not None:
        for key in ("only", "except"):
            names = wanted.get(key)
            for i, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str) and name not in context.sources:
                    problems.append(
                        located.problem(
                            ("sources", key, i),
                            f"unknown source '{name}'",
                            hint=did_you_mean(name, context.sources),
                        )
                    )
    group_by = data.get("group_by")
    if isinstance(group_by, str) and group_by.startswith("@"):
        name = group_by[1:]
        if name not in context.lists:
            problems.append(
                located.problem(
                    ("group_by",), f"unknown list '{name}'", hint=did_you_mean(name, context.lists)
                )
            )
    return problems


def _has_positive(clause: Clause | Term) -> bool:
    if isinstance(clause, Term):
        return True
    return any(_has_positive(c) for c in (*clause.any, *clause.all))


def parse_clause(
    data: Any, located: Located, path: PathKey, context: RuleContext | None = None
) -> tuple[Clause | Term | None, list[Problem]]:
    """Parse a term (a string), a list (any of), or a mapping of any/all/not/near/same_sentence."""
    context = context or RuleContext()
    if isinstance(data, str) and data.strip().startswith("@"):
        name = data.strip()[1:]
        if name not in context.lists:
            return None, [
                located.problem(
                    path,
                    f"unknown list '@{name}'"
                    + (f" (defined: {', '.join(sorted(context.lists))})" if context.lists else ""),
                    hint=did_you_mean(name, context.lists),
                )
            ]
        return Clause(any=context.lists[name], list_name=name), []
    if isinstance(data, str):
        line, col = located.at(path)
        term = _term(data, line, col)
        try:
            term_body(term)
        except TermError as exc:
            return None, [located.problem(path, str(exc))]
        return term, []
    if isinstance(data, (bool, int | float)):
        line, col = located.at(path)
        return _term(str(data), line, col), []
    if isinstance(data, list):
        children, found = _children(data, located, path, context)
        if not data:
            found.append(located.problem(path, "an empty list matches nothing"))
        return Clause(any=tuple(children)), found
    if not isinstance(data, dict):
        return None, [located.problem(path, f"expected a term, a list or a mapping, got {data!r}")]
    problems: list[Problem] = []
    for key in data:
        if key not in CLAUSE_KEYS:
            problems.append(
                located.problem(
                    (*path, key),
                    f"unknown key '{key}' (allowed: {', '.join(CLAUSE_KEYS)})",
                    key=True,
                    hint=did_you_mean(key, CLAUSE_KEYS),
                )
            )
    groups: dict[str, tuple[Clause | Term, ...]] = {}
    for key in ("any", "all", "not"):
        if key not in data:
            continue
        value = data[key]
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            problems.append(located.problem((*path, key), "an empty list matches nothing"))
        if isinstance(value, list):
            children, sub = _children(items, located, (*path, key), context)
        else:
            child, sub = parse_clause(value, located, (*path, key), context)
            children = [child] if child is not None else []
        problems += sub
        groups[key] = tuple(children)
    if not groups and not problems:
        problems.append(located.problem(path, "a clause needs 'any', 'all' or 'not'"))
    near = data.get("near")
    if near is not None and (isinstance(near, bool) or not isinstance(near, int) or near < 1):
        problems.append(
            located.problem(
                (*path, "near"), f"near must be a whole number of words >= 1, got {near!r}"
            )
        )
        near = None
    elif isinstance(near, int) and near > MAX_NEAR:
        problems.append(located.problem((*path, "near"), f"near must be at most {MAX_NEAR} words"))
        near = None
    same = data.get("same_sentence", False)
    if not isinstance(same, bool):
        problems.append(
            located.problem(
                (*path, "same_sentence"), f"same_sentence must be true or false, got {same!r}"
            )
        )
        same = False
    trigger = data.get("trigger", False)
    if not isinstance(trigger, bool):
        problems.append(
            located.problem((*path, "trigger"), f"trigger must be true or false, got {trigger!r}")
        )
        trigger = False
    clause = Clause(
        any=groups.get("any", ()),
        all=groups.get("all", ()),
        none=groups.get("not", ()),
        near=near,
        same_sentence=same,
        trigger=trigger,
    )
    return clause, problems


def _children(
    items: list[Any], located: Located, path: PathKey, context: RuleContext
) -> tuple[list[Clause | Term], list[Problem]]:
    children: list[Clause | Term] = []
    problems: list[Problem] = []
    for i, item in enumerate(items):
        child, sub = parse_clause(item, located, (*path, i), context)
        problems += sub
        if child is not None:
            children.append(child)
    return children, problems
