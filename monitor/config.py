"""The daemon configuration: schema, ``${ENV}`` substitution, and the loader."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from monitor import secrets
from monitor.clock import parse_duration
from monitor.errors import ConfigError, MonitorError, Problem, display_path
from monitor.validate import did_you_mean, validate
from monitor.web.access import is_loopback, parse_listen
from monitor.yamlsrc import Located, PathKey, load_file

ENV_VAR = "NEWS_MONITOR_CONFIG"
DEFAULT_PATH = Path("config/monitor.yaml")
SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
CONSOLE = "console"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(Strict):
    """One configured origin of articles."""

    id: str = Field(pattern=SLUG)
    kind: Literal["feed", "seeds"]
    url: str | None = None
    path: str | None = None
    every: Duration = timedelta(minutes=10)
    enabled: bool = True
    publisher: str = ""
    # Adaptive polling: a quiet source is polled less often, up to this interval.
    max_every: Duration | None = None
    # Override fetch.max_new_per_day and fetch.max_new_mb_per_day for this source.
    max_new_per_day: int | None = Field(default=None, ge=1)
    max_new_mb_per_day: float | None = Field(default=None, gt=0)

    @field_validator("every")
    @classmethod
    def _min_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class DigestSpec(Strict):
    """Collect a channel's alerts and send one summary per period."""

    every: Duration = timedelta(hours=1)


class RateLimitSpec(Strict):
    """At most ``count`` alerts per ``per``; the overflow waits for the next digest."""

    count: int = Field(ge=1, le=100_000)
    per: Duration = timedelta(hours=1)


class ChannelSpec(Strict):
    """A named destination: one or more apprise URLs, or an apprise config file."""

    urls: list[str] = Field(default_factory=list)
    config: str | None = None
    tags: list[str] = Field(default_factory=list)
    format: Literal["html", "markdown", "text", "short"] | None = None
    timeout: Duration = timedelta(seconds=20)
    # The pause apprise keeps between the services of one channel within one send (its own
    # default is 5.5 s for most services); pacing across alerts is ``rate_limit``'s job.
    min_interval: Duration | None = None
    digest: DigestSpec | None = None
    rate_limit: RateLimitSpec | None = None


class DeliverySpec(Strict):
    """How the outbox sends alerts."""

    every: Duration = timedelta(seconds=15)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_min: Duration = timedelta(seconds=30)
    backoff_max: Duration = timedelta(hours=1)
    max_age: Duration = timedelta(hours=24)
    lease: Duration = timedelta(minutes=2)
    batch: int = Field(default=50, ge=1, le=10_000)


class FetchSpec(Strict):
    """How feeds are fetched."""

    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=20)
    total_timeout: Duration = timedelta(seconds=30)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_concurrency: int = Field(default=16, ge=1, le=256)
    per_host: int = Field(default=2, ge=1, le=64)
    max_backoff: Duration = timedelta(hours=6)
    parse_workers: int = Field(default=2, ge=1, le=64)
    parse_timeout: Duration = timedelta(seconds=10)
    parse_memory_mb: int = Field(default=512, ge=64)
    # At most this many new articles stored per source within a day (null: no limit), so a
    # feed that invents new items on every poll cannot fill the disk. The rest wait.
    max_new_per_day: int | None = Field(default=5000, ge=1)
    # ... and at most this many megabytes of new text (titles, summaries, text).
    max_new_mb_per_day: float | None = Field(default=50.0, gt=0)
    # Networks feeds may never connect to, checked on the address dialled for every hop.
    deny_networks: list[str] = Field(default_factory=list)

    @field_validator("deny_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"'{cidr}' is not an IP network such as 10.0.0.0/8") from None
        return value


class HealthSpec(Strict):
    """When a failing or silent source raises an alert."""

    # None sends to default_channels; an empty list turns source health alerts off.
    channels: list[str] | None = None
    failing_after: Duration = timedelta(hours=1)
    silent_factor: float = Field(default=10.0, gt=1)
    silent_min: Duration = timedelta(hours=6)


class HttpSpec(Strict):
    """The read-only dashboard, JSON API, /metrics and /healthz served by the daemon."""

    listen: str = "127.0.0.1:8765"
    # Name of an environment variable holding the access token (required off loopback).
    token_env: str | None = None
    # /healthz turns unhealthy when no cycle completed for this long.
    max_cycle_age: Duration = timedelta(minutes=15)


class RetentionSpec(Strict):
    """How long articles that no rule matched are kept."""

    # None keeps every article for ever. Matched articles, Events and alerts are always kept.
    articles: Duration | None = timedelta(days=90)

    @field_validator("articles")
    @classmethod
    def _at_least_a_day(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(days=1):
            raise ValueError("must be at least 1d (or null to keep every article)")
        return value


class ConfigSpec(Strict):
    """What users may write in ``config/monitor.yaml``."""

    database: str = "../data/news-monitor.db"
    rules: str = "../rules"
    # Alert template overrides (open.html.j2, rules/<rule>/open.text.j2, ...); may be absent.
    templates: str = "templates"
    sources: list[SourceSpec] = Field(default_factory=list)
    channels: dict[str, ChannelSpec] = Field(default_factory=dict)
    default_channels: list[str] = Field(default_factory=lambda: [CONSOLE])
    # Severity routes: rules without their own channels send by severity, else to the default.
    routes: dict[Literal["info", "warning", "critical"], list[str]] = Field(default_factory=dict)
    delivery: DeliverySpec = DeliverySpec()
    fetch: FetchSpec = FetchSpec()
    health: HealthSpec = HealthSpec()
    retention: RetentionSpec = RetentionSpec()
    http: HttpSpec | Literal[False] = HttpSpec()


@dataclass(frozen=True)
class Config:
    """A validated configuration with its paths resolved."""

    path: Path
    display: str
    spec: ConfigSpec
    database: Path
    rules_dir: Path
    templates_dir: Path
    source_paths: dict[str, Path]
    located: Located

    @property
    def channel_names(self) -> list[str]:
        return sorted({CONSOLE, *self.spec.channels})


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(
    data: Any, located: Located, env: dict[str, str], path: PathKey = ()
) -> tuple[Any, list[Problem]]:
    """Replace ``${NAME}`` (or ``${NAME:-default}``) in every string with the variable's value."""
    problems: list[Problem] = []
    if isinstance(data, dict):
        out_map: dict[str, Any] = {}
        for key, value in data.items():
            out_map[key], sub = substitute_env(value, located, env, (*path, key))
            problems += sub
        return out_map, problems
    if isinstance(data, list):
        out_list: list[Any] = []
        for i, value in enumerate(data):
            item, sub = substitute_env(value, located, env, (*path, i))
            out_list.append(item)
            problems += sub
        return out_list, problems
    if isinstance(data, str) and "${" in data:

        def replace(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                secrets.register(env[name])
                return env[name]
            if default is not None:
                return default
            problems.append(located.problem(path, f"environment variable '{name}' is not set"))
            return ""

        return _ENV_REF.sub(replace, data), problems
    return data, problems


def resolve_path(path: Path | None = None, env: dict[str, str] | None = None) -> Path:
    """Pick the config file: ``--config``, then ``$NEWS_MONITOR_CONFIG``, then the default."""
    if path is not None:
        return path
    environ = os.environ if env is None else env
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    return DEFAULT_PATH


def load_config(path: Path, env: dict[str, str] | None = None) -> Config:
    """Load, substitute and validate a config file; raise ConfigError listing every problem."""
    display = display_path(path)
    if not path.is_file():
        raise ConfigError([Problem(display, 0, 0, "config file not found")])
    data, located, problems = load_file(path, display)
    if problems:
        raise ConfigError(problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([located.problem((), "the config must be a mapping of keys")])
    data, problems = substitute_env(data, located, dict(os.environ) if env is None else env)
    spec, more = validate(ConfigSpec, data, located)
    problems += more
    if spec is None:
        raise ConfigError(problems)
    problems += _check_references(spec, located)
    if problems:
        raise ConfigError(problems)
    base = path.resolve().parent
    source_paths = {
        s.id: (base / s.path).resolve() for s in spec.sources if s.kind == "seeds" and s.path
    }
    return Config(
        path=path,
        display=display,
        spec=spec,
        database=(base / spec.database).resolve(),
        rules_dir=(base / spec.rules).resolve(),
        templates_dir=(base / spec.templates).resolve(),
        source_paths=source_paths,
        located=located,
    )


ALLOWED_SCHEMES = ("http", "https")


def _check_references(spec: ConfigSpec, located: Located) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, source in enumerate(spec.sources):
        where: PathKey = ("sources", i)
        if source.id in seen:
            line, _ = located.at(("sources", seen[source.id]))
            problems.append(
                located.problem(
                    (*where, "id"), f"duplicate source id '{source.id}' (also at line {line})"
                )
            )
        seen.setdefault(source.id, i)
        if source.kind == "feed":
            if not source.url:
                problems.append(located.problem(where, "a feed source needs 'url'"))
            else:
                scheme = source.url.split(":", 1)[0].lower() if ":" in source.url else ""
                if scheme not in ALLOWED_SCHEMES:
                    problems.append(
                        located.problem(
                            (*where, "url"),
                            f"scheme '{scheme}' not allowed"
                            f" (allowed: {', '.join(ALLOWED_SCHEMES)})",
                        )
                    )
        if source.kind == "seeds" and not source.path:
            problems.append(located.problem(where, "a seeds source needs 'path'"))
    names = {CONSOLE, *spec.channels}
    for name in spec.channels:
        if not re.match(SLUG, name):
            problems.append(
                located.problem(
                    ("channels", name), f"channel name '{name}' must be a slug", key=True
                )
            )
    for name, channel in spec.channels.items():
        if not channel.urls and not channel.config:
            problems.append(
                located.problem(("channels", name), "a channel needs 'urls' or 'config'")
            )
    if spec.http is not False:
        try:
            host, _ = parse_listen(spec.http.listen)
            if not is_loopback(host) and not spec.http.token_env:
                problems.append(
                    located.problem(
                        ("http", "listen"),
                        f"refusing to serve the dashboard on {spec.http.listen} without a token",
                        hint="set http.token_env to an environment variable that holds one",
                    )
                )
        except MonitorError as exc:
            problems.append(located.problem(("http", "listen"), str(exc)))
    checks: list[tuple[PathKey, list[str]]] = [
        (("default_channels",), spec.default_channels),
        (("health", "channels"), spec.health.channels or []),
    ]
    checks += [(("routes", severity), names) for severity, names in spec.routes.items()]
    for key, wanted in checks:
        for i, name in enumerate(wanted):
            if name not in names:
                problems.append(
                    located.problem(
                        (*key, i),
                        f"unknown channel '{name}'",
                        hint=did_you_mean(name, names),
                    )
                )
    return problems
