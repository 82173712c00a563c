"""Known secret values (from ``${ENV}``) are masked wherever text leaves the process."""

from __future__ import annotations

import logging
import threading
import urllib.parse

MASK = "****"
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()


def register(value: str) -> None:
    """Remember a secret so that ``mask`` hides it; short values are too common to mask."""
    if len(value) >= MIN_LENGTH:
        with _lock:
            _values.add(value)


def mask(text: str) -> str:
    """Replace every known secret in ``text`` (longest first, so overlaps stay hidden)."""
    if not _values or not text:
        return text
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class MaskFilter(logging.Filter):
    """A handler filter that masks known secrets in every record, whichever library logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            text = mask(str(record.exc_info[1]))
            if text != str(record.exc_info[1]):
                record.exc_info = None
                record.msg = f"{record.msg} ({text})"
        return True


def storable_url(url: str) -> str:
    """``url`` as it may be stored and shown: known secrets masked, and the password (or a
    lone token) of its user info too, even when it was written into the config as is."""
    text = mask(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return text
    if "@" not in parts.netloc:
        return text
    return urllib.parse.urlunsplit(parts._replace(netloc=mask_userinfo(parts.netloc)))


def mask_userinfo(netloc: str, masked: str = MASK) -> str:
    """Return a URL's ``netloc`` with the password of its user info masked."""
    if "@" not in netloc:
        return netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    # A token alone in the user name (https://TOKEN@host/) is as secret as a password.
    return f"{user}:{masked}@{hostport}" if has_password else f"{masked}@{hostport}"
