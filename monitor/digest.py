"""Content hashes shared by every kind of source."""

from __future__ import annotations

import hashlib


def content_hash(*parts: str) -> str:
    """Return a stable hash of an article's content, ignoring whitespace differences."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(" ".join(part.split()).encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]
