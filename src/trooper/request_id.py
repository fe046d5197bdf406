"""X-Request-Id on every response: the client's own when it sent a well-formed one (so a
caller can follow its id through Trooper's log and traces), else a fresh one.

An upstream's own `x-request-id` (OpenAI sends one), forwarded on the fast path, is kept
as `x-upstream-request-id`: the header the client reads is Trooper's.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from typing import Any

from starlette.types import Send

HEADER = b"x-request-id"
UPSTREAM_HEADER = b"x-upstream-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-Id when well-formed (1-128 plain characters), else a new one."""
    for name, value in headers:
        if name == HEADER:
            if _WELL_FORMED.fullmatch(value):
                return value
            break
    return os.urandom(16).hex().encode()


def with_request_id(send: Send, rid: bytes) -> Send:
    """`send` that adds X-Request-Id to the response's headers."""

    async def send_with_id(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(UPSTREAM_HEADER, value) if name == HEADER else (name, value)
                       for name, value in message.get("headers", ())]
            headers.append((HEADER, rid))
            message["headers"] = headers
        await send(message)

    return send_with_id
