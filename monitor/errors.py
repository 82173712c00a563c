"""The exception tree and located problems.

MonitorError                 every error news-monitor raises on purpose
+-- ConfigError              config or rule files are invalid; carries Problems
+-- StoreError               the database cannot be opened, is corrupt or read-only
+-- LockError                another daemon holds the database
+-- FetchError               one poll of one Source failed (saved on the source row)
+-- DeliveryError            one send of one Alert failed (saved on the alert row)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a user's file, located compiler-style."""

    file: str
    line: int
    col: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text


class MonitorError(Exception):
    """Root of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """Config or rule files have problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(MonitorError):
    """The database cannot be used."""


class LockError(MonitorError):
    """Another daemon already runs on this database."""


class FetchError(MonitorError):
    """One poll of one Source failed."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryError(MonitorError):
    """One send of one Alert failed."""


def display_path(path: Path, base: Path | None = None) -> str:
    """Return ``path`` relative to ``base`` (or the working directory) when it lies below it."""
    root = base or Path.cwd()
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


class FetchCancelled(Exception):
    """A poll (its fetch or its parse) was given up because news-monitor is stopping.

    Not a FetchError: nothing about the source is wrong, so nothing is recorded for it, and it
    is polled again at the next start.
    """
