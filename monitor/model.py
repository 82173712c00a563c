"""The data that flows between stages; frozen dataclasses, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchResult:
    """Raw bytes and HTTP metadata of one poll of a Source."""

    source_id: str
    url: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    fetched_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Article:
    """One normalized news item."""

    source_id: str
    guid: str
    url: str
    title: str
    summary: str
    text: str
    published_at: datetime
    fetched_at: datetime
    content_hash: str
    publisher: str = ""
    language: str = ""

    def field_text(self, name: str) -> str:
        """Return the text of a matchable field: title, summary or text."""
        value: str = getattr(self, name)
        return value


@dataclass(frozen=True)
class Hit:
    """One term found in one field at a character offset."""

    term: str
    field: str
    start: int
    end: int
    matched: str


@dataclass(frozen=True)
class Match:
    """Rule R matched Article A because of these hits."""

    rule_id: str
    hits: tuple[Hit, ...]
    snippet: str
    modality: str = "asserted"
    cue: str = ""


class EventState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AlertState(enum.StrEnum):
    HELD = "held"
    DIGESTED = "digested"
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"


class Outcome(enum.StrEnum):
    """What became of one delivery attempt."""

    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True)
class Alert:
    """One message owed to one Channel about one Event."""

    id: int
    event_id: int
    channel: str
    kind: str
    title: str
    body: str
    state: AlertState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str = ""
    body_format: str = "text"
