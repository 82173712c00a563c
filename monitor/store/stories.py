"""Queries for Stories: MinHash signatures and LSH bands of matched articles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from monitor.store.db import Store
from monitor.stories import Signature, band_numbers, decode, encode, similarity

THRESHOLD = 0.5
MAX_CANDIDATES = 50


def assign_story(
    store: Store, article_id: int, make_signature: Callable[[], Signature], now: datetime
) -> int:
    """Put an article into the Story of its nearest near-duplicate, or start a new Story.

    The signature is computed only for an article that has no Story yet.
    """
    row = store.one("SELECT story_id FROM articles WHERE id = ?", (article_id,))
    if row is not None and row["story_id"] is not None:
        return int(row["story_id"])
    sig = make_signature()
    bands = band_numbers(sig)
    marks = ", ".join("?" for _ in bands)
    candidates = store.query(
        f"SELECT DISTINCT a.id, a.story_id, a.minhash FROM story_bands b"
        f" JOIN articles a ON a.id = b.article_id"
        f" WHERE b.band IN ({marks}) AND a.id != ? AND a.minhash IS NOT NULL"
        f" ORDER BY a.id DESC LIMIT ?",
        (*bands, article_id, MAX_CANDIDATES),
    )
    best_story, best = article_id, THRESHOLD
    for candidate in candidates:
        score = similarity(sig, decode(bytes(candidate["minhash"])))
        if score >= best:
            best_story, best = int(candidate["story_id"] or candidate["id"]), score
    store.execute(
        "UPDATE articles SET story_id = ?, minhash = ? WHERE id = ?",
        (best_story, encode(sig), article_id),
    )
    store.executemany(
        "INSERT OR IGNORE INTO story_bands (band, article_id) VALUES (?, ?)",
        [(band, article_id) for band in bands],
    )
    return best_story
