"""The canonical model: what every stage sees, whatever the client or provider speaks.

Codecs in `trooper.formats` decode a client's request into a `Conversation` and encode
a `Response` (whole) or a sequence of `StreamEvent`s (streamed) back. The model is
frozen: a stage that changes the conversation builds a new one (`msgspec.structs.replace`),
so "did any stage change it?" is an identity check, which is what the fast path needs.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

Role = Literal["user", "assistant"]
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "error"]


class TextBlock(msgspec.Struct, frozen=True, tag="text"):
    text: str


class ImageBlock(msgspec.Struct, frozen=True, tag="image"):
    """An image as base64 data with its media type, or as a URL (exactly one is set)."""

    media_type: str = ""
    data: str = ""
    url: str = ""


class ToolUseBlock(msgspec.Struct, frozen=True, tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any] = {}


class ToolResultBlock(msgspec.Struct, frozen=True, tag="tool_result"):
    tool_use_id: str
    content: tuple[TextBlock | ImageBlock, ...] = ()
    is_error: bool = False
    # Name of the tool that produced it, when known: Gemini and Ollama address results by name.
    name: str = ""


class ThinkingBlock(msgspec.Struct, frozen=True, tag="thinking"):
    text: str
    signature: str = ""


Block = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock


class Message(msgspec.Struct, frozen=True):
    role: Role
    content: tuple[Block, ...]

    def text(self) -> str:
        """The message's plain text (text blocks joined), for rules and estimates."""
        return "".join(b.text for b in self.content if type(b) is TextBlock)


class Tool(msgspec.Struct, frozen=True):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = {}


ToolChoiceMode = Literal["auto", "any", "tool", "none"]
TOOL_CHOICE_MODES: frozenset[str] = frozenset(get_args(ToolChoiceMode))


class ToolChoice(msgspec.Struct, frozen=True):
    """auto: model decides; any: must call some tool; tool: must call `name`; none: no tools."""

    mode: ToolChoiceMode = "auto"
    name: str = ""
    parallel: bool = True


class Sampling(msgspec.Struct, frozen=True):
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # "json" for JSON mode; a schema dict for structured output; None for free text.
    response_format: Literal["json"] | dict[str, Any] | None = None


class Conversation(msgspec.Struct, frozen=True):
    model: str
    messages: tuple[Message, ...]
    system: str = ""
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    sampling: Sampling = Sampling()
    stream: bool = False
    # Vendor-specific request fields the canonical model has no place for. Kept so the
    # fast path (same format both sides) loses nothing; dropped, with a debug log, when
    # translating to another format.
    extra: dict[str, Any] = {}
    # Parts of the client's request the canonical model has no place for and that cannot
    # be dropped without changing what was asked (an unknown role or content block), by
    # where they are: `messages.3.content.1: content block type 'x'`. The fast path
    # carries them in the client's own bytes; translation refuses them by name.
    untranslatable: tuple[str, ...] = ()

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0


class Response(msgspec.Struct, frozen=True):
    """A whole (non-streamed) assistant answer."""

    id: str
    model: str
    content: tuple[Block, ...]
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = Usage()


# --- Streamed answers: a sequence of events shaped after Anthropic's, the richest of the
# formats, so every other format's stream maps onto it without loss. ---


class StreamStart(msgspec.Struct, frozen=True, tag="start"):
    id: str
    model: str
    input_tokens: int = 0


class BlockStart(msgspec.Struct, frozen=True, tag="block_start"):
    """A content block opens at `index`. For tool_use, `block` carries id and name; its
    input arrives as `ToolInputDelta`s."""

    index: int
    block: TextBlock | ToolUseBlock | ThinkingBlock


class TextDelta(msgspec.Struct, frozen=True, tag="text_delta"):
    index: int
    text: str


class ThinkingDelta(msgspec.Struct, frozen=True, tag="thinking_delta"):
    index: int
    text: str


class ToolInputDelta(msgspec.Struct, frozen=True, tag="tool_input_delta"):
    index: int
    partial_json: str


class BlockStop(msgspec.Struct, frozen=True, tag="block_stop"):
    index: int


class StreamEnd(msgspec.Struct, frozen=True, tag="end"):
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = Usage()


class StreamNote(msgspec.Struct, frozen=True, tag="note"):
    """Not content: a remark for people reading the raw stream (an SSE comment, which
    SDKs ignore), e.g. that the answer moved to another provider mid-stream."""

    text: str


StreamEvent = StreamStart | BlockStart | TextDelta | ThinkingDelta | ToolInputDelta | BlockStop | StreamEnd | StreamNote


class UpstreamError(Exception):
    """The provider's stream or body broke: truncated, unparsable, or an error event.
    Failover treats it as a provider failure."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


TOO_DEEP = "request body nests arrays and objects too deeply"  # a 400 wherever a walk hits the limit


class BadRequest(Exception):
    """The client's request is malformed. Becomes a 400 in the client's own error shape."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "api_error",
    "overloaded",
    "timeout",
]


class ApiError(msgspec.Struct, frozen=True):
    """An error answer in vendor-neutral form: encoded into the client's own error shape."""

    status: int
    kind: ErrorKind
    message: str


class ResponseBuilder:
    """Accumulates a stream's events into the whole `Response` they describe, for
    observation and for continuing a cut stream elsewhere."""

    __slots__ = ("id", "model", "_blocks", "_texts", "_json", "stop_reason", "stop_sequence", "usage", "input_tokens", "done")

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self._blocks: dict[int, TextBlock | ToolUseBlock | ThinkingBlock] = {}
        self._texts: dict[int, list[str]] = {}
        self._json: dict[int, list[str]] = {}
        self.stop_reason: StopReason = "end_turn"
        self.stop_sequence: str | None = None
        self.input_tokens = 0
        self.usage = Usage()
        self.done = False

    def add(self, event: StreamEvent) -> None:
        if type(event) is TextDelta or type(event) is ThinkingDelta:
            self._texts.setdefault(event.index, []).append(event.text)
        elif type(event) is ToolInputDelta:
            self._json.setdefault(event.index, []).append(event.partial_json)
        elif type(event) is BlockStart:
            self._blocks[event.index] = event.block
        elif type(event) is StreamStart:
            self.id, self.model, self.input_tokens = event.id, event.model, event.input_tokens
        elif type(event) is StreamEnd:
            self.stop_reason, self.stop_sequence = event.stop_reason, event.stop_sequence
            usage = event.usage
            self.usage = Usage(usage.input_tokens or self.input_tokens, usage.output_tokens)
            self.done = True

    def text(self) -> str:
        return "".join("".join(parts) for index, parts in sorted(self._texts.items())
                       if type(self._blocks.get(index)) is TextBlock)

    def response(self) -> Response:
        content: list[Block] = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            if type(block) is TextBlock:
                content.append(TextBlock("".join(self._texts.get(index, ()))))
            elif type(block) is ThinkingBlock:
                content.append(ThinkingBlock("".join(self._texts.get(index, ())), block.signature))
            else:
                raw = "".join(self._json.get(index, ())) or "{}"
                try:
                    arguments = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    arguments = {"_partial": raw}
                content.append(ToolUseBlock(block.id, block.name, arguments if isinstance(arguments, dict) else {}))  # type: ignore[union-attr]  # the kind left: tool_use
        usage = self.usage if self.done else Usage(self.input_tokens, 0)
        return Response(self.id, self.model, tuple(content), self.stop_reason, self.stop_sequence, usage)
