"""Opening the database: pragmas, integrity check, migrations, transactions, the daemon lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlite_utils import Database

from monitor.errors import LockError, StoreError
from monitor.store.migrations import migrations


class Store:
    """One connection to the news-monitor database; every query lives in ``monitor.store``."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        # One connection serves every thread; the lock keeps each transaction whole.
        self.lock = threading.RLock()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a write unit in ``BEGIN IMMEDIATE`` so a busy database waits instead of failing."""
        with self.lock:
            if self.conn.in_transaction:
                with self.db.atomic():
                    yield
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                # After SQLITE_FULL and some I/O errors SQLite has already rolled back.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def query(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[dict[str, Any]]:
        with self.lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self.lock:
            row = self.conn.execute(sql, params).fetchone()
            return row[0] if row else None

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.lock:
            self.conn.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


def open_store(path: Path, *, migrate: bool = True, readonly: bool = False) -> Store:
    """Open (and create or upgrade) the database at ``path``."""
    if readonly:
        if not path.exists():
            raise StoreError(f"database {path} does not exist yet; run 'news-monitor run' first")
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create folder for database {path}: {exc.strerror}") from exc
        try:
            conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        _test_pragmas(conn)
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StoreError(
                f"database file is corrupt: {path} ({check[0] if check else 'no answer'});"
                " restore it from a backup"
            )
        db = Database(conn, execute_plugins=False)
        if not readonly:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if migrate:
                # sqlite-utils creates its bookkeeping table and index in two steps; one
                # transaction keeps a crash between them from leaving the index missing.
                with db.atomic():
                    migrations.ensure_migrations_table(db)
                migrations.apply(db)
            # A read-only file only fails at the first write; find out now, with a message.
            probe_write(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            raise StoreError(
                f"database file is corrupt: {path} ({text}); restore it from a backup"
            ) from exc
        if "readonly" in text or "read-only" in text:
            raise StoreError(f"database {path} is read-only: {text}") from exc
        raise StoreError(f"cannot use database {path}: {text}") from exc
    except StoreError:
        conn.close()
        raise
    return Store(db, path)


PRAGMAS_VARIABLE = "MONITOR_SQLITE_PRAGMAS"
_PRAGMA = re.compile(r"^([a-z_]+)=([A-Za-z0-9_.-]+)$")


def _test_pragmas(conn: sqlite3.Connection) -> None:
    """Test-only fault seam, off unless the variable is set: pragmas for each new connection.

    Applies to every connection open_store() makes (the dashboard's read-only readers are not
    affected). ``MONITOR_SQLITE_PRAGMAS="max_page_count=40"`` makes the database "full" at 40
    pages, and ``query_only=1`` makes it refuse writes even for root; ``;`` separates several.
    """
    for item in filter(None, os.environ.get(PRAGMAS_VARIABLE, "").replace(" ", "").split(";")):
        match = _PRAGMA.match(item)
        if match is None:
            raise StoreError(f"{PRAGMAS_VARIABLE}: expected name=value, got {item!r}")
        conn.execute(f"PRAGMA {match.group(1)} = {match.group(2)}")


class DaemonLock:
    """An exclusive ``flock`` on ``<database>.lock``: one daemon per database."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._file: TextIO | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held open for the daemon's lifetime
        except OSError as exc:
            raise LockError(f"cannot create the lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise LockError(
                f"another news-monitor (pid {holder}) holds {self.path}; stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
            self._file.close()
            self._file = None


def probe_write(conn: sqlite3.Connection) -> None:
    """Take the write lock, write nothing, roll back; raise the error a real write would.

    BEGIN IMMEDIATE alone succeeds on a read-only connection, so a delete of no rows follows:
    SQLite refuses it on a read-only file or connection.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM daemon_state WHERE 0")
    finally:
        conn.execute("ROLLBACK")
