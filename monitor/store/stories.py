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
    # The newest candidates are chosen from the band index alone, and only they are read
    # from articles: joined first, every near-duplicate's row (text and all) was read before
    # the LIMIT, and a feed repeating one long story made each store slower than the last
    # (0.1 s an article after 2,300 copies, in the hostile-feed run).
    candidates = store.query(
        f"SELECT a.id, a.story_id, a.minhash FROM articles a WHERE a.id IN"
        f" (SELECT DISTINCT article_id FROM story_bands WHERE band IN ({marks})"
        f" AND article_id != ? ORDER BY article_id DESC LIMIT ?)"
        f" AND a.minhash IS NOT NULL ORDER BY a.id DESC",
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
