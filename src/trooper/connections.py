"""The connection limits hypercorn has no setting for: how many connections one process
holds open at once, and how long a client may take to send a request's headers.

Both live in a subclass of hypercorn's per-connection server, installed in place of the
original for this process (`install`). Beyond the cap a new connection gets a 503 and is
closed at once, so a flood of idle or slow connections can't exhaust the process's file
descriptors; a client that starts a request and doesn't finish its headers within
`header_timeout` gets a 408 and is closed. Slow bodies are the app's to time out
(app.py), since only it knows whose error shape to answer in.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from typing import Any

import structlog
from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Event, Updated

from trooper.config import ServerSettings

log = structlog.get_logger("trooper")


def _raw_response(status: str, message: str) -> bytes:
    body = b'{"error": {"message": "' + message.encode() + b'"}}'
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


LINGER_SECONDS = 0.5
LINGER_BYTES = 65536
OVER_CAPACITY = _raw_response("503 Service Unavailable", "too many open connections to Trooper; retry shortly")
HEADERS_TOO_SLOW = _raw_response("408 Request Timeout", "request headers not received in time")


class _Limits:
    open = 0
    cap = 1000
    header_timeout = 30.0
    refused = 0


class _WatchedReader:
    """The connection's reader, telling its server when bytes or the end arrive."""

    def __init__(self, reader: asyncio.StreamReader, server: GuardedTCPServer) -> None:
        self._reader = reader
        self._server = server

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    async def read(self, n: int = -1) -> bytes:
        data = await self._reader.read(n)
        if data:
            self._server.bytes_arrived()
        elif not self._server.in_request:
            # The client hung up between requests: hypercorn would keep the connection's
            # slot until its keep-alive timer ran out (75 s); free it now.
            await self._server.idle_task.stop()
        return data


class GuardedTCPServer(TCPServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_request = False
        self._header_clock: asyncio.TimerHandle | None = None
        self._raw_reader = self.reader  # read unwatched when refusing: no header clock for a refused connection
        self.reader = _WatchedReader(self.reader, self)  # type: ignore[assignment]  # hypercorn's reader, watched

    async def run(self) -> None:
        if _Limits.open >= _Limits.cap:
            _Limits.refused += 1
            if _Limits.refused in (1, 10, 100) or _Limits.refused % 1000 == 0:
                log.warning("connection_refused", open=_Limits.open, cap=_Limits.cap, refused_so_far=_Limits.refused,
                            hint="[server] max_connections")
            with contextlib.suppress(Exception):
                self.writer.write(OVER_CAPACITY)
                await self.writer.drain()
                await _linger(self._raw_reader)
            self.writer.close()
            return
        _Limits.open += 1
        try:
            await super().run()
        finally:
            _Limits.open -= 1
            self._stop_header_clock()

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):
            self.in_request = not event.idle
            self._stop_header_clock()
        await super().protocol_send(event)

    def bytes_arrived(self) -> None:
        if not self.in_request and self._header_clock is None:
            loop = asyncio.get_running_loop()
            self._header_clock = loop.call_later(_Limits.header_timeout, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _headers_too_slow(self) -> None:
        self._header_clock = None
        if self.in_request:
            return
        with contextlib.suppress(Exception):
            self.writer.write(HEADERS_TOO_SLOW)
        self.writer.close()


async def _linger(reader: Any) -> None:
    """Read what the client already sent (briefly, boundedly) before closing: closing a socket
    with unread bytes sends a reset, and a reset can make the client lose the 503 unread."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(LINGER_SECONDS):
            await reader.read(LINGER_BYTES)


def install(server: ServerSettings) -> None:
    """Use the guarded server for every connection this process accepts, and let the
    process hold as many files as the cap needs (the soft limit is often 1024)."""
    _Limits.cap = server.max_connections
    _Limits.header_timeout = server.header_timeout
    # hypercorn's run module imported TCPServer by name: our class replaces that binding.
    hypercorn_run.TCPServer = GuardedTCPServer  # type: ignore[attr-defined]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = server.max_connections * 2 + 256  # each proxied request may hold an upstream connection too
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < wanted:
            log.warning("file_limit_low", limit=soft, max_connections=server.max_connections,
                        hint="raise the open-files limit (ulimit -n) or lower [server] max_connections")


def open_connections() -> int:
    return _Limits.open
