"""What users may write in a rule file, and the clause tree it becomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.config import SLUG, Duration

FieldName = Literal["title", "summary", "text"]
FIELDS: tuple[FieldName, ...] = ("title", "summary", "text")
CLAUSE_KEYS = ("any", "all", "not", "near", "same_sentence")


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RuleFields(BaseModel):
    """The keys of a rule file other than ``match`` (which is checked by hand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG)
    name: str = ""
    description: str = ""
    enabled: bool = True
    severity: Severity = Severity.WARNING
    fields: list[FieldName] = Field(default_factory=lambda: list(FIELDS), min_length=1)
    case_sensitive: bool = False
    window: Duration = timedelta(hours=24)
    channels: list[str] | None = None
    match: Any = None


@dataclass(frozen=True)
class Term:
    """One phrase or regular expression as the user wrote it."""

    text: str
    line: int
    col: int

    @property
    def is_regex(self) -> bool:
        return len(self.text) > 2 and self.text.startswith("/") and self.text.endswith("/")


@dataclass(frozen=True)
class Clause:
    """``any`` / ``all`` / ``not`` over sub-clauses, optionally scoped by distance or sentence."""

    any: tuple[Clause | Term, ...] = ()
    all: tuple[Clause | Term, ...] = ()
    none: tuple[Clause | Term, ...] = ()
    near: int | None = None
    same_sentence: bool = False


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the user wrote it, with the file and line it came from."""

    fields: RuleFields
    match: Clause
    file: str
    line: int

    @property
    def id(self) -> str:
        return self.fields.id


def terms_of(node: Clause | Term, *, negated: bool = False) -> list[tuple[Term, bool]]:
    """List every term below ``node`` with whether it sits under a ``not``."""
    if isinstance(node, Term):
        return [(node, negated)]
    out: list[tuple[Term, bool]] = []
    for child in (*node.any, *node.all):
        out += terms_of(child, negated=negated)
    for child in node.none:
        out += terms_of(child, negated=True)
    return out
