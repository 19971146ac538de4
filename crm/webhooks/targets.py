"""Where a webhook may be sent: protection against server-side request forgery.

An admin types the URL, but the request leaves from our servers, which reach places the admin
cannot (the database, the cache, a cloud's metadata service at 169.254.169.254, the intranet).
So a URL is checked twice: when it is saved (a form error) and at every send, because what a
name resolves to may change (DNS rebinding). Every address the name resolves to must be a
public unicast address; the request then connects to the address that was checked, not to the
name again, with the Host header and the TLS server name of the URL. Redirects are never
followed (``http.client`` does not follow them), so a receiver cannot bounce us inward.

``WEBHOOK_ALLOW_PRIVATE_TARGETS`` allows private and loopback addresses (a receiver on your own
network); link-local, multicast, reserved and unspecified addresses are refused regardless.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class TargetRefused(ValueError):
    """The URL may not be called; the message says why, in words for the admin."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``ip``) and what to name (``host``)."""

    scheme: str
    host: str
    port: int
    path: str
    ip: str


def _getaddrinfo(host: str, port: int):
    """The resolver (a seam for tests that play DNS)."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(address: str) -> str | None:
    """Why a request may not go to ``address`` (an IPv4 or IPv6 address), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(str(inner))
            return f"{reason} (inside {ip})" if reason else None
    if ip.is_unspecified:
        return f"{ip} is an unspecified address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    if ip.is_loopback:
        return None if allow_private else f"{ip} is a loopback address"
    if ip.is_reserved:
        return f"{ip} is a reserved address"
    if ip.is_private:
        return None if allow_private else f"{ip} is a private address"
    if not ip.is_global:
        return f"{ip} is a reserved address"
    return None


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not be a webhook's address without resolving it (scheme, form), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The URL is malformed."
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "Only http and https URLs can receive webhooks."
    if scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        return "Webhook URLs must use https."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in the URL; receivers check the signature instead."
    if not parts.hostname:
        return "The URL has no host."
    if port == 0:
        return "The URL's port is not valid."
    return None


def target_check(url: str) -> Target:
    """Check ``url`` and resolve its host; every address it resolves to must be allowed.
    Raises ``TargetRefused`` with the reason."""
    reason = url_refusal(url)
    if reason:
        raise TargetRefused(reason)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        infos = _getaddrinfo(parts.hostname, port)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise TargetRefused(f"The host {parts.hostname} could not be resolved ({exc}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(f"The host {parts.hostname} has no address.")
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise TargetRefused(f"{parts.hostname} resolves to a refused address: {reason}.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=parts.hostname, port=port, path=path, ip=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Names ``host`` (Host header) but connects to the checked address."""

    def __init__(self, host, port, *, ip, timeout):
        super().__init__(host, port, timeout=timeout)
        self.pinned_ip = ip

    def connect(self):
        self.sock = socket.create_connection((self.pinned_ip, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Names ``host`` (Host header, TLS server name and certificate check) but connects to the
    checked address."""

    def __init__(self, host, port, *, ip, timeout, context=None):
        super().__init__(
            host, port, timeout=timeout, context=context or ssl.create_default_context()
        )
        self.pinned_ip = ip

    def connect(self):
        sock = socket.create_connection((self.pinned_ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    duration_ms: int


def post(target: Target, *, body: bytes, headers: dict[str, str], ssl_context=None) -> Response:
    """POST ``body`` to the checked ``target``; the answer's body is read up to
    ``WEBHOOK_RESPONSE_MAX_BYTES``. Raises ``OSError`` / ``http.client.HTTPException`` on
    connection trouble and timeouts."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(
            target.host, target.port, ip=target.ip, timeout=timeout, context=ssl_context
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, ip=target.ip, timeout=timeout)
    started = time.monotonic()
    # Each socket operation waits at most ``timeout``; a receiver that trickles its answer a
    # byte at a time is cut off when the whole answer has taken longer than that again.
    deadline = started + 2 * timeout
    limit = settings.WEBHOOK_RESPONSE_MAX_BYTES
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        answer = b""
        while len(answer) < limit:
            chunk = response.read1(limit - len(answer))
            if not chunk:
                break
            answer += chunk
            if time.monotonic() > deadline:
                raise TimeoutError("the answer took too long")
        status = response.status
    finally:
        conn.close()
    return Response(status, answer, int((time.monotonic() - started) * 1000))
