"""Who is calling, and whether they may spend the operator's keys or see session data.

A caller is *on this machine* when its address is loopback, it came through no proxy
that Trooper was not told to trust (a reverse proxy on the same host would make every
remote user look local), it addressed Trooper by a loopback name (a web page that
rebinds its own DNS name to 127.0.0.1 is refused), and its request carries no mark of a
web page on another site (`Origin`, `Sec-Fetch-Site: cross-site`: the shape of a CSRF
POST, which browsers send even as text/plain without asking).

Forwarding headers (X-Forwarded-For, Forwarded, X-Real-IP, True-Client-IP, ...) are
believed only from `trusted_proxies`; from anyone else their mere presence means "the
real caller is unknown". Through a trusted proxy the caller is on this machine only
when every address the headers name is loopback, and a trusted proxy that names no
caller is not local.

The proxy routes (`Gate`) admit callers on this machine, callers presenting a client
token as their SDK's API key (the token is then removed from the request: never
forwarded upstream), and, when the operator said the network is trusted, any caller
without cross-site marks. Session data (`Access`) needs the admin token instead of a
client token.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from trooper.config import AccessSettings
from trooper.conversation import ApiError
from trooper.routes import query_key, without_key

FORWARDING_HEADERS = (
    "forwarded", "x-forwarded-for", "x-real-ip", "true-client-ip", "cf-connecting-ip", "x-client-ip",
    "x-cluster-client-ip", "fastly-client-ip", "x-original-forwarded-for", "forwarded-for", "x-forwarded",
    "client-ip", "x-proxyuser-ip",
)
# Where each SDK puts its API key: Anthropic, OpenAI (and Anthropic's OAuth), Gemini.
CREDENTIAL_HEADERS = (b"x-api-key", b"authorization", b"x-goog-api-key")
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "localhost.localdomain"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)  # parsed three times a request (peer, loopback, Host): ~3 µs each
def _address(host: str) -> Address | None:
    host = host.strip().strip('"')
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # 203.0.113.7:5000
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback_address(host: str) -> bool:
    address = _address(host)
    return address is not None and address.is_loopback


def is_loopback_name(host_header: str) -> bool:
    """Whether a Host header names this machine's loopback: localhost, 127.x, [::1]."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or is_loopback_address(host)


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers by lower-case name; repeated headers joined with ", " (as HTTP allows)."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


class Caller(msgspec.Struct, frozen=True):
    """What is known about who sent a request."""

    address: str  # the real caller's address as far as believed ("" when unknown)
    named: tuple[str, ...] = ()  # every address a trusted proxy's headers named
    via: str = ""  # a trusted proxy it came through
    untrusted_header: str = ""  # a forwarding header from a peer not in trusted_proxies
    https: bool = False


class Network:
    """Reads a caller from the socket's peer and, from trusted proxies only, their headers."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.proxies)

    def caller(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> Caller:
        peer = (scope.get("client") or ("", 0))[0] or ""
        https = scope.get("scheme") in ("https", "wss")
        if not self.trusts(peer):
            present = next((name for name in FORWARDING_HEADERS if name in headers), "")
            return Caller(peer, untrusted_header=present, https=https)
        chain, single = _named_addresses(headers)
        chain = [a for a in chain if not self.trusts(a)]
        single = [a for a in single if not self.trusts(a)]
        proto = headers.get("x-forwarded-proto", "").partition(",")[0].strip().lower()
        https = https or proto == "https" or "proto=https" in headers.get("forwarded", "").lower()
        # Who it is: the nearest hop the proxies appended (a client can write the first ones, or
        # a header the proxy passes on untouched, but not the hop the proxy adds itself).
        address = chain[-1] if chain else (single[-1] if single else "")
        return Caller(address, (*chain, *single), via=peer, https=https)

    def local_refusal(self, caller: Caller, headers: Mapping[str, str]) -> str | None:
        """None when the caller is on this machine; else why not, for the person."""
        if caller.untrusted_header:
            return (f"This request came through a proxy ({caller.untrusted_header} header) that is not in "
                    "trusted_proxies, so its real caller is unknown")
        if caller.via and not caller.named:
            return f"This request came through the proxy at {caller.via}, which did not say who sent it"
        for address in caller.named or (caller.address,):
            if not is_loopback_address(address):
                return f"This request came from {address or 'an unknown address'}, not from this machine"
        named = headers.get("host", "")
        if named and not is_loopback_name(named):
            return f"This request was addressed to {named!r}, not to a loopback name such as localhost"
        return cross_site(headers)


def cross_site(headers: Mapping[str, str]) -> str | None:
    """Why a request looks sent by a web page of another site, or None."""
    if headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return "This request was sent by a web page on another site (Sec-Fetch-Site: cross-site)"
    origin = headers.get("origin")
    if origin is not None:
        netloc = urlsplit(origin.strip()).netloc
        if not netloc or not is_loopback_name(netloc):
            return f"This request was sent by a web page at {origin.strip()[:100]!r}, not by a program on this machine"
    return None


def _named_addresses(headers: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The addresses the forwarding headers name: the hop chains (Forwarded, X-Forwarded-For;
    nearest proxy last), and the single-address headers (X-Real-IP, True-Client-IP, ...)."""
    chain: list[str] = []
    for part in headers.get("forwarded", "").split(","):
        for pair in part.split(";"):
            key, _, value = pair.strip().partition("=")
            if key.lower() == "for" and value:
                chain.append(value.strip().strip('"'))
    chain += [p.strip() for p in headers.get("x-forwarded-for", "").split(",") if p.strip()]
    single = [p.strip() for name in FORWARDING_HEADERS[2:] for p in headers.get(name, "").split(",") if p.strip()]
    return chain, single


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Every credential the client sent, in the places the SDKs put them."""
    keys = [headers.get("x-api-key", ""), headers.get("x-goog-api-key", "")]
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.append(credentials.strip())
    return [k.strip() for k in keys if k.strip()]


class Admission(msgspec.Struct, frozen=True):
    client: str  # the client token's name, "local", or "network"
    caller: Caller
    error: ApiError | None = None


class Gate:
    """Who may spend the operator's keys on the proxy routes."""

    def __init__(self, settings: AccessSettings) -> None:
        self.network = Network(settings.trusted_proxies)
        self.tokens = [(name, token.encode()) for name, token in settings.clients.items()]
        self.trusted_network = settings.trusted_network

    def client_for(self, headers: Mapping[str, str], query: str = "") -> str | None:
        """The name of the client whose token was presented, or None."""
        found = None
        for key in [*presented_keys(headers), query_key(query)]:
            if not key:
                continue
            for name, token in self.tokens:  # every comparison made, in constant time
                if hmac.compare_digest(key.encode(), token):
                    found = name
        return found

    def admit(self, scope: dict[str, Any]) -> Admission:
        """Admit or refuse a proxy request. A presented client token is removed from the
        scope's headers, so nothing after this point can forward it."""
        headers = header_map(scope["headers"])
        caller = self.network.caller(scope, headers)
        query = scope.get("query_string", b"").decode("latin-1")
        client = self.client_for(headers, query) if self.tokens else None
        if client is not None:
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n.lower() not in CREDENTIAL_HEADERS]
            if query_key(query):  # a Gemini REST caller's ?key=
                scope["query_string"] = without_key(query).encode("latin-1")
            return Admission(client, caller)
        if self.trusted_network:
            why = cross_site(headers)
            return Admission("network", caller, None if why is None else ApiError(403, "permission", why))
        why = self.network.local_refusal(caller, headers)
        if why is None:
            return Admission("local", caller)
        if self.tokens:
            message = f"{why}. Send your client token as the API key (x-api-key or Authorization: Bearer)."
            return Admission("", caller, ApiError(401, "authentication", message))
        message = (f"{why}. Trooper spends its provider keys only for programs on this machine unless it is given "
                   "client tokens (TROOPER_CLIENT_TOKENS); ask its operator for one.")
        return Admission("", caller, ApiError(403, "permission", message))


class Access:
    """Who may see session data: callers on this machine, or the admin token."""

    def __init__(self, token: str, network: Network | None = None) -> None:
        self.token = token
        self._token = token.encode()
        self.network = network or Network()

    def matches(self, presented: str) -> bool:
        return bool(self.token) and hmac.compare_digest(presented.encode(), self._token)

    def bearer(self, headers: Mapping[str, str]) -> str:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else ""

    def local_refusal(self, scope: Mapping[str, Any]) -> str | None:
        headers = header_map(scope["headers"])
        return self.network.local_refusal(self.network.caller(scope, headers), headers)

    def explain(self, why: str) -> str:
        if self.token:
            return f"{why}. Send TROOPER_ADMIN_TOKEN as 'Authorization: Bearer <token>', or sign in at /login."
        return (
            f"{why}. Session data is served only to callers on this machine because TROOPER_ADMIN_TOKEN is not set; "
            "set it when starting Trooper to let other callers in with 'Authorization: Bearer <token>' or /login."
        )
