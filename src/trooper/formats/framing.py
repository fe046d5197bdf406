"""How a wire format frames its stream, declared by each codec (`FRAMING`): SSE events
ending in a blank line, or NDJSON lines. A stream is framed once: the relay (or a
decoder fed chunks cut anywhere) cuts it into whole frames with the format's `Framer`,
and each frame is parsed on its own into messages, (event name, data) pairs. Bytes
throughout: a chunk cut inside a UTF-8 character is harmless, as lines are only split
at b"\n", which never occurs inside one."""

from __future__ import annotations

from typing import Literal

from trooper.conversation import StreamEvent

Message = tuple[bytes, bytes]  # (SSE event name, b"" when absent or NDJSON; data)


class Framer:
    """Cuts a byte stream into whole frames, so that a stream is only ever forwarded or
    decoded at frame boundaries."""

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


class Framing:
    def __init__(self, name: Literal["sse", "ndjson"]) -> None:
        self.name = name
        self.ndjson = name == "ndjson"

    def framer(self) -> Framer:
        return Framer(ndjson=self.ndjson)

    def messages(self, frame: bytes) -> list[Message]:
        """The messages of one frame (or of the unfinished rest of a stream, whose last
        line without its end is dropped for SSE and kept for NDJSON)."""
        if self.ndjson:
            line = frame.strip()
            return [(b"", line)] if line else []
        return sse_messages(frame)


SSE = Framing("sse")
NDJSON = Framing("ndjson")


def framing_of(content_type: str) -> Framing | None:
    """The framing a response's content type says its body has (None: not a stream of frames)."""
    if content_type.startswith("text/event-stream"):
        return SSE
    if content_type.startswith(("application/x-ndjson", "application/jsonl")):
        return NDJSON
    return None


def sse_messages(frame: bytes) -> list[Message]:
    """The events in SSE text: `event:` and `data:` fields (several data lines join with
    \\n), \\n or \\r\\n line ends; comments, events without data and events whose data is
    blank are skipped, as the SSE spec says. A last line without its end is dropped."""
    messages: list[Message] = []
    event: bytes = b""
    data: list[bytes] = []
    lines = frame.split(b"\n")
    # The last part follows the final b"\n": unfinished, dropped. The blank line added
    # ends an event whose blank line never came (complete lines at the stream's end).
    for line in [*lines[:-1], b""]:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if data:
                joined = data[0] if len(data) == 1 else b"\n".join(data)
                if joined.strip():
                    messages.append((event, joined))
            event, data = b"", []
            continue
        if line[0] == 58:  # ":" starts a comment
            continue
        field, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value
    return messages


class FramedDecoder:
    """Base of every codec's StreamDecoder. The relay, which has framed the stream, hands
    it whole frames (`feed_frame`); `feed` takes chunks cut anywhere and frames them
    here. A subclass says how to take one message (`take`) and what the stream's end
    must have seen (`end`, which raises UpstreamError for a stream cut short)."""

    framing: Framing

    def __init__(self) -> None:
        self._framer: Framer | None = None

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._framer is None:
            self._framer = self.framing.framer()
        events: list[StreamEvent] = []
        for frame in self._framer.split(chunk):
            events += self.feed_frame(frame)
        return events

    def feed_frame(self, frame: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for name, data in self.framing.messages(frame):
            self.take(name, data, events)
        return events

    def close(self) -> list[StreamEvent]:
        """At the end of the body: what an unfinished last frame holds, then the end."""
        events = self.feed_frame(self._framer.rest()) if self._framer is not None else []
        self.end(events)
        return events

    def take(self, name: bytes, data: bytes, events: list[StreamEvent]) -> None:
        raise NotImplementedError

    def end(self, events: list[StreamEvent]) -> None:
        raise NotImplementedError
