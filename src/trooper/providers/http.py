"""The one long-lived aiohttp session every provider shares: pooled keep-alive
connections, no per-request session or connector."""

from __future__ import annotations

import aiohttp

from trooper import __version__

USER_AGENT = f"trooper/{__version__}"


def make_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0,  # no global cap: per-host is the cap that matters for a gateway
        limit_per_host=256,
        ttl_dns_cache=300,
        keepalive_timeout=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        # Timeouts are per provider and per request; none at the session level.
        timeout=aiohttp.ClientTimeout(total=None),
        # The upstream's Server/Date etc. are never forwarded, and cookies never kept.
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Content-Type",),
    )
