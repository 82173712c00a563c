"""Who may read the dashboard: loopback by default, a token for anything wider."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from monitor.errors import MonitorError


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 as ``[::1]:8765``) into host and port."""
    text = listen.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
        if ":" in host:
            raise MonitorError(f"http.listen {listen!r}: write an IPv6 address in brackets")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise MonitorError(
            f"http.listen {listen!r} is not host:port (such as 127.0.0.1:8765 or [::1]:8765)"
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Tell whether a host name or address only reaches this machine."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to any interface


def check_listen(listen: str, token: str | None) -> None:
    """Refuse a non-loopback listen address unless a token protects it."""
    host, _ = parse_listen(listen)
    if not is_loopback(host) and not token:
        raise MonitorError(
            f"refusing to serve the dashboard on {listen.strip()} without a token:"
            " set http.token_env to the name of an environment variable holding one"
        )


def host_is_loopback(header: str | None) -> bool:
    """Tell whether a request's Host header names this machine (a missing header passes)."""
    # Without a token the dashboard trusts anyone who can reach loopback; checking Host keeps a
    # web page from reading it through DNS rebinding (its own name resolving to 127.0.0.1).
    if not header:
        return True
    value = header.strip()
    if value.startswith("["):
        name = value[1:].partition("]")[0]
    else:
        name, _, port = value.rpartition(":")
        if not name or not port.isdigit():
            name = value
    return is_loopback(name)


def token_matches(authorization: str | None, token: str) -> bool:
    """Check ``Bearer <token>``, or HTTP basic auth with any user and the token as password."""
    expected = token.encode()
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(credentials.encode(), expected)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return False
        _, sep, password = decoded.partition(b":")
        return bool(sep) and hmac.compare_digest(password, expected)
    return False
