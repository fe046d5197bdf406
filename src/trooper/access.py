"""Who may see session data (transcripts, signals, the dashboard, the event stream).

A caller on this machine may: its address is loopback, it came through no proxy (a
reverse proxy on the same host would make every remote user look local), and it
addressed Trooper by a loopback name (a web page that rebinds its own DNS name to
127.0.0.1 can't read the dashboard). Any other caller needs TROOPER_ADMIN_TOKEN, as
`Authorization: Bearer <token>` or as the cookie the login form sets. Tokens are
compared in constant time; the cookie holds an HMAC of the token, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from starlette.requests import Request

COOKIE = "trooper_admin"
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "localhost.localdomain"})


def is_loopback_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_name(host_header: str) -> bool:
    """Whether a Host header names this machine's loopback: localhost, 127.x, [::1]."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or is_loopback_address(host)


class Access:
    def __init__(self, token: str) -> None:
        self.token = token
        self._token = token.encode()
        self.cookie = hmac.new(self._token, b"trooper admin cookie v1", hashlib.sha256).hexdigest() if token else ""

    def matches(self, presented: str) -> bool:
        return bool(self.token) and hmac.compare_digest(presented.encode(), self._token)

    def refusal(self, request: Request) -> str | None:
        """None when the caller may see session data; else why not, for the person."""
        if self.token:
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and self.matches(credentials.strip()):
                return None
            cookie = request.cookies.get(COOKIE, "")
            if cookie and hmac.compare_digest(cookie.encode(), self.cookie.encode()):
                return None
        why = self._not_local(request)
        if why is None:
            return None
        if self.token:
            return f"{why}. Send TROOPER_ADMIN_TOKEN as 'Authorization: Bearer <token>', or sign in at /login."
        return (
            f"{why}. Session data is served only to callers on this machine because TROOPER_ADMIN_TOKEN is not set; "
            "set it when starting Trooper to let other callers in with 'Authorization: Bearer <token>' or /login."
        )

    @staticmethod
    def _not_local(request: Request) -> str | None:
        host = request.client.host if request.client else ""
        if not is_loopback_address(host):
            return f"This request came from {host or 'an unknown address'}, not from this machine"
        for name in _FORWARDING_HEADERS:
            if name in request.headers:
                return f"This request came through a proxy ({name} header), so its real caller is unknown"
        named = request.headers.get("host", "")
        if named and not is_loopback_name(named):
            return f"This request was addressed to {named!r}, not to a loopback name such as localhost"
        return None
