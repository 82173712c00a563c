"""What users may write in a rule file, and the clause tree it becomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.config import SLUG, Duration

FieldName = Literal["title", "summary", "text"]
FIELDS: tuple[FieldName, ...] = ("title", "summary", "text")
CLAUSE_KEYS = ("any", "all", "not", "near", "same_sentence", "trigger")
ModalityName = Literal["asserted", "negated", "hedged", "planned", "past"]
Transition = Literal["open", "update", "close"]


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _asserted() -> list[ModalityName]:
    return ["asserted"]


def _open_only() -> list[Transition]:
    return ["open"]


class SourceFilter(BaseModel):
    """Only these sources, or every source except these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    only: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, alias="except")


class Frequency(BaseModel):
    """Open an Event only after ``count`` matches within ``within``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=100_000)
    within: Duration


class Spike(BaseModel):
    """Open an Event when the match rate is ``factor`` times the rule's own baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: float = Field(default=3.0, gt=1)
    within: Duration = timedelta(hours=1)
    baseline: Duration = timedelta(days=7)
    min_count: int = Field(default=3, ge=1)


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
    modality: list[ModalityName] = Field(default_factory=_asserted, min_length=1)
    sources: SourceFilter | None = None
    languages: list[str] = Field(default_factory=list)
    min_sources: int = Field(default=1, ge=1, le=1000)
    frequency: Frequency | None = None
    spike: Spike | None = None
    flatline: Duration | None = None
    group_by: str | None = None
    cooldown: Duration = timedelta(0)
    notify_on: list[Transition] = Field(default_factory=_open_only, min_length=1)
    update_every: Duration = timedelta(hours=1)
    match: Any = None

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: str | None) -> str | None:
        if value is None or value in ("story", "source", "publisher") or value.startswith("@"):
            return value
        raise ValueError(
            f"group_by must be story, source, publisher or a term list such as @countries,"
            f" got '{value}'"
        )


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
    # Modality is judged on the words of trigger clauses (the event words, not the names).
    trigger: bool = False
    # Set when the clause is a shared list written as @name (group_by uses it).
    list_name: str = ""


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
