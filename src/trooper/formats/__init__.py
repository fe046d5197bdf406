"""Wire formats: one module per format, each a codec at the edges of the pipeline.

Every codec module exposes the same names (see `Codec` below), so the app and the
providers pick one by name and never special-case a format:

- client side: `decode_request` (bytes and the request path -> Conversation), `encode_response`,
  `StreamEncoder` (canonical events -> the client's stream bytes), `encode_error`,
  `encode_stream_error` (an error inside a started stream, as the client's SDK reads one);
- provider side: `encode_request` (Conversation -> bytes for that upstream),
  `decode_response`, `StreamDecoder` (upstream frames, or bytes cut anywhere -> canonical
  events), `decode_error`;
- `FRAMING`: how its streams are framed (SSE or NDJSON, `framing.py`);
- `INGRESS`: the paths it is served at, and its vendor's API space (`ingress.py`), from
  which `routes.py` builds its tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Protocol

from trooper.conversation import ApiError, Conversation, Response, StreamEvent
from trooper.formats.framing import Framing
from trooper.formats.ingress import Ingress


class StreamDecoder(Protocol):
    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Events completed by this chunk. Raises UpstreamError on an error event."""

    def feed_frame(self, frame: bytes) -> list[StreamEvent]:
        """The events of one whole frame (the caller framed the stream with `FRAMING`)."""

    def close(self) -> list[StreamEvent]:
        """Called at end of body. Raises UpstreamError if the stream was cut short."""


class StreamEncoder(Protocol):
    content_type: str

    def encode(self, event: StreamEvent) -> bytes:
        """The client's wire bytes for one canonical event (may be b"")."""

    def trailer(self) -> bytes:
        """Bytes after the last event (e.g. OpenAI's `data: [DONE]`)."""

    def comment(self, text: str) -> bytes:
        """An in-stream comment that SDKs ignore (SSE `: text`)."""


class Codec(Protocol):
    NAME: str
    CONTENT_TYPE: str
    FRAMING: Framing
    INGRESS: Ingress

    def decode_request(self, body: bytes, path: str = "") -> Conversation:
        """`path` is the request's: a format that names the model in the URL (Gemini) reads it there."""
    def encode_request(self, conversation: Conversation, model: str) -> bytes: ...
    def decode_response(self, body: bytes) -> Response: ...
    def encode_response(self, response: Response, request: Conversation | None = None) -> bytes:
        """`request`: the conversation it answers (a format that keeps state across turns, the
        Responses API's previous_response_id, remembers it)."""
    def decode_error(self, status: int, body: bytes) -> ApiError: ...
    def encode_error(self, error: ApiError) -> bytes: ...
    def encode_stream_error(self, error: ApiError) -> bytes: ...

    def StreamDecoder(self) -> StreamDecoder: ...  # noqa: N802 - a class in each module
    def StreamEncoder(self, request: Conversation) -> StreamEncoder: ...  # noqa: N802


_MODULES: dict[str, ModuleType] = {}  # filled on first use: the codec modules import this package


def codec(name: str) -> Codec:
    """The codec module for a format name: anthropic, gemini, openai, responses, ollama."""
    found = _MODULES.get(name)
    if found is None:
        from trooper.formats import anthropic, gemini, ollama, openai, responses

        _MODULES.update(anthropic=anthropic, gemini=gemini, openai=openai, responses=responses, ollama=ollama)
        found = _MODULES[name]  # KeyError for a name no codec has, as before
    return found


def names() -> Iterable[str]:
    return ("anthropic", "gemini", "openai", "responses", "ollama")


def ingresses() -> list[tuple[str, Ingress]]:
    """Each format's name and its `INGRESS`, in `names()` order."""
    return [(name, codec(name).INGRESS) for name in names()]
