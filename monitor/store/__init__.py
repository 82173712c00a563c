"""The only place SQL lives: one SQLite file through sqlite-utils, schema by migrations."""

from monitor.store.db import Store, open_store

__all__ = ["Store", "open_store"]
