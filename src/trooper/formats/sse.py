"""Server-sent events: the writers for client streams (reading them is `framing.py`'s)."""

from __future__ import annotations


def sse_event(data: bytes, event: bytes = b"") -> bytes:
    """One SSE event. `data` is single-line JSON (msgspec never writes raw newlines)."""
    if event:
        return b"event: " + event + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def sse_comment(text: str) -> bytes:
    """An SSE comment, which every client ignores (also used as a keep-alive)."""
    return b": " + text.replace("\r", "").replace("\n", "\n: ").encode() + b"\n\n"
