"""What every codec uses: the JSON coders, vendor-looking ids, and error kinds from
HTTP statuses."""

from __future__ import annotations

import random

import msgspec
import structlog

from trooper.conversation import ErrorKind

log = structlog.get_logger()

JSON_ENCODER = msgspec.json.Encoder()
ANY_JSON = msgspec.json.Decoder()
RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])

# --- ids ---

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    """A vendor-looking id (`msg_…`, `toolu_…`, `call_…`, `chatcmpl-…`). Not a secret."""
    return prefix + "".join(random.choices(_BASE62, k=length))


# --- errors ---

_KINDS_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


def kind_from_status(status: int) -> ErrorKind:
    kind = _KINDS_BY_STATUS.get(status)
    if kind is not None:
        return kind
    return "api_error" if status >= 500 or status < 400 else "invalid_request"


def body_text(status: int, body: bytes) -> str:
    """An unparsable error body as a message: its text, at most 200 characters."""
    text = body[:1024].decode("utf-8", "replace").strip()[:200]
    return text or f"HTTP {status}"


