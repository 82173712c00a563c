"""Tests for monitor.sources.fetch against real servers on 127.0.0.1 (RELIABILITY.md §4 C)."""

from __future__ import annotations

import contextlib
import gzip
import resource
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpcore
import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor import __version__
from monitor.errors import FetchCancelled, FetchError
from monitor.sources.fetch import (
    FetchLimits,
    HTTPStatusFetchError,
    fetch,
    make_client,
    parse_retry_after,
    redact_url,
    resolve,
)

pytestmark = pytest.mark.timeout(15)

MB = 1024 * 1024
FAST = FetchLimits(connect_timeout=1.0, read_timeout=0.5, total_timeout=1.5, max_bytes=MB)
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>t</title>'
    b"<item><title>Quake</title><link>https://example.org/1</link></item></channel></rss>\n"
)
LAST_MODIFIED = "Wed, 01 Jan 2025 12:00:00 GMT"


# --- servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loopback_httpserver() -> Iterator[HTTPServer]:
    """Run one pytest-httpserver on 127.0.0.1 (the plugin's default host is "localhost")."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(loopback_httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """Give each test a cleared 127.0.0.1 server and fail it on unmatched requests."""
    loopback_httpserver.clear()
    yield loopback_httpserver
    loopback_httpserver.check_handler_errors()
    loopback_httpserver.clear()


Handler = Callable[[socket.socket, "RawServer"], None]


class RawServer:
    """A TCP server on 127.0.0.1 that runs a handler per connection: for misbehaving peers."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        # A short accept timeout lets close() stop the loop without a wake-up connection.
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/feed"
        self.stopping = threading.Event()
        self.sent = 0
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._run, args=(conn,), daemon=True)
            with self._lock:
                self._workers.append(worker)
            worker.start()

    def _run(self, conn: socket.socket) -> None:
        with conn:
            # Short socket timeouts so every handler loop notices close() quickly.
            conn.settimeout(0.1)
            # OSError: the client hung up, which is what most of these tests provoke.
            with contextlib.suppress(OSError):
                self._handler(conn, self)

    def read_request(self, conn: socket.socket) -> bytes:
        """Read one request head."""
        data = b""
        while b"\r\n\r\n" not in data and not self.stopping.is_set():
            try:
                piece = conn.recv(4096)
            except TimeoutError:
                continue
            if not piece:
                break
            data += piece
        with self._lock:
            self.requests.append(data)
        return data

    def send(self, conn: socket.socket, data: bytes) -> bool:
        """Send ``data``, counting what the kernel accepted; False once the client is gone."""
        view = memoryview(data)
        while view:
            if self.stopping.is_set():
                return False
            try:
                n = conn.send(view)
            except TimeoutError:
                continue
            except OSError:
                return False
            with self._lock:
                self.sent += n
            view = view[n:]
        return True

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until every connection handler has returned."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def close(self) -> None:
        """Stop accepting, end all handlers and release the port."""
        self.stopping.set()
        self._acceptor.join(5)
        self._listener.close()
        self.wait_idle()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], RawServer]]:
    """Start raw servers on demand and stop them all after the test."""
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """Build a client with the fast test limits."""
    with make_client(FAST) as c:
        yield c


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def fetch_error(client: httpx.Client, url: str, **kwargs: object) -> FetchError:
    """Fetch ``url`` and return the FetchError it must raise."""
    with pytest.raises(FetchError) as info:
        fetch(client, url, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- success, validators, headers --------------------------------------------------------------


def test_200_returns_body_validators_and_headers(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": LAST_MODIFIED},
    )
    response = fetch(client, httpserver.url_for("/feed"), limits=FAST)
    assert response.status == 200
    assert response.body == RSS
    assert response.url == httpserver.url_for("/feed")
    assert response.etag == '"v1"'
    assert response.last_modified == LAST_MODIFIED
    assert response.headers["content-type"] == "application/rss+xml"
    assert response.permanent_redirect is None
    assert response.max_age is None
    assert 0 <= response.elapsed < 1.5


def test_sends_user_agent_and_only_gzip_deflate(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS)
    fetch(client, httpserver.url_for("/feed"), limits=FAST)
    request = httpserver.log[0][0]
    assert request.headers["User-Agent"] == FetchLimits().user_agent
    assert request.headers["User-Agent"].startswith(f"news-monitor/{__version__} ")
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


def test_make_client_never_follows_redirects() -> None:
    with make_client(FAST) as c:
        assert c.follow_redirects is False
        assert c.headers["accept-encoding"] == "gzip, deflate"
        assert c.headers["user-agent"] == FAST.user_agent


def test_304_with_if_none_match(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304, headers={"ETag": '"v1"'}
    )
    response = fetch(client, httpserver.url_for("/feed"), etag='"v1"', limits=FAST)
    assert response.status == 304
    assert response.body == b""
    assert response.etag == '"v1"'
    assert httpserver.log[0][0].headers["If-None-Match"] == '"v1"'


def test_an_absurd_retry_after_is_not_printed_as_is(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "busy", status=503, headers={"Retry-After": "251607000000"}
    )
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert str(error) == "HTTP 503 Service Unavailable (retry after more than a day)"


def test_304_to_an_unconditional_request_is_an_error(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    # Found by a hostile-feed run: a server that always answers 304 counted as a healthy
    # source for ever, though it never served an item.
    httpserver.expect_request("/feed").respond_with_data("", status=304)
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert str(error) == "HTTP 304 Not Modified to a request without validators"


def test_304_with_if_modified_since_keeps_validators(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request(
        "/feed", headers={"If-Modified-Since": LAST_MODIFIED}
    ).respond_with_data("", status=304)
    response = fetch(
        client, httpserver.url_for("/feed"), etag='"v1"', last_modified=LAST_MODIFIED, limits=FAST
    )
    assert (response.status, response.body) == (304, b"")
    # The server repeated neither validator, so the caller's are handed back to be kept.
    assert (response.etag, response.last_modified) == ('"v1"', LAST_MODIFIED)
    seen = httpserver.log[0][0].headers
    assert seen["If-Modified-Since"] == LAST_MODIFIED
    assert seen["If-None-Match"] == '"v1"'


def test_304_keeps_the_connection_alive(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    # Feeds of one host are polled back to back: a 304 must leave the connection reusable,
    # or every unchanged feed pays a new TCP handshake (and the server a new socket).
    connections: list[int] = []

    def keep_alive(conn: socket.socket, server: RawServer) -> None:
        connections.append(1)
        while server.read_request(conn):
            answer = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'
            if not server.send(conn, answer):
                return

    server = raw_server(keep_alive)
    for _ in range(3):
        assert fetch(client, server.url, etag='"v1"', limits=FAST).status == 304
    assert len(server.requests) == 3
    assert len(connections) == 1


def test_unusable_validators_are_dropped_not_sent_back(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    # A hostile or broken server sends validators httpx cannot send back (non-ASCII) or that
    # would be unsafe to (control characters). They are dropped: the next poll is a plain GET.
    def odd(conn: socket.socket, server: RawServer) -> None:
        while server.read_request(conn):
            answer = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                b'ETag: "caf\xc3\xa9"\r\nLast-Modified: \x01Wed\r\n'
                + f"Content-Length: {len(RSS)}\r\n\r\n".encode()
                + RSS
            )
            if not server.send(conn, answer):
                return

    server = raw_server(odd)
    first = fetch(client, server.url, limits=FAST)
    assert (first.status, first.etag, first.last_modified) == (200, None, None)
    # Values stored before this check existed are not sent either, and break nothing.
    again = fetch(client, server.url, etag='"caf\u00e9"', last_modified="x\ny", limits=FAST)
    assert again.status == 200
    sent = server.requests[-1].lower()
    assert b"if-none-match" not in sent and b"if-modified-since" not in sent


def test_max_age_from_cache_control(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS, headers={"Cache-Control": "public, max-age=600"}
    )
    assert fetch(client, httpserver.url_for("/feed"), limits=FAST).max_age == 600.0


def test_a_max_age_of_400_digits_is_long_not_an_error(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        RSS, headers={"Cache-Control": "max-age=" + "9" * 400}
    )
    assert fetch(client, httpserver.url_for("/feed"), limits=FAST).max_age == 1e12


def test_max_age_from_expires_minus_date(httpserver: HTTPServer, client: httpx.Client) -> None:
    # Werkzeug always sends its own Date first, so Expires is set relative to the real clock.
    expires = datetime.now(UTC) + timedelta(hours=1)
    httpserver.expect_request("/feed").respond_with_data(
        RSS, headers={"Expires": format_datetime(expires, usegmt=True)}
    )
    max_age = fetch(client, httpserver.url_for("/feed"), limits=FAST).max_age
    assert max_age is not None
    assert 3598 <= max_age <= 3601


def test_invalid_expires_means_already_expired(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(RSS, headers={"Expires": "0"})
    assert fetch(client, httpserver.url_for("/feed"), limits=FAST).max_age == 0.0


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "permanent"),
    [([301], True), ([308], True), ([302], False), ([301, 308], True), ([301, 307], False)],
)
def test_redirects_report_permanent_only_when_every_hop_is(
    httpserver: HTTPServer, client: httpx.Client, statuses: list[int], permanent: bool
) -> None:
    for i, status in enumerate(statuses):
        # Relative Location headers: they must be resolved against the current URL.
        httpserver.expect_request(f"/hop{i}").respond_with_data(
            "", status=status, headers={"Location": f"/hop{i + 1}"}
        )
    final = f"/hop{len(statuses)}"
    httpserver.expect_request(final).respond_with_data(RSS)
    response = fetch(client, httpserver.url_for("/hop0"), limits=FAST)
    assert response.body == RSS
    assert response.url == httpserver.url_for(final)
    assert response.permanent_redirect == (httpserver.url_for(final) if permanent else None)


def test_redirect_loop_stops_at_limit(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/a").respond_with_data("", 302, {"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", 302, {"Location": "/a"})
    error = fetch_error(client, httpserver.url_for("/a"), limits=FAST)
    assert str(error) == "too many redirects (more than 5)"
    assert len(httpserver.log) == 6  # the request plus five followed redirects


@pytest.mark.parametrize(
    ("location", "scheme"),
    [
        ("ftp://user:pw@example.org/feed", "ftp"),
        ("file:///etc/passwd", "file"),
        ("gopher://x/", "gopher"),
    ],
)
def test_redirect_to_other_scheme_is_refused(
    httpserver: HTTPServer, client: httpx.Client, location: str, scheme: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data("", 302, {"Location": location})
    # allow_file covers configured file sources, never a redirect chosen by a server.
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST, allow_file=True)
    assert str(error) == f"redirect to unsupported scheme '{scheme}'"


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(document.cookie)",
        "data:application/rss+xml;base64,PHJzcz48L3Jzcz4=",
        "http:\\\\127.0.0.1:1\\feed",
    ],
    ids=["javascript", "data", "backslashes"],
)
def test_a_location_httpx_cannot_read_is_a_fetch_error(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client, location: str
) -> None:
    # httpx reads Location even when not following it; these made it raise InvalidURL, which
    # escaped fetch() (found by a hostile-feed run).
    head = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
    server = raw_server(_reply(head.encode()))
    error = fetch_error(client, server.url, limits=FAST)
    assert str(error) == "redirect to an invalid location"


def test_total_deadline_covers_redirects(httpserver: HTTPServer, client: httpx.Client) -> None:
    for i in range(4):
        httpserver.expect_request(f"/r{i}").respond_with_data("", 302, {"Location": f"/r{i + 1}"})
    ticks = iter(range(100))
    limits = FetchLimits(total_timeout=2.5, max_bytes=MB)
    # An injected clock that advances one second per reading: the third hop is past 2.5 s.
    error = fetch_error(
        client, httpserver.url_for("/r0"), limits=limits, monotonic=lambda: float(next(ticks))
    )
    assert str(error) == "fetch exceeded total deadline of 2.5s"
    assert len(httpserver.log) == 2


# --- HTTP errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "gone"),
    [
        (404, "HTTP 404 Not Found", False),
        (410, "HTTP 410 Gone", True),
        (500, "HTTP 500 Internal Server Error", False),
        (502, "HTTP 502 Bad Gateway", False),
    ],
)
def test_error_statuses(
    httpserver: HTTPServer, client: httpx.Client, status: int, message: str, gone: bool
) -> None:
    httpserver.expect_request("/feed").respond_with_data("nope", status=status)
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert isinstance(error, HTTPStatusFetchError)
    assert str(error) == message
    assert (error.status, error.gone, error.retry_after) == (status, gone, None)


def test_429_with_retry_after_seconds(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/feed").respond_with_data("", 429, {"Retry-After": "30"})
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert str(error) == "HTTP 429 Too Many Requests (retry after 30s)"
    assert error.retry_after == 30.0


def test_429_with_retry_after_http_date(httpserver: HTTPServer, client: httpx.Client) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120)
    httpserver.expect_request("/feed").respond_with_data(
        "", 429, {"Retry-After": format_datetime(when, usegmt=True)}
    )
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert error.retry_after is not None
    assert 115 <= error.retry_after <= 120
    assert str(error).startswith("HTTP 429 Too Many Requests (retry after 1")


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("soon", None)])
def test_503_with_retry_after(
    httpserver: HTTPServer, client: httpx.Client, header: str, expected: float | None
) -> None:
    httpserver.expect_request("/feed").respond_with_data("", 503, {"Retry-After": header})
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert isinstance(error, HTTPStatusFetchError)
    assert error.retry_after == expected
    assert str(error).startswith("HTTP 503 Service Unavailable")
    assert ("retry after" in str(error)) == (expected is not None)


NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("86400", 86400.0),
        ("Wed, 01 Jan 2025 12:02:00 GMT", 120.0),  # IMF-fixdate
        ("Wednesday, 01-Jan-25 12:02:00 GMT", 120.0),  # obsolete RFC 850
        ("Wed Jan  1 12:02:00 2025", 120.0),  # asctime
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past: retry now
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("30s", None),
        ("soon", None),
        ("Wed, 99 Foo 2025 12:02:00 GMT", None),
        ("٣٠", None),  # Arabic-Indic digits pass str.isdigit()
        # Any length is valid delta-seconds; more than 10**12 s counts as 10**12.
        ("9" * 400, 1e12),  # float() overflowed
        ("7" * 5000, 1e12),  # int() refused more than 4,300 digits
        ("0" * 30 + "42", 42.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_treats_naive_now_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:10 GMT", naive) == 10.0


# --- timeouts ----------------------------------------------------------------------------------


def _blackhole(conn: socket.socket, server: RawServer) -> None:
    """Accept the request and never answer."""
    server.read_request(conn)
    while not server.stopping.is_set():
        try:
            if conn.recv(4096) == b"":
                return  # the client gave up
        except TimeoutError:
            continue


def _drip(conn: socket.socket, server: RawServer) -> None:
    """Send headers, then one body byte every 0.2 s: each read succeeds, the whole never ends."""
    server.read_request(conn)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n"
    if not server.send(conn, head):
        return
    while not server.stopping.wait(0.2):
        if not server.send(conn, b"<"):
            return


def test_no_response_hits_read_timeout(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    server = raw_server(_blackhole)
    started = time.monotonic()
    error = fetch_error(client, server.url, limits=FAST)
    assert str(error) == "read timed out after 0.5s"
    assert time.monotonic() - started < 1.2


def test_no_response_hits_total_deadline_when_shorter(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    server = raw_server(_blackhole)
    limits = FetchLimits(read_timeout=5.0, total_timeout=0.5, max_bytes=MB)
    started = time.monotonic()
    error = fetch_error(client, server.url, limits=limits)
    assert str(error) == "fetch exceeded total deadline of 0.5s"
    assert time.monotonic() - started < 1.2


def test_drip_is_cut_at_total_deadline(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    server = raw_server(_drip)
    limits = FetchLimits(read_timeout=0.5, total_timeout=1.0, max_bytes=MB)
    started = time.monotonic()
    error = fetch_error(client, server.url, limits=limits)
    assert str(error) == "fetch exceeded total deadline of 1s"
    assert time.monotonic() - started < 1.5


def _trickle(first: bytes, each: bytes) -> Handler:
    """Send ``first``, then ``each`` every 0.2 s, until the client hangs up."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        if not server.send(conn, first):
            return
        while not server.stopping.wait(0.2):
            if not server.send(conn, each):
                return

    return handler


@pytest.mark.parametrize(
    ("first", "each"),
    [
        # One byte of a header line at a time: the response never gets past its headers.
        (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),
        # One informational answer after another: httpcore reads them all before the real one.
        (b"", b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"),
    ],
    ids=["header-drip", "early-hints-forever"],
)
def test_a_response_that_never_finishes_its_headers_hits_the_total_deadline(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client, first: bytes, each: bytes
) -> None:
    # Each read succeeds well within the read timeout, so only the total deadline can end it
    # (found by a hostile-feed run: 120 s against a 30 s deadline).
    server = raw_server(_trickle(first, each))
    limits = FetchLimits(read_timeout=0.5, total_timeout=1.0, max_bytes=MB)
    started = time.monotonic()
    error = fetch_error(client, server.url, limits=limits)
    assert str(error) == "fetch exceeded total deadline of 1s"
    assert time.monotonic() - started < 1.5


# --- size caps ---------------------------------------------------------------------------------

FIFTY_MB = 50 * 1000 * 1000


def _big_body(with_length: bool) -> Handler:
    """Serve a 50 MB RSS-shaped body, with or without Content-Length."""
    item = b"<item><title>Quake</title><link>https://example.org/1</link></item>\n"
    chunk = item * (65536 // len(item))

    def handler(conn: socket.socket, server: RawServer) -> None:
        # A small send buffer so "bytes sent" tracks what the client actually pulled.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        server.read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        head += b"Content-Length: %d\r\n" % FIFTY_MB if with_length else b"Connection: close\r\n"
        if not server.send(conn, head + b"\r\n"):
            return
        left = FIFTY_MB
        while left > 0:
            piece = chunk[:left]
            if not server.send(conn, piece):
                return
            left -= len(piece)

    return handler


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "close-delimited"])
def test_50mb_body_is_refused_early(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client, with_length: bool
) -> None:
    server = raw_server(_big_body(with_length))
    limits = FetchLimits(read_timeout=1.0, total_timeout=5.0, max_bytes=MB)
    error = fetch_error(client, server.url, limits=limits)
    assert str(error) == f"response too large (over {MB} bytes)"
    server.wait_idle()
    assert server.sent < 5 * MB


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Build a gzip and a zlib-deflate body of about 200 KB each that inflate to 200 MiB."""
    zeros = bytes(MB)
    built = {}
    for coding, wbits in (("gzip", 31), ("deflate", 15)):
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        parts = [packer.compress(zeros) for _ in range(200)]
        parts.append(packer.flush())
        built[coding] = b"".join(parts)
    return built


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark so ru_maxrss measures this test, where Linux allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass  # the mark then covers earlier tests too, which can only hide growth, not invent it


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compression_bomb_stops_at_decoded_cap(
    httpserver: HTTPServer, client: httpx.Client, bombs: dict[str, bytes], coding: str
) -> None:
    bomb = bombs[coding]
    assert len(bomb) < 400_000
    httpserver.expect_request("/feed").respond_with_data(bomb, headers={"Content-Encoding": coding})
    limits = FetchLimits(read_timeout=1.0, total_timeout=5.0, max_bytes=MB)
    _reset_peak_rss()
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    error = fetch_error(client, httpserver.url_for("/feed"), limits=limits)
    elapsed = time.monotonic() - started
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb) / 1024
    assert str(error) == f"response too large (over {MB} bytes)"
    assert elapsed < 1.0
    # Tighter than 100 MB on purpose: checking the cap after httpx's iter_bytes() grows about
    # 67 MB on this bomb (measured), which a 100 MB bound would let through.
    assert growth_mb < 32


def test_declared_content_length_over_cap_short_circuits(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed").respond_with_data(b"x" * (MB + 1))
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert str(error) == f"response too large (over {MB} bytes)"


def test_body_exactly_at_cap_is_accepted(httpserver: HTTPServer, client: httpx.Client) -> None:
    body = gzip.compress(b"x" * MB)
    httpserver.expect_request("/feed").respond_with_data(body, headers={"Content-Encoding": "gzip"})
    assert fetch(client, httpserver.url_for("/feed"), limits=FAST).body == b"x" * MB


# --- content encodings -------------------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(RSS)),
        ("x-gzip", gzip.compress(RSS)),
        ("gzip", gzip.compress(RSS[:50]) + gzip.compress(RSS[50:])),  # two gzip members
        ("gzip", gzip.compress(RSS) + b"\x00\x00\x00"),  # zero padding after the member
        ("deflate", zlib.compress(RSS)),  # zlib-wrapped, as RFC 9110 says
        ("deflate", _raw_deflate(RSS)),  # raw deflate, as many servers send it
        ("identity", RSS),
    ],
    ids=["gzip", "x-gzip", "gzip-2-members", "gzip-padded", "deflate-zlib", "deflate-raw", "id"],
)
def test_content_encodings_are_decoded(
    httpserver: HTTPServer, client: httpx.Client, coding: str, encoded: bytes
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        encoded, headers={"Content-Encoding": coding}
    )
    assert fetch(client, httpserver.url_for("/feed"), limits=FAST).body == RSS


@pytest.mark.parametrize(
    ("coding", "encoded", "message"),
    [
        ("br", b"\x1b\x00", "unsupported content encoding 'br'"),
        ("zstd", b"(\xb5/\xfd", "unsupported content encoding 'zstd'"),
        ("gzip", gzip.compress(RSS)[:-12], "truncated gzip body"),
        ("gzip", b"this is not gzip", "invalid gzip data"),
    ],
)
def test_bad_content_encodings_fail(
    httpserver: HTTPServer, client: httpx.Client, coding: str, encoded: bytes, message: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        encoded, headers={"Content-Encoding": coding}
    )
    error = fetch_error(client, httpserver.url_for("/feed"), limits=FAST)
    assert str(error).startswith(message)


# --- lying Content-Length ----------------------------------------------------------------------


def _reply(raw: bytes) -> Handler:
    """Answer every request with ``raw`` bytes, then close."""

    def handler(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        server.send(conn, raw)

    return handler


def _long_body(conn: socket.socket, server: RawServer) -> None:
    """Declare 100 bytes, then keep sending up to 10 MB."""
    server.read_request(conn)
    if server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"):
        for _ in range(160):
            if not server.send(conn, b"y" * 65536):
                return


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "server closed the connection without a response"),
        (b"HELLO THERE\r\n\r\n", "invalid HTTP response"),
        (b"HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\n\r\n", "HTTP 301"),
    ],
    ids=["no-response", "garbage", "redirect-without-location"],
)
def test_broken_responses_fail(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client, raw: bytes, message: str
) -> None:
    server = raw_server(_reply(raw))
    assert str(fetch_error(client, server.url, limits=FAST)).startswith(message)


def test_content_length_longer_than_body_fails(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    # Declares 1000 bytes, sends 100, closes.
    server = raw_server(_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100))
    error = fetch_error(client, server.url, limits=FAST)
    assert str(error) == "connection closed before the body was complete"


def test_content_length_shorter_than_body_reads_only_declared_bytes(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    server = raw_server(_long_body)
    started = time.monotonic()
    response = fetch(client, server.url, limits=FAST)
    # HTTP framing ends the body at the declared length; the rest is never read or returned.
    assert response.body == b"y" * 100
    assert time.monotonic() - started < 1.0


# --- connection failures, schemes and URLs -----------------------------------------------------


def test_closed_port_is_connection_refused(client: httpx.Client) -> None:
    error = fetch_error(client, f"http://127.0.0.1:{closed_port()}/feed", limits=FAST)
    assert str(error) == "connection refused"


def test_unknown_host_is_name_resolution_failure(client: httpx.Client) -> None:
    error = fetch_error(client, "http://no-such-host.invalid/feed", limits=FAST)
    assert str(error) == "name resolution failed"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a throwaway self-signed certificate with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=10,
    )
    return cert, key


def test_self_signed_certificate_is_refused(
    raw_server: Callable[[Handler], RawServer],
    client: httpx.Client,
    self_signed: tuple[Path, Path],
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)

    def handler(conn: socket.socket, server: RawServer) -> None:
        conn.settimeout(2.0)
        with context.wrap_socket(conn, server_side=True):
            pass  # the client aborts the handshake, which raises here

    server = raw_server(handler)
    error = fetch_error(client, f"https://127.0.0.1:{server.port}/feed", limits=FAST)
    assert str(error).startswith("certificate verify failed: ")
    assert "self-signed" in str(error) or "self signed" in str(error)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/hostname", "scheme 'file' not allowed (allowed: http, https)"),
        ("ftp://example.org/feed", "scheme 'ftp' not allowed (allowed: http, https)"),
        ("data:text/xml,<rss/>", "scheme 'data' not allowed (allowed: http, https)"),
        ("gopher://example.org/", "scheme 'gopher' not allowed (allowed: http, https)"),
        ("example.org/feed", "URL has no scheme (allowed: http, https)"),
    ],
)
def test_other_schemes_are_refused(client: httpx.Client, url: str, message: str) -> None:
    assert str(fetch_error(client, url, limits=FAST)) == message


def test_file_url_is_read_when_allowed(client: httpx.Client, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(RSS)
    response = fetch(client, feed.as_uri(), limits=FAST, allow_file=True)
    assert (response.status, response.body) == (200, RSS)
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * (MB + 1))
    error = fetch_error(client, big.as_uri(), limits=FAST, allow_file=True)
    assert str(error) == f"response too large (over {MB} bytes)"


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@exa\x00mple.org/feed?token=abc123",
        "http://user:hunter2@127.0.0.1:99999/feed?token=abc123",
        "http://user:hunter2@xn--a.org/feed?token=abc123",
        "http://user:hunter2@/feed?token=abc123",
    ],
)
def test_invalid_urls_are_refused_without_showing_secrets(client: httpx.Client, url: str) -> None:
    message = str(fetch_error(client, url, limits=FAST))
    assert message.startswith("invalid URL http://user:***@")
    assert message.endswith("/feed?token=***")
    assert "hunter2" not in message
    assert "\x00" not in message


def test_invalid_redirect_location_is_refused(
    raw_server: Callable[[Handler], RawServer], client: httpx.Client
) -> None:
    # A raw server, because werkzeug itself refuses to send this Location.
    location = b"http://127.0.0.1:99999/x?key=s3cret"
    server = raw_server(_reply(b"HTTP/1.1 302 Found\r\nLocation: %s\r\n\r\n" % location))
    message = str(fetch_error(client, server.url, limits=FAST))
    assert message == "invalid redirect location http://127.0.0.1:99999/x?key=***"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:secret@example.org/feed?token=abc&x=1",
            "https://user:***@example.org/feed?token=***&x=***",
        ),
        ("https://TOKEN@example.org:8443/f", "https://***@example.org:8443/f"),
        ("http://example.org/feed.xml", "http://example.org/feed.xml"),
        ("http://example.org/f?flag", "http://example.org/f?flag"),
        ("http://[::1", "<invalid URL>"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "kwargs",
    [{"total_timeout": 0}, {"read_timeout": float("inf")}, {"max_bytes": 0}, {"max_redirects": -1}],
)
def test_limits_reject_disabled_safeguards(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FetchLimits(**kwargs)  # type: ignore[arg-type]


# --- name lookups ------------------------------------------------------------------------------


@pytest.fixture
def silent_dns() -> Iterator[tuple[Callable[[str, int], list[object]], list[str]]]:
    """A stand-in for the system resolver whose name server never answers (until released)."""
    release = threading.Event()
    asked: list[str] = []

    def lookup(host: str, port: int) -> list[object]:
        asked.append(host)
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    yield lookup, asked
    release.set()


def test_a_stop_does_not_wait_for_a_name_server_that_never_answers(
    silent_dns: tuple[Callable[[str, int], list[object]], list[str]],
) -> None:
    lookup, asked = silent_dns
    cancel = threading.Event()
    cancel.set()
    started = time.monotonic()
    with pytest.raises(FetchCancelled):
        resolve("feeds.example", 80, time.monotonic() + 30, cancel, lookup)
    assert time.monotonic() - started < 5
    assert asked == ["feeds.example"]


def test_a_silent_name_server_costs_at_most_the_connect_timeout(
    silent_dns: tuple[Callable[[str, int], list[object]], list[str]],
) -> None:
    lookup, _ = silent_dns
    with pytest.raises(httpcore.ConnectTimeout, match=r"name lookup of feeds\.example timed out"):
        resolve("feeds.example", 80, time.monotonic() + 0.3, threading.Event(), lookup)


def test_name_lookups_answer_errors_and_skip_addresses() -> None:
    def unknown(host: str, port: int) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(httpcore.ConnectError, match="Name or service not known"):
        resolve("nowhere.example", 80, None, None, unknown)
    # An address is looked up at once, in the polling thread: no thread, no wait.
    threads: list[threading.Thread] = []

    def here(host: str, port: int) -> list[object]:
        threads.append(threading.current_thread())
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    assert resolve("127.0.0.1", 80, None, None, here)[0][4][0] == "127.0.0.1"
    assert threads == [threading.current_thread()]
    # A name is looked up in its own thread and its answer handed back.
    found = resolve("localhost", 80, time.monotonic() + 10, threading.Event(), here)
    assert found and threads[-1] is not threading.current_thread()


def test_cookies_a_feed_sets_are_never_kept_or_sent(httpserver: HTTPServer) -> None:
    big = "x" * 3000
    headers = [("Set-Cookie", f"c{i}={big}; Max-Age=999999999; Path=/") for i in range(20)]
    httpserver.expect_request("/greedy.xml").respond_with_response(
        Response(RSS, headers=headers, content_type="application/rss+xml")
    )
    sent: list[str | None] = []

    def other(request: Request) -> Response:
        sent.append(request.headers.get("Cookie"))
        return Response(RSS, content_type="application/rss+xml")

    httpserver.expect_request("/other.xml").respond_with_handler(other)
    with make_client(FAST) as client:
        for _ in range(3):
            fetch(client, httpserver.url_for("/greedy.xml"), limits=FAST)
            fetch(client, httpserver.url_for("/other.xml"), limits=FAST)
        assert len(client.cookies.jar) == 0
    assert sent == [None, None, None]
