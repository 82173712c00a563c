"""The feed source: fetch a feed over HTTP, then parse it in an isolated worker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.config import FetchSpec, SourceSpec
from monitor.model import Article, FetchResult, Match
from monitor.sources.fetch import FetchLimits, fetch, make_client
from monitor.sources.parse import ParsePool

if TYPE_CHECKING:
    from monitor.rules.schema import RuleSpec
    from monitor.stories import Signature


@dataclass(frozen=True)
class Polled:
    """What one poll of a feed produced."""

    articles: list[Article]
    not_modified: bool
    etag: str | None
    last_modified: str | None
    warning: str = ""
    new_url: str | None = None
    ttl: float | None = None
    max_age: float | None = None
    # Each article's matches, made in the parse worker with the rules of ``rules_version``.
    matches: list[list[Match]] | None = None
    rules_version: int = 0
    signatures: list[Signature | None] | None = None
    # CPU seconds the parse worker spent on the feed.
    parse_seconds: float = 0.0


def limits_from(spec: FetchSpec) -> FetchLimits:
    return replace(
        FetchLimits(),
        connect_timeout=spec.connect_timeout.total_seconds(),
        read_timeout=spec.read_timeout.total_seconds(),
        total_timeout=spec.total_timeout.total_seconds(),
        max_bytes=spec.max_bytes,
        max_redirects=spec.max_redirects,
        deny_networks=tuple(spec.deny_networks),
    )


class FeedPoller:
    """Fetch and parse feeds; holds one HTTP client and one pool of parse workers."""

    def __init__(self, spec: FetchSpec) -> None:
        self.limits = limits_from(spec)
        self._client = make_client(self.limits)
        # Set when news-monitor stops: fetches waiting on a server give up (FetchCancelled).
        self.cancel = threading.Event()
        self._spec = spec
        self._pool: ParsePool | None = None
        self._rules: tuple[int, list[RuleSpec]] | None = None
        self._lock = threading.Lock()

    def _parser(self) -> ParsePool:
        # Started on first use: a config with only seeds never spawns workers.
        with self._lock:
            if self._pool is None:
                self._pool = ParsePool(
                    workers=self._spec.parse_workers,
                    timeout=self._spec.parse_timeout.total_seconds(),
                    memory_bytes=self._spec.parse_memory_mb * 1024 * 1024,
                )
                if self._rules is not None:
                    self._pool.set_rules(*self._rules)
            return self._pool

    def poll(
        self,
        source: SourceSpec,
        *,
        url: str | None = None,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
    ) -> Polled:
        """Fetch one feed with its validators; raises FetchError on failure."""
        url = url or source.url or ""
        response = fetch(
            self._client,
            url,
            etag=etag,
            last_modified=last_modified,
            limits=self.limits,
            cancel=self.cancel,
        )
        if response.status == 304:
            return Polled([], True, response.etag or etag, response.last_modified or last_modified)
        result = FetchResult(
            source_id=source.id,
            url=response.url,
            status=response.status,
            body=response.body,
            headers=response.headers,
            fetched_at=now,
            etag=response.etag,
            last_modified=response.last_modified,
        )
        done = self._parser().parse_and_match(result, self.cancel)
        parsed = done.feed
        articles = parsed.articles
        if source.publisher:
            articles = [replace(a, publisher=source.publisher) for a in articles]
        return Polled(
            articles=articles,
            not_modified=False,
            etag=response.etag,
            last_modified=response.last_modified,
            warning=parsed.warning,
            new_url=response.permanent_redirect,
            ttl=parsed.ttl,
            max_age=response.max_age,
            matches=done.matches,
            rules_version=done.rules_version,
            signatures=done.signatures,
            parse_seconds=done.seconds,
        )

    def set_rules(self, version: int, specs: list[RuleSpec]) -> None:
        """Let the parse workers match articles with these rules (see ParsePool.set_rules)."""
        self._rules = (version, specs)
        with self._lock:
            if self._pool is not None:
                self._pool.set_rules(version, specs)

    def close(self) -> None:
        self._client.close()
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
