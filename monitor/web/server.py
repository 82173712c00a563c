"""The dashboard's HTTP server: stdlib ThreadingHTTPServer in a daemon thread, read-only."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.clock import Clock
from monitor.errors import MonitorError
from monitor.store.dashboard import writable_uri as default_writable_uri
from monitor.web.access import check_listen, parse_listen
from monitor.web.app import SECURITY_HEADERS, Response, WebApp
from monitor.web.health import HealthProbe
from monitor.web.metrics import Metrics

__all__ = ["WebServer", "check_listen"]

log = logging.getLogger(__name__)

STOP_POLL_SECONDS = 0.2


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: WebApp


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 15  # a client that stalls mid-request gives up its thread

    def version_string(self) -> str:
        """Name the server without the Python version."""
        return "news-monitor"

    def do_GET(self) -> None:
        """Answer GET."""
        self._answer(head=False)

    def do_HEAD(self) -> None:
        """Answer HEAD: the GET headers without a body."""
        self._answer(head=True)

    def do_POST(self) -> None:
        """Refuse: read-only."""
        self._answer(head=False)

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def _answer(self, *, head: bool) -> None:
        method = "GET" if head else self.command
        response: Response = self.server.app.handle(
            method,
            self.path,
            authorization=self.headers.get("Authorization"),
            host=self.headers.get("Host"),
        )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in {**SECURITY_HEADERS, **response.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Log requests at debug level instead of printing them."""
        log.debug("%s %s", self.address_string(), format % args)


class WebServer:
    """Serve the read-only dashboard, JSON API, /healthz and /metrics from a daemon thread."""

    # ``writable_uri`` is the SQLite URI the health check opens read-write (default
    # ``file:<db_path>?mode=rw``). It is a test seam: a ``mode=ro`` URI of the same file makes
    # the check fail exactly as a read-only file does, which chmod cannot arrange for root.

    def __init__(
        self,
        db_path: Path,
        listen: str = "127.0.0.1:8765",
        token: str | None = None,
        *,
        clock: Clock,
        health: HealthProbe,
        metrics: Metrics | None = None,
        writable_uri: str | None = None,
    ) -> None:
        check_listen(listen, token)
        self.listen = listen.strip()
        host, self._port = parse_listen(listen)
        self.host = "127.0.0.1" if host.lower() == "localhost" else host
        self.metrics = metrics if metrics is not None else Metrics()
        self.app = WebApp(
            db_path,
            clock=clock,
            health=health,
            metrics=self.metrics,
            token=token,
            writable_uri=writable_uri or default_writable_uri(db_path),
        )
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """Return the port listened on (the real one once started with port 0)."""
        if self._httpd is not None:
            return int(self._httpd.server_address[1])
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind the address and start serving in a daemon thread."""
        if self._httpd is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_BoundServer", (_HTTPServer,), {"address_family": family})
        try:
            httpd: _HTTPServer = server_class((self.host, self._port), _Handler)
        except OSError as exc:
            raise MonitorError(f"cannot serve the dashboard on {self.listen}: {exc}") from exc
        httpd.app = self.app
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            name="web",
            daemon=True,
        )
        self._thread.start()
        log.info("dashboard on %s", self.url)

    def stop(self) -> None:
        """Stop accepting requests and close the socket, within about a second."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=1.0)
        self._httpd = self._thread = None

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
