"""Build feeds and projects for tests."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from werkzeug import Request, Response

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.pipeline import Runtime, build_runtime
from monitor.store import open_store


def rss(
    items: list[tuple[str, str, str]], *, title: str = "Test feed", ttl: int | None = None
) -> bytes:
    """Return RSS 2.0 bytes for (guid, title, description) items."""
    base = datetime(2026, 2, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{title}</title><link>http://127.0.0.1/</link><description>d</description>",
    ]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for i, (guid, item_title, text) in enumerate(items):
        when = format_datetime(base + timedelta(minutes=i))
        parts.append(
            f"<item><guid isPermaLink='false'>{guid}</guid><title>{item_title}</title>"
            f"<link>http://127.0.0.1/a/{guid}</link><description>{text}</description>"
            f"<pubDate>{when}</pubDate></item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def conditional(body: bytes, content_type: str = "application/rss+xml"):  # type: ignore[no-untyped-def]
    """A handler that serves ``body`` with an ETag and answers 304 to a matching validator."""
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type=content_type, headers={"ETag": etag})

    return handler


def project(tmp_path: Path, body: str, clock: FakeClock) -> Runtime:
    """Write a config (rules copied from the shipped ones) and build a runtime on it."""
    import shutil

    from tests.conftest import ROOT

    if not (tmp_path / "rules").exists():
        shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "monitor.yaml"
    path.write_text(body, encoding="utf-8")
    config = load_config(path, env={})
    store = open_store(config.database)
    return build_runtime(config, store, clock, console=io.StringIO())
