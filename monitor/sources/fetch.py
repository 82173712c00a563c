"""Fetch feed bytes over HTTP: the one place news-monitor talks to feed servers.

feedparser is never given a URL (it has no timeout, no size cap and reads local files), so this
module does the whole request: redirects followed by hand with the scheme re-checked on every
hop, a total deadline checked while streaming, and a decoded-size cap enforced inside the
decompressor so a gzip bomb stops after ``max_bytes + 1`` decoded bytes.
"""

from __future__ import annotations

import contextvars
import errno
import functools
import ipaddress
import logging
import math
import os
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx
from httpcore._backends.sync import SyncStream

from monitor import __version__
from monitor.errors import FetchCancelled, FetchError
from monitor.secrets import mask_userinfo

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_STATUSES = frozenset({301, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Only codings we decode ourselves; httpx would add br or zstd if brotli or zstandard got installed.
ACCEPT_ENCODING = "gzip, deflate"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_UNSAFE_IN_MESSAGE = re.compile(r"[^\x21-\x7e]")
# Visible ASCII and spaces (RFC 9110 field values, without obs-text), within a sane length.
_VALIDATOR = re.compile(r"[\x20-\x7e]+")
MAX_VALIDATOR = 1024
DEFAULT_USER_AGENT = f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor)"


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts, size cap and redirect limit for one fetch."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    # The whole request incl. redirects and body; httpx only times single socket operations,
    # so a server dripping one byte per second would otherwise never time out.
    total_timeout: float = 30.0
    # Decoded body cap, enforced while streaming and inside the decompressor.
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    # CIDRs never to connect to (for example "10.0.0.0/8"), checked at dial time on the address
    # actually dialled, on every hop; needs a client from make_client(). See _GuardedBackend.
    deny_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject limits that would disable a safeguard."""
        for cidr in self.deny_networks:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"deny_networks: {cidr!r} is not an IP network") from None
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {self.max_bytes!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must not be negative, got {self.max_redirects!r}")


@dataclass(frozen=True)
class FetchResponse:
    """A successful fetch: 200 with a decoded body, or 304 with none."""

    status: int
    url: str
    body: bytes
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    # Set only when every hop to ``url`` was a 301/308: a suggestion to update the config.
    # It may carry credentials from the configured URL; pass it through redact_url() to show it.
    permanent_redirect: str | None
    max_age: float | None
    elapsed: float


class HTTPStatusFetchError(FetchError):
    """The server answered with a status that is not 200 or 304."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.gone = status == 410


class _RedactURLs(logging.Filter):
    """Mask credentials and query values in URLs that httpx puts into its log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) or _looks_like_url(arg) else arg
                for arg in record.args
            )
        return True


def _looks_like_url(value: object) -> bool:
    return isinstance(value, str) and "://" in value


def _install_log_filter() -> None:
    # httpx logs every request's full URL at INFO; feed URLs may carry tokens.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactURLs) for f in logger.filters):
            logger.addFilter(_RedactURLs())


def make_client(limits: FetchLimits) -> httpx.Client:
    """Build the shared HTTP client for feed fetches."""
    _install_log_filter()
    transport = httpx.HTTPTransport()
    # httpx has no public hook for the dialler; the pool takes the backend for each new
    # connection, so replacing it before the first request guards every connection.
    if isinstance(transport._pool, httpcore.ConnectionPool):
        transport._pool._network_backend = _GuardedBackend()
    return httpx.Client(
        transport=transport,
        # No cookies are kept: a feed needs none, and one server's Set-Cookie flood would
        # otherwise grow without limit and go out with every request to its host, other
        # feeds' included (until their servers refuse the headers).
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        timeout=_timeout(limits, limits.total_timeout),
        # Redirects are followed by hand in fetch() so every hop is re-validated.
        follow_redirects=False,
        headers={
            "User-Agent": limits.user_agent,
            "Accept-Encoding": ACCEPT_ENCODING,
            "Accept": ACCEPT,
        },
    )


def fetch(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits = FetchLimits(),
    allow_file: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
    cancel: threading.Event | None = None,
) -> FetchResponse:
    """Fetch ``url`` within ``limits`` and return its decoded body, or raise FetchError.

    When ``cancel`` is set, a fetch waiting on its server stops within ``CANCEL_CHECK``
    seconds with FetchCancelled (a connect in progress runs to its own timeout first).
    """
    # Every socket read and write of this fetch ends by the total deadline (_DeadlineStream).
    token = _DEADLINE.set(time.monotonic() + limits.total_timeout)
    cancel_token = _CANCEL.set(cancel)
    try:
        return _fetch(
            client,
            url,
            etag=etag,
            last_modified=last_modified,
            limits=limits,
            allow_file=allow_file,
            monotonic=monotonic,
        )
    finally:
        _CANCEL.reset(cancel_token)
        _DEADLINE.reset(token)


def _fetch(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    limits: FetchLimits,
    allow_file: bool,
    monotonic: Callable[[], float],
) -> FetchResponse:
    started = monotonic()
    deadline = started + limits.total_timeout
    scheme = _scheme(url)
    if scheme == "file" and allow_file:
        body = _read_file(url, limits.max_bytes)
        return FetchResponse(200, url, body, {}, None, None, None, None, monotonic() - started)
    if scheme not in ALLOWED_SCHEMES:
        allowed = ", ".join((*ALLOWED_SCHEMES, "file") if allow_file else ALLOWED_SCHEMES)
        if not scheme:
            raise FetchError(f"URL has no scheme (allowed: {allowed})")
        raise FetchError(f"scheme '{scheme}' not allowed (allowed: {allowed})")
    current = _parse_url(url, "invalid URL")
    if limits.deny_networks and not _is_guarded(client):
        raise ValueError("deny_networks needs a client built by make_client()")

    headers = {"User-Agent": limits.user_agent, "Accept-Encoding": ACCEPT_ENCODING}
    etag, last_modified = usable_validator(etag), usable_validator(last_modified)
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    all_permanent = True
    for hop in range(limits.max_redirects + 1):
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise _deadline_error(limits)
        response = _send(client, current, headers, limits, remaining)
        try:
            status = response.status_code
            if status in REDIRECT_STATUSES:
                current = _redirect_target(current, response)
                all_permanent = all_permanent and status in PERMANENT_REDIRECT_STATUSES
                continue
            if status not in (200, 304):
                raise _status_error(status, response.headers)
            if status == 304 and not (etag or last_modified):
                # Nothing was asked conditionally, so nothing can be "not modified": taken as
                # success, such a server would never yield a single item.
                raise FetchError("HTTP 304 Not Modified to a request without validators")
            if status == 304:
                # A 304 has no body by definition: nothing is decoded or parsed. Reading the
                # (empty) end of the message lets the pool keep the connection alive; closing
                # it unread would hang up and dial again for the next feed on this host.
                response.read()
                body = b""
            else:
                body = _read_body(response, limits, deadline, monotonic)
            new_etag = usable_validator(response.headers.get("etag"))
            new_last_modified = usable_validator(response.headers.get("last-modified"))
            if status == 304:
                # Servers often omit the validators on a 304; the caller's stay valid then.
                new_etag = new_etag or etag
                new_last_modified = new_last_modified or last_modified
            return FetchResponse(
                status=status,
                url=str(current),
                body=body,
                headers=dict(response.headers.items()),
                etag=new_etag,
                last_modified=new_last_modified,
                permanent_redirect=str(current) if hop and all_permanent else None,
                max_age=_max_age(response.headers),
                elapsed=monotonic() - started,
            )
        except httpx.HTTPError as exc:
            raise _transport_error(exc, limits, remaining) from exc
        finally:
            response.close()
    raise FetchError(f"too many redirects (more than {limits.max_redirects})")


def usable_validator(value: str | None) -> str | None:
    """Return an ETag or Last-Modified value that is safe to send back, or None.

    A server may send anything: a value with non-ASCII letters made httpx fail while building
    the next request, and one with control characters could never be sent. Such a value is
    dropped, so the feed is fetched in full each time instead of failing each time.
    """
    if not value or len(value) > MAX_VALIDATOR or not _VALIDATOR.fullmatch(value):
        return None
    return value


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return the seconds a Retry-After header asks to wait, or None when it is invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return _delta_seconds(text)
    when = _parse_http_date(text)
    if when is None:
        return None
    reference = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    # A date in the past means "retry now", not an invalid header.
    return max(0.0, (when - reference).total_seconds())


# Larger delta-seconds (RFC 9111 §1.2.2 allows any length) count as this many: about 31,700
# years, far past every interval cap, and still a float. 400 digits overflowed float() and
# 5,000 broke int()'s digit limit, failing the poll of a working feed.
_MAX_DELTA = 10**12


def _delta_seconds(text: str) -> float | None:
    """Return the seconds a delta-seconds value (ASCII digits only) states, or None."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0")
    if len(digits) > len(str(_MAX_DELTA)):
        return float(_MAX_DELTA)
    return float(min(int(digits or "0"), _MAX_DELTA))


def redact_url(url: str) -> str:
    """Return ``url`` with the userinfo secret and every query value masked."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = mask_userinfo(parts.netloc, "***")
    query = parts.query
    if query:
        masked = []
        for field in query.split("&"):
            name, sep, _ = field.partition("=")
            masked.append(f"{name}=***" if sep else field)
        query = "&".join(masked)
    text = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    # Messages are shown in terminals and emails: no control characters from a hostile URL.
    return _UNSAFE_IN_MESSAGE.sub(lambda m: urllib.parse.quote(m.group()), text)


# --- requests ----------------------------------------------------------------------------------


def _timeout(limits: FetchLimits, remaining: float) -> httpx.Timeout:
    """Return per-operation timeouts clipped to the time left before the total deadline."""
    return httpx.Timeout(
        connect=min(limits.connect_timeout, remaining),
        read=min(limits.read_timeout, remaining),
        write=min(limits.read_timeout, remaining),
        pool=min(limits.connect_timeout, remaining),
    )


def _send(
    client: httpx.Client,
    url: httpx.URL,
    headers: dict[str, str],
    limits: FetchLimits,
    remaining: float,
) -> httpx.Response:
    """Send one GET and return the streaming response with its headers read."""
    # The connection (if a new one is needed) is dialled inside client.send: the guarded
    # backend reads the deny-list from this context variable, set for that call only.
    token = _DENY.set(_networks(limits.deny_networks))
    try:
        request = client.build_request(
            "GET", url, headers=headers, timeout=_timeout(limits, remaining)
        )
        return client.send(request, stream=True, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, limits, remaining) from exc
    except httpx.InvalidURL as exc:
        # httpx reads a redirect's Location even when it does not follow it (javascript:,
        # data:, a backslash path), and a bad one raises here rather than in our checks.
        raise FetchError("redirect to an invalid location") from exc
    finally:
        _DENY.reset(token)


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    """Return the validated URL a redirect points to."""
    location = response.headers.get("location", "").strip()
    if not location:
        raise HTTPStatusFetchError(
            f"HTTP {response.status_code} redirect without a Location header",
            status=response.status_code,
        )
    try:
        joined = str(current.join(location))
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"invalid redirect location {redact_url(location)}") from exc
    # Re-checked on every hop: an http feed must not bounce us to file://, ftp:// or gopher://.
    scheme = _scheme(joined)
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(f"redirect to unsupported scheme '{scheme}'")
    return _parse_url(joined, "invalid redirect location")


def _parse_url(text: str, problem: str) -> httpx.URL:
    """Return ``text`` as an httpx URL with a usable host and port, or raise FetchError."""
    try:
        url = httpx.URL(text)
        # Reading .host decodes IDNA, which raises UnicodeError (a ValueError) on bad labels;
        # better here than from deep inside the connection pool.
        usable = bool(url.host) and (url.port is None or 0 < url.port < 65536)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(f"{problem} {redact_url(text)}") from exc
    if not usable:
        raise FetchError(f"{problem} {redact_url(text)}")
    return url


def _read_body(
    response: httpx.Response,
    limits: FetchLimits,
    deadline: float,
    monotonic: Callable[[], float],
) -> bytes:
    """Stream, decode and cap the body, checking the total deadline between chunks."""
    # Each socket read is also bounded by the read timeout, clipped to the time left when the
    # request was sent; so a server that stalls mid-body is cut at most read_timeout late.
    cap = limits.max_bytes
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > cap:
        raise _too_large(cap)
    decoder = _decoder(response.headers.get("content-encoding", ""), cap)
    raw_total = 0
    for chunk in response.iter_raw():
        if monotonic() >= deadline:
            raise _deadline_error(limits)
        raw_total += len(chunk)
        # Compressed input beyond the cap is refused too: empty deflate blocks decode to nothing.
        if raw_total > cap:
            raise _too_large(cap)
        decoder.feed(chunk)
    return decoder.finish()


class _CorruptDataError(FetchError):
    """The compressed body is not valid gzip or deflate data."""


class _Decoder:
    """Decode a Content-Encoding incrementally without ever holding more than cap+1 bytes."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        """Decode one raw chunk."""
        self._add(chunk)

    def finish(self) -> bytes:
        """Return the whole decoded body."""
        return b"".join(self._parts)

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            raise _too_large(self._cap)
        self._parts.append(data)

    def _room(self) -> int:
        # One byte past the cap is enough to know the body is too large.
        return self._cap + 1 - self._size


class _ZlibDecoder(_Decoder):
    """Decode gzip (including concatenated members) or zlib/raw deflate with a bounded output."""

    def __init__(self, cap: int, coding: str) -> None:
        super().__init__(cap)
        self._coding = coding
        # 47 = 32 + 15: zlib or gzip header, detected from the data, because some servers label
        # zlib data as gzip or the other way round.
        self._inflate = zlib.decompressobj(wbits=47)
        # "deflate" is often sent as raw deflate (no zlib header), so keep the first bytes until
        # the header check has passed and re-feed them as raw deflate if it fails.
        self._header: bytes | None = b"" if coding == "deflate" else None
        self._fed = False
        self._extra_member = False
        self._member_start = 0
        self._ended = False

    def feed(self, chunk: bytes) -> None:
        """Decode one raw chunk, stopping as soon as the decoded size passes the cap."""
        self._fed = self._fed or bool(chunk)
        if self._header is None:
            self._inflate_all(chunk)
            return
        self._header += chunk
        try:
            self._inflate_all(chunk)
        except _CorruptDataError:
            header, self._header = self._header, None
            self._parts, self._size = [], 0
            self._inflate = zlib.decompressobj(wbits=-15)
            self._inflate_all(header)
            return
        if len(self._header) >= 2:
            self._header = None

    def finish(self) -> bytes:
        """Return the decoded body, refusing a compressed stream that was cut short."""
        if not self._fed or self._ended:
            return super().finish()
        try:
            self._add(self._inflate.flush())
        except zlib.error as exc:
            raise FetchError(f"invalid {self._coding} data: {exc}") from exc
        # A few stray bytes after the last gzip member are padding, not a truncated member.
        padding = self._extra_member and self._size == self._member_start
        if not self._inflate.eof and not padding:
            raise FetchError(f"truncated {self._coding} body")
        return super().finish()

    def _inflate_all(self, data: bytes) -> None:
        while data and not self._ended:
            if self._inflate.eof:
                if self._coding != "gzip":
                    # Bytes after the end of a deflate stream carry no content.
                    self._ended = True
                    return
                # Concatenated gzip members (RFC 1952 §2.2) form one body.
                self._inflate = zlib.decompressobj(wbits=47)
                self._extra_member = True
                self._member_start = self._size
            try:
                self._add(self._inflate.decompress(data, self._room()))
            except zlib.error as exc:
                if self._extra_member:
                    # Trailing garbage or zero padding after a complete member, as urllib3 allows.
                    self._ended = True
                    return
                raise _CorruptDataError(f"invalid {self._coding} data: {exc}") from exc
            if self._inflate.eof:
                self._extra_member = False
                data = self._inflate.unused_data
            else:
                data = self._inflate.unconsumed_tail


def _decoder(content_encoding: str, cap: int) -> _Decoder:
    """Return the decoder for a Content-Encoding header value."""
    codings = [
        c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() != "identity"
    ]
    codings = [c for c in codings if c]
    if not codings:
        return _Decoder(cap)
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _ZlibDecoder(cap, "deflate" if codings[0] == "deflate" else "gzip")
    # The value comes from the server: show a bounded, printable part of it only.
    shown = "".join(ch for ch in ", ".join(codings)[:40] if ch.isprintable())
    raise FetchError(f"unsupported content encoding '{shown}'")


# --- the connect-time deny-list ----------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_DENY: contextvars.ContextVar[tuple[Network, ...]] = contextvars.ContextVar(
    "news_monitor_deny_networks", default=()
)


_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class DeniedAddressError(FetchError):
    """The host resolved to an address in ``FetchLimits.deny_networks``."""


# The time.monotonic() by which the current fetch must end, set by fetch() for its duration.
# The current fetch's cancel flag (the daemon's stop), and how often a wait looks at it.
_CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "news_monitor_fetch_cancel", default=None
)
CANCEL_CHECK = 0.25
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "news_monitor_fetch_deadline", default=None
)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current fetch's total deadline.

    Per-operation timeouts alone let a server that answers a little at a time (a byte of the
    headers every few seconds, or one 103 Early Hints after another, which httpcore reads
    before the response) hold a fetch for as long as it likes.
    """

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    @staticmethod
    def _left(timeout: float | None, error: type[Exception]) -> float | None:
        deadline = _DEADLINE.get()
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise error("the fetch's total deadline has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit = self._left(timeout, httpcore.ReadTimeout)
        cancel = _CANCEL.get()
        if cancel is None:
            return self._inner.read(max_bytes, limit)
        # Wait in short steps, looking at the cancel flag between them. A read that times out
        # has received nothing (for TLS too: a partial record stays buffered), so it can be
        # asked again. Writes are not split: a timed-out send may have sent part of a buffer.
        end = None if limit is None else time.monotonic() + limit
        while True:
            if cancel.is_set():
                raise FetchCancelled("news-monitor is stopping")
            step = CANCEL_CHECK if end is None else min(CANCEL_CHECK, end - time.monotonic())
            if step <= 0:
                raise httpcore.ReadTimeout("timed out")
            try:
                return self._inner.read(max_bytes, step)
            except httpcore.ReadTimeout:
                if end is not None and time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        cancel = _CANCEL.get()
        if cancel is not None and cancel.is_set():
            raise FetchCancelled("news-monitor is stopping")
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


@functools.lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _is_guarded(client: httpx.Client) -> bool:
    pool = getattr(client._transport, "_pool", None)
    return isinstance(getattr(pool, "_network_backend", None), _GuardedBackend)


class _GuardedBackend(httpcore.NetworkBackend):
    """Dial TCP like httpcore's SyncBackend, refusing hosts that resolve into a denied network.

    The name is resolved once, here; every address it resolved to is checked (one denied
    address refuses the host), and then one of exactly those checked addresses is dialled. So
    the check is on the address actually dialled, a second DNS answer (rebinding) is never
    asked for, and a refused host gets no TCP connection at all. Limits: a keep-alive
    connection is reused without a new check, so one client should serve one deny-list (the
    feed poller has one client and one FetchLimits); with an HTTP proxy from the environment
    the proxy dials, not us; and only the listed networks are refused, there is no built-in
    private range.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._connect(host, port, timeout, local_address, socket_options))

    def _connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        denied = _DENY.get()
        if not denied:
            return self._dial(host, port, timeout, local_address, socket_options)
        infos = resolve(host, port, _deadline(timeout), _CANCEL.get())
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            # 0.0.0.0 (and "0", and ::) reach this machine itself, like 127.0.0.1, whatever
            # the list says: with a deny-list in force they are never dialled.
            if ip.is_unspecified or ip in _THIS_NETWORK:
                raise DeniedAddressError(f"refusing non-public address {ip}")
            # ::ffff:127.0.0.2 reaches 127.0.0.2: check the IPv4 address it maps to as well.
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            for candidate in (ip, mapped) if mapped else (ip,):
                if any(candidate.version == n.version and candidate in n for n in denied):
                    raise DeniedAddressError(f"refusing non-public address {candidate}")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return self._dial(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def _dial(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        """Connect like httpcore's SyncBackend; with a cancel flag, a stop ends the wait.

        A server that never answers the connection (a dropped SYN), or a name server that
        never answers the lookup, would otherwise hold a stop for the whole connect timeout.
        """
        cancel = _CANCEL.get()
        if cancel is None:
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        end = _deadline(timeout)
        infos = resolve(host, port, end, cancel)
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                if local_address is not None:
                    sock.bind((local_address, 0))
                _connect_until(sock, address, end, cancel)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = httpcore.ConnectError(str(exc))
                # "connection refused" and the like are read from the chain (httpcore's pool
                # re-raises "from None", which keeps only the context).
                error.__cause__ = error.__context__ = exc
                continue
            except BaseException:
                sock.close()
                raise
            return SyncStream(sock)
        raise error

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


Lookup = Callable[[str, int], list[Any]]


def _getaddrinfo(host: str, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve(
    host: str,
    port: int,
    end: float | None,
    cancel: threading.Event | None,
    lookup: Lookup = _getaddrinfo,
) -> list[Any]:
    """Look ``host`` up (getaddrinfo) by the connect deadline ``end``, or until ``cancel``.

    The system resolver cannot be interrupted and waits for a silent name server for as long
    as resolv.conf says (5 s per try and server by default): the lookup runs in a daemon
    thread, and the poll stops waiting for it at the deadline (ConnectTimeout) or at a stop
    (FetchCancelled). An address needs no lookup and no thread.
    """
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return _lookup_now(lookup, host, port)
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(lookup(host, port))
        except BaseException as exc:  # handed to the waiting poll below
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"lookup {host}", daemon=True).start()
    while not done.wait(CANCEL_CHECK if end is None else min(CANCEL_CHECK, end - time.monotonic())):
        if cancel is not None and cancel.is_set():
            raise FetchCancelled("news-monitor is stopping")
        if end is not None and time.monotonic() >= end:
            raise httpcore.ConnectTimeout(f"name lookup of {host} timed out")
    result = outcome[0]
    if isinstance(result, OSError):
        raise _connect_error(result)
    if isinstance(result, BaseException):
        raise result
    return list(result)


def _lookup_now(lookup: Lookup, host: str, port: int) -> list[Any]:
    try:
        return lookup(host, port)
    except OSError as exc:
        raise _connect_error(exc) from exc


def _connect_error(exc: OSError) -> httpcore.ConnectError:
    """A ConnectError that keeps ``exc`` readable for _transport_error ("name resolution
    failed"): httpcore's pool re-raises "from None", which keeps only the context."""
    error = httpcore.ConnectError(str(exc))
    error.__cause__ = error.__context__ = exc
    return error


def _connect_until(
    sock: socket.socket, address: Any, end: float | None, cancel: threading.Event
) -> None:
    """Connect ``sock`` without blocking, looking at ``cancel`` every CANCEL_CHECK seconds."""
    sock.setblocking(False)
    code = sock.connect_ex(address)
    waiting = select.poll()  # poll, not select: no limit on the descriptor number
    waiting.register(sock, select.POLLOUT)
    while code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
        if cancel.is_set():
            raise FetchCancelled("news-monitor is stopping")
        step = CANCEL_CHECK if end is None else min(CANCEL_CHECK, end - time.monotonic())
        if step <= 0:
            raise httpcore.ConnectTimeout("timed out")
        if waiting.poll(step * 1000):
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
    sock.setblocking(True)


# --- local files -------------------------------------------------------------------------------


def _read_file(url: str, cap: int) -> bytes:
    """Read a ``file://`` URL from disk with the same size cap as HTTP."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError("file URL with a remote host is not supported")
    path = urllib.request.url2pathname(parts.path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(cap + 1)
    except FileNotFoundError as exc:
        raise FetchError(f"file not found: {path}") from exc
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > cap:
        raise _too_large(cap)
    return data


# --- errors ------------------------------------------------------------------------------------


def _scheme(url: str) -> str:
    """Return the lower-cased scheme of ``url``, or "" when it has none."""
    try:
        return urllib.parse.urlsplit(url).scheme.lower()
    except ValueError as exc:
        # urlsplit only fails on a broken netloc; there is nothing safe to show from it.
        raise FetchError("invalid URL") from exc


def _seconds(value: float) -> str:
    """Format a duration for a message: 30 -> "30s", 1.5 -> "1.5s"."""
    return f"{round(value, 1):g}s"


def _too_large(cap: int) -> FetchError:
    return FetchError(f"response too large (over {cap} bytes)")


def _deadline_error(limits: FetchLimits) -> FetchError:
    return FetchError(f"fetch exceeded total deadline of {_seconds(limits.total_timeout)}")


def _status_error(status: int, headers: httpx.Headers) -> HTTPStatusFetchError:
    """Build the error for a non-200, non-304 final status."""
    # The standard phrase, not the server's: it is user-facing and the server's text is not.
    reason = httpx.codes.get_reason_phrase(status)
    message = f"HTTP {status} {reason}" if reason else f"HTTP {status}"
    retry_after = None
    if status in RETRY_AFTER_STATUSES:
        # Measured against the server's own Date when it sends one, so a skewed local clock
        # cannot turn "retry in 60 s" into hours or into zero.
        date = next(iter(headers.get_list("date")), None)
        now = (_parse_http_date(date) if date else None) or datetime.now(UTC)
        retry_after = parse_retry_after(headers.get("retry-after"), now)
        if retry_after is not None:
            # A server may ask for years; the schedule waits a day at most, so say no more.
            shown = _seconds(retry_after) if retry_after <= 86400 else "more than a day"
            message += f" (retry after {shown})"
    return HTTPStatusFetchError(message, status=status, retry_after=retry_after)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and the exceptions it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_error(exc: httpx.HTTPError, limits: FetchLimits, remaining: float) -> FetchError:
    """Turn an httpx exception into a short user-facing FetchError."""
    # ``remaining`` is the time that was left when the request was sent: every socket timeout
    # was clipped to it, so a timeout shorter than configured is the total deadline firing.
    deadline = _DEADLINE.get()
    if (
        isinstance(exc, httpx.TimeoutException)
        and deadline is not None
        and time.monotonic() >= deadline - 0.05
    ):
        return _deadline_error(limits)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        if remaining < limits.connect_timeout:
            return _deadline_error(limits)
        return FetchError(f"connection timed out after {_seconds(limits.connect_timeout)}")
    if isinstance(exc, httpx.TimeoutException):
        if remaining < limits.read_timeout:
            return _deadline_error(limits)
        kind = "write" if isinstance(exc, httpx.WriteTimeout) else "read"
        return FetchError(f"{kind} timed out after {_seconds(limits.read_timeout)}")
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or "unknown reason"
            return FetchError(f"certificate verify failed: {detail}")
        if isinstance(cause, ssl.SSLError):
            return FetchError(f"TLS handshake failed: {cause.reason or cause}")
        if isinstance(cause, socket.gaierror):
            return FetchError("name resolution failed")
        if isinstance(cause, ConnectionRefusedError):
            return FetchError("connection refused")
        if isinstance(cause, ConnectionResetError):
            return FetchError("connection reset by peer")
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return FetchError("network unreachable")
    text = str(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "incomplete" in text or "complete message body" in text:
            return FetchError("connection closed before the body was complete")
        if "without sending" in text or "disconnected" in text.lower():
            return FetchError("server closed the connection without a response")
        return FetchError("invalid HTTP response")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError("invalid URL")
    if isinstance(exc, httpx.ConnectError):
        return FetchError("connection failed")
    if isinstance(exc, httpx.ReadError):
        return FetchError("connection lost while reading the response")
    return FetchError(f"fetch failed ({type(exc).__name__})")


def _parse_http_date(text: str) -> datetime | None:
    """Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    # HTTP dates are always GMT; a date without a zone is read as UTC too.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _max_age(headers: httpx.Headers) -> float | None:
    """Return the freshness lifetime from Cache-Control max-age, or Expires minus Date."""
    for directive in ",".join(headers.get_list("cache-control")).split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            return _delta_seconds(value.strip().strip('"'))
    # The first of repeated Date or Expires headers: joined values would not parse as dates.
    expires = next(iter(headers.get_list("expires")), None)
    date = next(iter(headers.get_list("date")), None)
    if expires is None or date is None:
        return None
    sent = _parse_http_date(date)
    if sent is None:
        return None
    until = _parse_http_date(expires)
    # RFC 9111 §5.3: an invalid Expires (often "0") means already expired.
    if until is None:
        return 0.0
    return max(0.0, (until - sent).total_seconds())
