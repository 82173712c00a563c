"""Channels: named lists of apprise URLs, plus the built-in ``console`` channel."""

from __future__ import annotations

import logging
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, urlsplit

from monitor.config import CONSOLE, ChannelSpec, Config
from monitor.errors import Problem
from monitor.secrets import mask

log = logging.getLogger(__name__)

EMAIL_SCHEMES = {"mailto", "mailtos"}
CHAT_SCHEMES = {
    "mmost",
    "mmosts",
    "slack",
    "discord",
    "matrix",
    "matrixs",
    "msteams",
    "rocket",
    "rockets",
    "zulip",
    "tgram",
    "gchat",
    "guilded",
    "revolt",
    "ryver",
    "ryvers",
    "wxteams",
}
WEBHOOK_SCHEMES = {"json", "jsons", "form", "forms", "xml", "xmls"}
PUSH_SCHEMES = {"ntfy", "ntfys", "pover", "gotify", "gotifys", "pbul", "bark", "barks", "join"}
# Names of apprise.NotifyFormat members. apprise itself (about 0.1 s to import) is imported
# only where a channel other than the console is validated, built or sent to.
_FORMATS = {"text": "TEXT", "short": "TEXT", "html": "HTML", "markdown": "MARKDOWN"}


@dataclass(frozen=True)
class SendResult:
    """What one attempt to send one alert to one channel produced."""

    ok: bool
    error: str = ""
    ambiguous: bool = False


def _with_timeouts(url: str, seconds: float) -> str:
    """Add connect and read timeouts to a URL that sets none (apprise's email default is 15s)."""
    query = dict(parse_qsl(urlsplit(url).query))
    extra = [f"{k}={seconds:g}" for k in ("cto", "rto") if k not in query]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def check_channels(config: Config) -> list[Problem]:
    """Report every channel URL apprise does not understand, without echoing the URL."""
    problems: list[Problem] = []
    for name, spec in config.spec.channels.items():
        if spec.config and not (config.path.resolve().parent / spec.config).is_file():
            problems.append(
                config.located.problem(
                    ("channels", name, "config"), f"apprise config file not found: {spec.config}"
                )
            )
        for i, url in enumerate(spec.urls):
            import apprise

            if apprise.Apprise.instantiate(url) is None:
                scheme = _scheme(url) or "(none)"
                problems.append(
                    config.located.problem(
                        ("channels", name, "urls", i),
                        f"not a notification URL apprise understands (scheme '{scheme}')",
                    )
                )
    return problems


_READ_TIMEOUT = re.compile(r"read timed out", re.IGNORECASE)
_SMTP_REPLY = re.compile(r"""\((\d{3}), b?['"](.*?)['"]\)""")


class _ApprisePlaint(logging.Filter):
    """Collect why apprise failed, while one notify() runs.

    apprise logs a failure at WARNING ("Sending email ... failed") but the server's own answer
    (the SMTP reply such as "550 5.1.1 no such user", a socket error) only at DEBUG, as
    "Socket Exception: ...". Those DEBUG lines are collected here and then dropped, so the
    daemon's log shows no more than before; other DEBUG lines (which may hold message text)
    are neither collected nor let through unless the logger was already at DEBUG.
    """

    _ANSWER = "Socket Exception: "

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.answers: list[str] = []
        self._logger = logging.getLogger("apprise")
        self._level = logging.NOTSET

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.lines.append(message)
        elif message.startswith(self._ANSWER):
            # smtplib's (550, b'5.1.1 no such user') reads better as 550 5.1.1 no such user.
            answer = _SMTP_REPLY.sub(r"\1 \2", message.removeprefix(self._ANSWER))
            self.answers.append("server said: " + answer)
        return record.levelno >= self._floor

    # apprise has one logger for the whole process: one notify() at a time may borrow it.
    _borrowed = threading.Lock()

    def __enter__(self) -> _ApprisePlaint:
        self._borrowed.acquire()
        self._level = self._logger.level
        self._floor = self._logger.getEffectiveLevel()
        self._logger.setLevel(logging.DEBUG)
        self._logger.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeFilter(self)
        self._logger.setLevel(self._level)
        self._borrowed.release()


class Channels:
    """Send alerts to named channels; one apprise object per channel, built once."""

    def __init__(
        self,
        specs: dict[str, ChannelSpec],
        console: TextIO | None = None,
        base: Path | None = None,
    ) -> None:
        self._specs = specs
        self.console = console
        self._apprise: dict[str, Any] = {}
        self._tags: dict[str, list[str]] = {}
        self._urls: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        if specs:
            self._build(specs, base)

    def _build(self, specs: dict[str, ChannelSpec], base: Path | None) -> None:
        import apprise

        for name, spec in specs.items():
            notifier = apprise.Apprise()
            self._tags[name] = list(spec.tags)
            if spec.config:
                # Loaded from a file: apprise logs the raw text only for in-memory config.
                loaded = apprise.AppriseConfig()
                path = (base / spec.config) if base else Path(spec.config)
                if loaded.add(str(path)):
                    notifier.add(loaded)
                else:
                    log.error("channel %s: cannot load apprise config %s", name, path)
            self._urls[name] = [_with_timeouts(u, spec.timeout.total_seconds()) for u in spec.urls]
            for url in spec.urls:
                if not notifier.add(_with_timeouts(url, spec.timeout.total_seconds())):
                    log.error(
                        "channel %s: a URL could not be loaded (scheme '%s')", name, _scheme(url)
                    )
            if spec.min_interval is not None:
                for service in notifier:
                    service.request_rate_per_sec = spec.min_interval.total_seconds()
            self._apprise[name] = notifier

    @property
    def names(self) -> list[str]:
        return sorted({CONSOLE, *self._specs})

    def describe(self, name: str) -> list[str]:
        """Return the channel's URLs in privacy form (secrets masked), for logs and status."""
        if name == CONSOLE and name not in self._apprise:
            return ["console (standard output)"]
        notifier = self._apprise.get(name)
        if notifier is None:
            return []
        return [str(service.url(privacy=True)) for service in notifier]

    def format_of(self, name: str) -> str:
        """The message format a channel gets: its own setting, else one suited to its service."""
        spec = self._specs.get(name)
        if spec is None:
            return "text"
        if spec.format:
            return spec.format
        schemes = {_scheme(url) for url in spec.urls}
        if schemes and schemes <= EMAIL_SCHEMES:
            return "html"
        if schemes and schemes <= CHAT_SCHEMES:
            return "markdown"
        if schemes and schemes <= PUSH_SCHEMES:
            return "short"
        return "text"

    def send(
        self,
        name: str,
        title: str,
        body: str,
        body_format: str = "text",
        *,
        alert_id: int | None = None,
        thread: str | None = None,
    ) -> SendResult:
        """Send one message; never raises for a delivery failure.

        With ``alert_id``, webhooks get an ``X-News-Monitor-Alert`` header (JSON ones also an
        ``alert_id`` field) so receivers can drop a redelivery; with ``thread``, emails carry
        ``References``/``In-Reply-To`` so an Event's messages thread together.
        """
        if name == CONSOLE and name not in self._apprise:
            return self._print(title, body)
        notifier = self._apprise.get(name)
        if notifier is None:
            return SendResult(False, f"channel '{name}' is not configured")
        if (alert_id is not None or thread) and self._urls.get(name):
            notifier = self._per_message(name, alert_id, thread)
        if len(notifier) == 0:
            return SendResult(False, f"channel '{name}' has no usable URL")
        import apprise

        with self._lock, _ApprisePlaint() as plaint:
            result = notifier.notify(
                body=body,
                title=title,
                body_format=getattr(apprise.NotifyFormat, _FORMATS.get(body_format, "TEXT")),
                tag=self._tags.get(name) or None,
            )
        if bool(result):
            return SendResult(True)
        said = plaint.lines[-3:] + plaint.answers[-2:]
        reason = "; ".join(dict.fromkeys(said)) or f"apprise reported {result.status}"
        reason = mask(reason)
        # A read timeout means the request went out and no answer came back: the receiver
        # may have it. apprise counts only its own timeouts in timeout_count; the HTTP client's
        # read timeout shows only in the answer it logs ("Read timed out.").
        ambiguous = bool(getattr(result, "timeout_count", 0)) or any(
            _READ_TIMEOUT.search(answer) for answer in plaint.answers
        )
        return SendResult(False, reason, ambiguous=ambiguous)

    def _per_message(self, name: str, alert_id: int | None, thread: str | None) -> Any:
        import apprise

        notifier = apprise.Apprise()
        for url in self._urls[name]:
            scheme = _scheme(url)
            extra: dict[str, str] = {}
            if alert_id is not None and scheme in WEBHOOK_SCHEMES:
                extra["+X-News-Monitor-Alert"] = str(alert_id)
                if scheme in ("json", "jsons"):
                    extra[":alert_id"] = str(alert_id)
            if thread and scheme in EMAIL_SCHEMES:
                reference = f"<{thread}@news-monitor>"
                extra["+References"] = reference
                extra["+In-Reply-To"] = reference
                if alert_id is not None:
                    extra["+X-News-Monitor-Alert"] = str(alert_id)
            joined = "&".join(
                f"{quote(k, safe='+:')}={quote(v, safe='')}" for k, v in extra.items()
            )
            notifier.add(url + (("&" if "?" in url else "?") + joined if joined else ""))
        spec = self._specs.get(name)
        if spec is not None and spec.min_interval is not None:
            for service in notifier:
                service.request_rate_per_sec = spec.min_interval.total_seconds()
        return notifier

    def _print(self, title: str, body: str) -> SendResult:
        stream = self.console or sys.stdout
        try:
            stream.write(f"=== ALERT {title}\n{body}\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            return SendResult(False, f"cannot write to standard output: {exc}")
        return SendResult(True)
