"""Server-sent events: an incremental parser for upstream streams, and the writers for
client streams. Works on bytes throughout: a chunk cut inside a UTF-8 character is
harmless because lines are only ever split at b"\\n", which never occurs inside one."""

from __future__ import annotations

SSEEvent = tuple[bytes, bytes]  # (event name, b"" when absent; data)


class SSEParser:
    """Feed it body chunks cut anywhere; it returns each complete event's (name, data).

    Handles \\n and \\r\\n line endings, `event:` and `data:` fields (several data lines
    join with \\n), and comment lines (starting with ":"). Events without data are
    skipped, as the SSE spec says, and so are events whose data is blank.
    """

    __slots__ = ("_buffer", "_scanned", "_event", "_data")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no b"\n"
        self._event = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer
        buffer += chunk
        events: list[SSEEvent] = []
        start = 0
        end = buffer.find(b"\n", self._scanned)
        while end >= 0:
            line = bytes(buffer[start : end - 1 if end > start and buffer[end - 1] == 13 else end])
            start = end + 1
            self._take_line(line, events)
            end = buffer.find(b"\n", start)
        if start:
            del buffer[:start]
        self._scanned = len(buffer)
        return events

    def close(self) -> list[SSEEvent]:
        """At end of body: the last event if its lines were complete but the blank line
        that ends it never came. An unterminated last line is dropped."""
        events: list[SSEEvent] = []
        self._dispatch(events)
        self._buffer.clear()
        self._scanned = 0
        return events

    def _take_line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == 58:  # ":" starts a comment
            return
        colon = line.find(b":")
        if colon < 0:
            field, value = line, b""
        else:
            field, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value

    def _dispatch(self, events: list[SSEEvent]) -> None:
        data = self._data
        if data:
            joined = data[0] if len(data) == 1 else b"\n".join(data)
            if joined.strip():  # an event whose data is blank carries nothing: skipped
                events.append((self._event, joined))
            self._data = []
        self._event = b""


def sse_event(data: bytes, event: bytes = b"") -> bytes:
    """One SSE event. `data` is single-line JSON (msgspec never writes raw newlines)."""
    if event:
        return b"event: " + event + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def sse_comment(text: str) -> bytes:
    """An SSE comment, which every client ignores (also used as a keep-alive)."""
    return b": " + text.replace("\r", "").replace("\n", "\n: ").encode() + b"\n\n"


class Framer:
    """Cuts a byte stream into whole frames (SSE events ending in a blank line, or NDJSON
    lines), so that a stream is only ever forwarded or decoded at frame boundaries."""

    __slots__ = ("_rest", "_ndjson")

    def __init__(self, ndjson: bool = False) -> None:
        self._rest = b""
        self._ndjson = ndjson

    def split(self, chunk: bytes) -> list[bytes]:
        buffer = self._rest + chunk if self._rest else chunk
        end = self._last_boundary(buffer)
        if end == 0:
            self._rest = buffer
            return []
        self._rest = buffer[end:]
        return self._frames(buffer[:end])

    def rest(self) -> bytes:
        """What is left when the stream ends: an unfinished frame, or b""."""
        rest, self._rest = self._rest, b""
        return rest

    def _last_boundary(self, buffer: bytes) -> int:
        """Offset just past the last complete frame, 0 when there is none."""
        if self._ndjson:
            return buffer.rfind(b"\n") + 1
        lf, crlf = buffer.rfind(b"\n\n"), buffer.rfind(b"\r\n\r\n")
        return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)

    def _frames(self, complete: bytes) -> list[bytes]:
        separator = b"\n" if self._ndjson else (b"\r\n\r\n" if b"\r\n\r\n" in complete else b"\n\n")
        parts = complete.split(separator)
        return [part + separator for part in parts if part]
