"""Posting a webhook's body to its URL, and which URLs may be posted to (no Django).

A URL must be http or https with a host. Unless private addresses are allowed, every address
the host resolves to must be public (`ipaddress`' `is_global`, and not multicast): loopback,
private (RFC 1918, fc00::/7), link-local (169.254/16, where cloud metadata services answer),
shared (100.64/10) and reserved ranges are refused, so a webhook cannot reach into the
network hbsite runs in. The connection goes to the address that was checked, not to a second
lookup, so a name that changes its answer between the two (DNS rebinding) gains nothing;
HTTPS still verifies the certificate against the host name. Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2000
BODY_EXCERPT = 200  # characters of a refusing receiver's answer kept in the log


class Refused(ValueError):
    """A URL hbsite will not post to; the message says why."""


@dataclass(frozen=True)
class Response:
    """What one attempt got: the HTTP status (None when no answer came), an error (empty
    when the status was 2xx) and how long it took, in milliseconds."""

    status_code: int | None
    error: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def url_problem(url: str) -> str | None:
    """Say what is wrong with a webhook URL's form (scheme, host, length), or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"the URL is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "the URL has spaces or control characters; percent-encode them"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        return f"the URL cannot be read: {error}"
    if parts.scheme.lower() not in SCHEMES:
        return f"the URL's scheme must be http or https, not {parts.scheme or 'nothing'!r}"
    if not parts.hostname:
        return "the URL has no host"
    return None


def literal_problem(url: str) -> str | None:
    """Say why a URL whose host is an IP address may not be used when private addresses are
    not allowed, or None (host names are checked when they are resolved, at each post)."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if is_public(address) else private_text(host, address)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Tell whether an address is on the public internet (an IPv4-mapped IPv6 address is
    judged as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def private_text(host: str, address: object) -> str:
    return (
        f"{host} is a private, loopback or reserved address ({address}); set "
        "HBSITE_WEBHOOK_ALLOW_PRIVATE=True to allow webhooks inside your network"
    )


def resolve(parts: SplitResult, allow_private: bool) -> str:
    """Return the address to connect to; Refused if the host resolves to a non-public one."""
    host, port = parts.hostname or "", parts.port or default_port(parts)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise Refused(f"{host} cannot be resolved: {error}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise Refused(private_text(host, address))
    return str(addresses[0])


def default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme.lower() == "https" else 80


class PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a given address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a given address, the certificate checked against the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Response:
    """POST `body` to `url` with `headers`, waiting at most `timeout` s to connect and for
    each read; return what came back. Never raises for network trouble: the error says it."""
    started = time.monotonic()
    problem = url_problem(url)
    if problem:
        return Response(None, problem, 0)
    parts = urlsplit(url)
    try:
        address = resolve(parts, allow_private)
        status, text = send(parts, address, body, headers, timeout)
    except (Refused, OSError, http.client.HTTPException, ValueError) as error:
        return Response(None, describe(error), elapsed_ms(started))
    return Response(status, answer_error(status, text), elapsed_ms(started))


def send(
    parts: SplitResult, address: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, str]:
    kind = PinnedHTTPS if parts.scheme.lower() == "https" else PinnedHTTP
    connection = kind(parts.hostname or "", parts.port or default_port(parts), address, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read(4096).decode("utf-8", "replace")
        return answer.status, text
    finally:
        connection.close()


def answer_error(status: int, text: str) -> str:
    if 200 <= status < 300:
        return ""
    kind = "a redirect, which is not followed" if 300 <= status < 400 else "not 2xx"
    excerpt = " ".join(text.split())[:BODY_EXCERPT]
    return f"HTTP {status} ({kind})" + (f": {excerpt}" if excerpt else "")


def describe(error: Exception) -> str:
    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:300]


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
