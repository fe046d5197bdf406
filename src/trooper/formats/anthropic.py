"""Anthropic Messages API (`POST /v1/messages`): client format and provider format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

import msgspec
from msgspec import UNSET, UnsetType

from trooper.conversation import (
    TOOL_CHOICE_MODES,
    ApiError,
    Block,
    BlockStart,
    BlockStop,
    Conversation,
    ErrorKind,
    ImageBlock,
    Message,
    Response,
    Role,
    Sampling,
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    Tool,
    ToolChoice,
    ToolInputDelta,
    ToolResultBlock,
    ToolUseBlock,
    UpstreamError,
    Usage,
)
from trooper.formats.blocks import BlockSequencer
from trooper.formats.common import JSON_ENCODER, RAW_OBJECT, body_text, kind_from_status, log, new_id
from trooper.formats.decoding import MessageList, bad_request_at, bad_request_from, decode_at, decode_extra
from trooper.formats.framing import SSE, FramedDecoder
from trooper.formats.images import image_base64
from trooper.formats.ingress import ApiSpace, Ingress, ListedModel
from trooper.formats.lossy import log_dropped_extra, replaced
from trooper.formats.sse import sse_comment, sse_event

NAME = "anthropic"
CONTENT_TYPE = "application/json"
FRAMING = SSE  # how its streams are framed


def _sent_by_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def encode_model_list(models: Sequence[ListedModel]) -> bytes:
    """Trooper's own models as a page of GET /v1/models."""
    data = [{"type": "model", "id": m.id, "display_name": f"{m.id} via {m.provider}", "created_at": "2025-01-01T00:00:00Z"}
            for m in models]
    first, last = (models[0].id, models[-1].id) if models else (None, None)
    return JSON_ENCODER.encode({"data": data, "has_more": False, "first_id": first, "last_id": last})


INGRESS = Ingress(
    paths=("/v1/messages",),
    api=ApiSpace(
        ("/v1/messages", "/v1/complete", "/v1/files", "/v1/models", "/v1/skills"),
        organisation=("/v1/organizations",),  # the Admin API: users, workspaces, API keys
        path_mark=_sent_by_anthropic,
        header_marks=("anthropic-version",),  # every Anthropic SDK sends it; OpenAI's don't
        key_prefixes=("sk-ant-",),
        model_list=encode_model_list,
    ),
)

DEFAULT_MAX_TOKENS = 4096

STOP_REASONS_FROM_ANTHROPIC: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "pause_turn": "end_turn",
    "model_context_window_exceeded": "max_tokens",
}


def anthropic_stop_reason(reason: StopReason) -> str:
    # "error" is ours, not Anthropic's: the answer simply ended.
    return "end_turn" if reason == "error" else reason


# --- wire shapes: content blocks (tagged by "type") ---


class _Content(msgspec.Struct, tag_field="type", omit_defaults=True, gc=False):
    pass


class Base64Source(msgspec.Struct, tag_field="type", tag="base64", gc=False):
    media_type: str
    data: str


class URLSource(msgspec.Struct, tag_field="type", tag="url", gc=False):
    url: str


class TextContent(_Content, tag="text"):
    text: str


class ImageContent(_Content, tag="image"):
    source: Base64Source | URLSource


class ToolUseContent(_Content, tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


class ThinkingContent(_Content, tag="thinking"):
    thinking: str
    signature: str | UnsetType = UNSET


class RedactedThinkingContent(_Content, tag="redacted_thinking"):
    data: str = ""


# Documented block types the canonical model has no place for: they become a short note.
OMITTED_TYPES = (
    "document",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
)
_OMITTED_CONTENT = tuple(
    msgspec.defstruct(f"Omitted_{kind}", [], bases=(_Content,), tag=kind, module=__name__) for kind in OMITTED_TYPES
)
if TYPE_CHECKING:  # the omitted types exist only at run time; to the checker each is a _Content
    ResultItem = TextContent | ImageContent | _Content
else:
    ResultItem = Union[(TextContent, ImageContent, *_OMITTED_CONTENT)]  # noqa: UP007 - built from a tuple


class ToolResultContent(_Content, tag="tool_result"):
    tool_use_id: str
    content: str | list[ResultItem] = ""
    is_error: bool = False


if TYPE_CHECKING:
    ContentItem = (TextContent | ImageContent | ToolUseContent | ToolResultContent | ThinkingContent
                   | RedactedThinkingContent | _Content)
else:
    ContentItem = Union[  # noqa: UP007
        (TextContent, ImageContent, ToolUseContent, ToolResultContent, ThinkingContent, RedactedThinkingContent,
         *_OMITTED_CONTENT)
    ]

# --- wire shapes: request ---


class MessageParam(msgspec.Struct, gc=False):
    # Any role decodes: "system" mid-conversation (a beta Claude Code sends) and roles newer
    # than this code; `decode_request` decides what each becomes.
    role: str
    content: str | list[ContentItem]


class ToolParam(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = None
    type: str | None = None  # server tools ("web_search_20250305"…) have no input_schema


class ToolChoiceParam(msgspec.Struct, omit_defaults=True, gc=False):
    type: str  # auto, any, tool, none; a newer one is untranslatable, not a 400
    name: str = ""
    disable_parallel_tool_use: bool = False


class JSONOutputFormat(msgspec.Struct, tag_field="type", tag="json_schema", gc=False):
    schema: dict[str, Any]


class OutputConfig(msgspec.Struct, omit_defaults=True, gc=False):
    """Structured outputs: the answer follows `format`. (`effort` is Anthropic's own.)"""

    format: JSONOutputFormat | None = None
    effort: str | None = None


class MessagesRequest(msgspec.Struct, omit_defaults=True, gc=False):
    model: str
    messages: list[MessageParam]
    max_tokens: int
    system: str | list[TextContent] = ""
    tools: list[ToolParam] = []
    tool_choice: ToolChoiceParam | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] = []
    output_config: OutputConfig | None = None
    stream: bool = False


# --- wire shapes: response, usage, errors ---


class AnyContent(msgspec.Struct, gc=False):
    """Any content block of an upstream answer, read leniently: new block types must not
    make a good answer unreadable."""

    type: str
    text: str = ""
    id: str = ""
    name: str = ""
    input: Any = None
    thinking: str = ""
    signature: str = ""


class UsageBody(msgspec.Struct, gc=False):
    input_tokens: int | None = None
    output_tokens: int = 0
    cache_creation_input_tokens: int | None | UnsetType = UNSET
    cache_read_input_tokens: int | None | UnsetType = UNSET

    def total_input(self) -> int:
        return (self.input_tokens or 0) + (self.cache_creation_input_tokens or 0) + (self.cache_read_input_tokens or 0)


C = TypeVar("C")


class MessageBody(msgspec.Struct, Generic[C], gc=False):
    id: str = ""
    type: str = "message"
    role: str = "assistant"
    model: str = ""
    content: list[C] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: UsageBody = msgspec.field(default_factory=UsageBody)


class ErrorDetail(msgspec.Struct, gc=False):
    type: str = ""
    message: str = ""


class ErrorBody(msgspec.Struct, gc=False):
    type: str = "error"
    error: ErrorDetail = msgspec.field(default_factory=ErrorDetail)


class LenientMessage(msgspec.Struct, gc=False):
    role: str
    content: str | list[msgspec.Raw]


class LenientRequest(MessagesRequest):
    """The request with its messages and system blocks left raw, read block by block when
    the typed read meets a block type this code doesn't know."""

    messages: list[LenientMessage]  # type: ignore[assignment]  # raw here, typed in the strict read
    system: str | list[msgspec.Raw] = ""  # type: ignore[assignment]  # likewise


class LenientToolResult(msgspec.Struct, gc=False):
    tool_use_id: str
    content: str | list[msgspec.Raw] = ""
    is_error: bool = False


class BlockType(msgspec.Struct, gc=False):
    type: str


_REQUEST = msgspec.json.Decoder(MessagesRequest)
_LENIENT_REQUEST = msgspec.json.Decoder(LenientRequest)
_CONTENT_ITEM = msgspec.json.Decoder(ContentItem)
_RESULT_ITEM = msgspec.json.Decoder(ResultItem)
_TEXT_CONTENT = msgspec.json.Decoder(TextContent)
_BLOCK_TYPE = msgspec.json.Decoder(BlockType)
_LENIENT_TOOL_RESULT = msgspec.json.Decoder(LenientToolResult)
_KNOWN_BLOCK_TYPES = frozenset(item.__struct_config__.tag for item in ContentItem.__args__)
_KNOWN_FIELDS = frozenset(MessagesRequest.__struct_fields__)
_RESPONSE = msgspec.json.Decoder(MessageBody[AnyContent])
_ERROR = msgspec.json.Decoder(ErrorBody)

# --- decode a client's request ---

_CHAT_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant"}


def decode_request(body: bytes, path: str = "") -> Conversation:
    """The client's request as a Conversation. Whatever the API accepts decodes: a
    mid-conversation system message joins the system prompt (every format has one), and
    a role or block type this code doesn't know is listed in `untranslatable` (the fast
    path still carries it; translation refuses it by name) instead of failing the request."""
    try:
        raw_fields = RAW_OBJECT.decode(body)
        try:
            request: MessagesRequest = _REQUEST.decode(body)
        except msgspec.ValidationError:
            request = _LENIENT_REQUEST.decode(body)  # raises the same error when leniency doesn't help
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    untranslatable: list[str] = []
    system = [_system_in(request.system, untranslatable)]
    messages = MessageList()
    for position, message in enumerate(request.messages):
        where = f"messages.{position}"
        role = message.role
        chat_role = _CHAT_ROLES.get(role)
        if chat_role is not None:
            messages.add(chat_role, _blocks_in(message.content, where, untranslatable))
        elif role == "system":
            system.append(_system_message_in(message.content, where, untranslatable))
        else:
            untranslatable.append(f"{where}: role '{role}'")
    return Conversation(
        model=request.model,
        messages=messages.build(),
        system="\n\n".join(part for part in system if part),
        tools=_tools_in(request.tools),
        tool_choice=_tool_choice_in(request.tool_choice, untranslatable),
        sampling=Sampling(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            stop=tuple(request.stop_sequences),
            response_format=_response_format_in(request.output_config),
        ),
        stream=request.stream,
        extra=decode_extra(raw_fields, _KNOWN_FIELDS),
        untranslatable=tuple(untranslatable),
    )


def _system_in(system: str | list[Any], untranslatable: list[str]) -> str:
    if isinstance(system, str):
        return system
    texts = []
    for position, item in enumerate(system):
        if type(item) is msgspec.Raw:
            kind = _block_type(item, f"system.{position}")
            if kind != "text":
                untranslatable.append(f"system.{position}: block type '{kind}'")
                continue
            item = _TEXT_CONTENT.decode(item)
        texts.append(item.text)
    return "\n\n".join(texts)


def _system_message_in(content: str | list[Any], where: str, untranslatable: list[str]) -> str:
    """A mid-conversation system message's text (text blocks only: anything else there
    has no place in a system prompt)."""
    texts = []
    for block in _blocks_in(content, where, untranslatable):
        if type(block) is TextBlock:
            texts.append(block.text)
        else:
            untranslatable.append(f"{where}: {type(block).__struct_config__.tag} block in a system message")
    return "\n\n".join(texts)


def _blocks_in(content: str | list[Any], where: str, untranslatable: list[str]) -> list[Block]:
    if isinstance(content, str):
        return [TextBlock(content)]
    blocks = []
    for position, item in enumerate(content):
        if type(item) is msgspec.Raw:
            item = _raw_block_in(item, f"{where}.content.{position}", untranslatable)
            if item is None:
                continue
        block = _block_in(item)
        if block is not None:
            blocks.append(block)
    return blocks


def _raw_block_in(raw: msgspec.Raw, where: str, untranslatable: list[str]) -> Any:
    """One content block read on its own (the lenient path): the typed block, or None for
    a type this code doesn't know, which is listed as untranslatable. A known type with a
    bad field is the client's mistake: a 400 naming the field."""
    try:
        return _CONTENT_ITEM.decode(raw)
    except msgspec.ValidationError as error:
        kind = _block_type(raw, where)
        if kind not in _KNOWN_BLOCK_TYPES:
            untranslatable.append(f"{where}: content block type '{kind}'")
            return None
        if kind != "tool_result":
            raise bad_request_at(error, where) from None
    result = decode_at(_LENIENT_TOOL_RESULT, raw, where)
    if isinstance(result.content, str):
        return ToolResultContent(result.tool_use_id, result.content, result.is_error)
    items: list[ResultItem] = []
    for position, item in enumerate(result.content):
        item_where = f"{where}.content.{position}"
        try:
            items.append(_RESULT_ITEM.decode(item))
        except msgspec.ValidationError as error:
            kind = _block_type(item, item_where)
            if kind in _KNOWN_BLOCK_TYPES:
                raise bad_request_at(error, item_where) from None
            untranslatable.append(f"{item_where}: content block type '{kind}'")
    return ToolResultContent(result.tool_use_id, items, result.is_error)


def _block_type(raw: msgspec.Raw, where: str) -> str:
    return decode_at(_BLOCK_TYPE, raw, where).type


def _block_in(item: Any) -> Block | None:
    if type(item) is TextContent:
        return TextBlock(item.text)
    if type(item) is ToolUseContent:
        return ToolUseBlock(item.id, item.name, item.input)
    if type(item) is ToolResultContent:
        return ToolResultBlock(item.tool_use_id, _result_content_in(item.content), item.is_error)
    if type(item) is ImageContent:
        return _image_in(item)
    if type(item) is ThinkingContent:
        return ThinkingBlock(item.thinking, item.signature or "")
    if type(item) is RedactedThinkingContent:
        return None  # encrypted reasoning only Anthropic can read; nothing to carry
    return TextBlock(f"[{item.__struct_config__.tag} omitted]")


def _image_in(item: ImageContent) -> ImageBlock:
    source = item.source
    if isinstance(source, Base64Source):
        return ImageBlock(media_type=source.media_type, data=source.data)
    return ImageBlock(url=source.url)


def _result_content_in(content: str | list[Any]) -> tuple[TextBlock | ImageBlock, ...]:
    if isinstance(content, str):
        return (TextBlock(content),) if content else ()
    return tuple(_block_in(item) for item in content)  # type: ignore[misc]  # ResultItems become text or image blocks


def _response_format_in(config: OutputConfig | None) -> dict[str, Any] | None:
    if config is not None and config.effort is not None:
        log.debug("output_effort_not_carried", source=NAME)  # no canonical place: kept on the fast path only
    return config.format.schema if config is not None and config.format is not None else None


def _tools_in(tools: list[ToolParam]) -> tuple[Tool, ...]:
    kept = tuple(Tool(t.name, t.description, t.input_schema) for t in tools if t.input_schema is not None)
    if len(kept) < len(tools):
        log.debug("server_tools_dropped", source=NAME, tools=[t.name for t in tools if t.input_schema is None])
    return kept


def _tool_choice_in(choice: ToolChoiceParam | None, untranslatable: list[str]) -> ToolChoice | None:
    if choice is None:
        return None
    if choice.type not in TOOL_CHOICE_MODES:
        untranslatable.append(f"tool_choice: type '{choice.type}'")
        return None
    return ToolChoice(choice.type, choice.name, not choice.disable_parallel_tool_use)  # type: ignore[arg-type]  # checked above


# --- encode a request for an Anthropic upstream ---


def encode_request(conversation: Conversation, model: str) -> bytes:
    log_dropped_extra(conversation.extra, NAME)
    sampling = conversation.sampling
    dropped = [name for name, value in (("seed", sampling.seed), ("json_mode", sampling.response_format == "json")) if value]
    if dropped:  # Anthropic takes a JSON schema to follow, but no plain JSON mode and no seed
        log.debug("sampling_dropped", target=NAME, fields=dropped)
    schema = sampling.response_format if isinstance(sampling.response_format, dict) else None
    request = MessagesRequest(
        model=model,
        messages=[_message_out(message) for message in conversation.messages],
        max_tokens=sampling.max_tokens or DEFAULT_MAX_TOKENS,
        system=conversation.system,
        tools=[ToolParam(t.name, t.description, t.input_schema or {"type": "object", "properties": {}}) for t in conversation.tools],
        tool_choice=_tool_choice_out(conversation.tool_choice),
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        stop_sequences=list(sampling.stop),
        output_config=OutputConfig(JSONOutputFormat(schema)) if schema is not None else None,
        stream=conversation.stream,
    )
    return JSON_ENCODER.encode(request)


def _message_out(message: Message) -> MessageParam:
    # Anthropic rejects empty text blocks, which other formats allow.
    blocks = message.content
    if len(blocks) == 1 and type(blocks[0]) is TextBlock and blocks[0].text:
        return MessageParam(message.role, blocks[0].text)  # the compact form clients send
    content = [_block_out(b) for b in blocks if type(b) is not TextBlock or b.text]
    return MessageParam(message.role, content)


def _block_out(block: Block) -> Any:
    if type(block) is TextBlock:
        return TextContent(block.text)
    if type(block) is ToolUseBlock:
        return ToolUseContent(block.id, block.name, block.input)
    if type(block) is ToolResultBlock:
        content = [_block_out(b) for b in block.content if type(b) is not TextBlock or b.text]
        return ToolResultContent(block.tool_use_id, content or "", block.is_error)
    if type(block) is ImageBlock:
        return _image_out(block)
    if type(block) is ThinkingBlock and block.signature:
        return ThinkingContent(block.text, block.signature)
    # Thinking without a signature: Anthropic would reject it as forged.
    return TextContent(replaced(block, NAME).text)


def _image_out(block: ImageBlock) -> ImageContent:
    base64 = image_base64(block)
    if base64 is not None:
        return ImageContent(Base64Source(base64[0], base64[1]))
    return ImageContent(URLSource(block.url))


def _tool_choice_out(choice: ToolChoice | None) -> ToolChoiceParam | None:
    if choice is None:
        return None
    disable_parallel = not choice.parallel and choice.mode != "none"
    return ToolChoiceParam(choice.mode, choice.name if choice.mode == "tool" else "", disable_parallel)


# --- whole responses ---


def decode_response(body: bytes) -> Response:
    try:
        message = _RESPONSE.decode(body)
    except msgspec.DecodeError as error:
        raise UpstreamError("bad_body", f"Anthropic response: {error}") from None
    content = [block for item in message.content if (block := _answer_block_in(item)) is not None]
    return Response(
        id=message.id,
        model=message.model,
        content=tuple(content),
        stop_reason=STOP_REASONS_FROM_ANTHROPIC.get(message.stop_reason or "end_turn", "end_turn"),
        stop_sequence=message.stop_sequence,
        usage=Usage(message.usage.total_input(), message.usage.output_tokens),
    )


def _answer_block_in(item: AnyContent) -> Block | None:
    kind = item.type
    if kind == "text":
        return TextBlock(item.text)
    if kind == "tool_use":
        return ToolUseBlock(item.id, item.name, item.input if isinstance(item.input, dict) else {})
    if kind == "thinking":
        return ThinkingBlock(item.thinking, item.signature)
    if kind == "redacted_thinking":
        return None
    return TextBlock(f"[{kind} omitted]")


def encode_response(response: Response, request: Conversation | None = None) -> bytes:
    message = MessageBody(
        id=response.id or new_id("msg_"),
        model=response.model,
        content=[_answer_block_out(block) for block in response.content],
        stop_reason=anthropic_stop_reason(response.stop_reason),
        stop_sequence=response.stop_sequence,
        usage=UsageBody(response.usage.input_tokens, response.usage.output_tokens),
    )
    return JSON_ENCODER.encode(message)


def _answer_block_out(block: Block) -> Any:
    if type(block) is ThinkingBlock:
        return ThinkingContent(block.text, block.signature)  # answers always carry the field
    return _block_out(block)


# --- errors ---

_ERROR_TYPES: dict[ErrorKind, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
    "timeout": "timeout_error",
}
_ERROR_KINDS: dict[str, ErrorKind] = {name: kind for kind, name in _ERROR_TYPES.items()}


def decode_error(status: int, body: bytes) -> ApiError:
    try:
        detail = _ERROR.decode(body).error
    except msgspec.DecodeError:
        return ApiError(status, kind_from_status(status), body_text(status, body))
    kind = _ERROR_KINDS.get(detail.type) or kind_from_status(status)
    return ApiError(status, kind, detail.message or body_text(status, body))


def encode_error(error: ApiError) -> bytes:
    return JSON_ENCODER.encode(ErrorBody(error=ErrorDetail(_ERROR_TYPES.get(error.kind, "api_error"), error.message)))


def encode_stream_error(error: ApiError) -> bytes:
    """An error inside a started stream: Anthropic's `error` event."""
    return sse_event(encode_error(error), b"error")


# --- streams: wire shapes ---


class AnyDelta(msgspec.Struct, gc=False):
    type: str = ""
    text: str = ""
    partial_json: str = ""
    thinking: str = ""
    stop_reason: str | None = None
    stop_sequence: str | None = None


class AnyStreamEvent(msgspec.Struct, gc=False):
    """Any event of an upstream stream, read leniently."""

    type: str
    message: MessageBody[AnyContent] | None = None
    index: int = 0
    content_block: AnyContent | None = None
    delta: AnyDelta | None = None
    usage: UsageBody | None = None
    error: ErrorDetail | None = None


class _Event(msgspec.Struct, tag_field="type", gc=False):
    pass


class MessageStartEvent(_Event, tag="message_start"):
    message: MessageBody[Any]


class ContentBlockStartEvent(_Event, tag="content_block_start"):
    index: int
    content_block: Any


class TextDeltaBody(_Event, tag="text_delta"):
    text: str


class InputJSONDeltaBody(_Event, tag="input_json_delta"):
    partial_json: str


class ThinkingDeltaBody(_Event, tag="thinking_delta"):
    thinking: str


class ContentBlockDeltaEvent(_Event, tag="content_block_delta"):
    index: int
    delta: TextDeltaBody | InputJSONDeltaBody | ThinkingDeltaBody


class ContentBlockStopEvent(_Event, tag="content_block_stop"):
    index: int


class MessageDeltaBody(msgspec.Struct, gc=False):
    stop_reason: str | None
    stop_sequence: str | None


class MessageDeltaEvent(_Event, tag="message_delta"):
    delta: MessageDeltaBody
    usage: UsageBody


_STREAM_EVENT = msgspec.json.Decoder(AnyStreamEvent)
_STREAM_EVENT_NAMES = frozenset(
    {b"", b"message_start", b"content_block_start", b"content_block_delta", b"content_block_stop", b"message_delta", b"message_stop", b"error"}
)
_TEXT_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA_MIDDLE = b',"delta":{"type":"text_delta","text":'
_TEXT_DELTA_TAIL = b"}}\n\n"
_PING = sse_event(b'{"type":"ping"}', b"ping")
_MESSAGE_STOP = sse_event(b'{"type":"message_stop"}', b"message_stop")

# --- streams: upstream bytes -> canonical events ---


class StreamDecoder(FramedDecoder):
    """An Anthropic SSE stream, in whole frames or chunks cut anywhere, as canonical events."""

    framing = FRAMING

    def __init__(self) -> None:
        super().__init__()
        self._blocks = BlockSequencer()
        # upstream block index -> (our index, kind of deltas it takes); -1: block skipped
        self._indices: dict[int, tuple[int, str]] = {}
        self._started = False
        self._ended = False
        self._stop_reason = "end_turn"
        self._stop_sequence: str | None = None
        self._usage = UsageBody()

    def end(self, events: list[StreamEvent]) -> None:
        if not self._ended:
            raise UpstreamError("truncated", "Anthropic stream ended before message_stop")

    def take(self, name: bytes, data: bytes, events: list[StreamEvent]) -> None:
        if self._ended or name not in _STREAM_EVENT_NAMES:
            return  # ping, and event types newer than this code
        try:
            event = _STREAM_EVENT.decode(data)
        except msgspec.DecodeError as error:
            raise UpstreamError("bad_stream", f"Anthropic {name.decode(errors='replace')} event: {error}") from None
        kind = event.type
        if kind == "error":
            detail = event.error or ErrorDetail()
            raise UpstreamError("stream_error", f"{detail.type}: {detail.message}")
        if kind == "message_start":
            self._start(event.message, events)
            return
        if not self._started:
            self._start(None, events)
        if kind == "content_block_delta":
            self._delta(event, events)
        elif kind == "content_block_start":
            self._block_start(event, events)
        elif kind == "content_block_stop":
            index = self._indices.get(event.index, (-1, ""))[0]
            if index >= 0 and index == self._blocks.open_index:
                self._blocks.close(events)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._blocks.close(events)
            usage = Usage(self._usage.total_input(), self._usage.output_tokens)
            events.append(StreamEnd(self._stop_reason, self._stop_sequence, usage))  # type: ignore[arg-type]  # as Anthropic sent it
            self._ended = True

    def _start(self, message: MessageBody[AnyContent] | None, events: list[StreamEvent]) -> None:
        if self._started:
            return
        self._started = True
        message = message or MessageBody()
        self._usage = message.usage
        events.append(StreamStart(message.id, message.model, message.usage.total_input()))

    def _block_start(self, event: AnyStreamEvent, events: list[StreamEvent]) -> None:
        block = event.content_block or AnyContent("text")
        kind = block.type
        if kind == "text":
            index = self._blocks.open(TextBlock(""), events)
            if block.text:
                events.append(TextDelta(index, block.text))
        elif kind == "tool_use":
            index = self._blocks.open(ToolUseBlock(block.id or new_id("toolu_"), block.name), events)
        elif kind == "thinking":
            index = self._blocks.open(ThinkingBlock(""), events)
            if block.thinking:
                events.append(ThinkingDelta(index, block.thinking))
        elif kind == "redacted_thinking":
            self._indices[event.index] = (-1, "")
            return
        else:
            index = self._blocks.open(TextBlock(""), events)
            events.append(TextDelta(index, f"[{kind} omitted]"))
            kind = "omitted"  # its deltas are not ours to show
        self._indices[event.index] = (index, kind)

    def _delta(self, event: AnyStreamEvent, events: list[StreamEvent]) -> None:
        index, kind = self._indices.get(event.index, (-1, ""))
        delta = event.delta
        if index < 0 or index != self._blocks.open_index or delta is None:
            return
        delta_type = delta.type
        if delta_type == "text_delta" and kind == "text":
            events.append(TextDelta(index, delta.text))
        elif delta_type == "input_json_delta" and kind == "tool_use":
            events.append(ToolInputDelta(index, delta.partial_json))
        elif delta_type == "thinking_delta" and kind == "thinking":
            events.append(ThinkingDelta(index, delta.thinking))
        # signature_delta and citations_delta have no canonical event.

    def _message_delta(self, event: AnyStreamEvent) -> None:
        if event.delta is not None:
            reason = event.delta.stop_reason
            self._stop_reason = STOP_REASONS_FROM_ANTHROPIC.get(reason or "end_turn", "end_turn")
            self._stop_sequence = event.delta.stop_sequence
        usage = event.usage
        if usage is not None:
            # Counts on message_delta are cumulative; absent ones keep message_start's value.
            current = self._usage
            self._usage = UsageBody(
                usage.input_tokens if usage.input_tokens is not None else current.input_tokens,
                usage.output_tokens,
                current.cache_creation_input_tokens if usage.cache_creation_input_tokens is UNSET else usage.cache_creation_input_tokens,
                current.cache_read_input_tokens if usage.cache_read_input_tokens is UNSET else usage.cache_read_input_tokens,
            )


# --- streams: canonical events -> the client's bytes ---


class StreamEncoder:
    """Canonical events as the SSE stream Anthropic's SDKs expect."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: Conversation) -> None:
        self._model = request.model
        self._input_tokens = 0

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            # The hot path: splice into a fixed frame instead of building the event.
            text = JSON_ENCODER.encode(event.text)
            return _TEXT_DELTA_HEAD + str(event.index).encode() + _TEXT_DELTA_MIDDLE + text + _TEXT_DELTA_TAIL
        if type(event) is ToolInputDelta:
            return _event(b"content_block_delta", ContentBlockDeltaEvent(event.index, InputJSONDeltaBody(event.partial_json)))
        if type(event) is ThinkingDelta:
            return _event(b"content_block_delta", ContentBlockDeltaEvent(event.index, ThinkingDeltaBody(event.text)))
        if type(event) is BlockStart:
            return _event(b"content_block_start", ContentBlockStartEvent(event.index, _started_block(event.block)))
        if type(event) is BlockStop:
            return _event(b"content_block_stop", ContentBlockStopEvent(event.index))
        if type(event) is StreamStart:
            return self._message_start(event)
        if type(event) is StreamEnd:
            return self._message_end(event)
        return b""

    def trailer(self) -> bytes:
        return b""

    def comment(self, text: str) -> bytes:
        return sse_comment(text)

    def _message_start(self, event: StreamStart) -> bytes:
        self._input_tokens = event.input_tokens
        message: MessageBody[Any] = MessageBody(
            id=event.id or new_id("msg_"),
            model=event.model or self._model,
            usage=UsageBody(event.input_tokens, 0),
        )
        return _event(b"message_start", MessageStartEvent(message)) + _PING

    def _message_end(self, event: StreamEnd) -> bytes:
        usage = event.usage
        delta = MessageDeltaBody(anthropic_stop_reason(event.stop_reason), event.stop_sequence)
        message_delta = MessageDeltaEvent(delta, UsageBody(usage.input_tokens, usage.output_tokens))
        return _event(b"message_delta", message_delta) + _MESSAGE_STOP


def _started_block(block: TextBlock | ToolUseBlock | ThinkingBlock) -> Any:
    if type(block) is ToolUseBlock:
        return ToolUseContent(block.id, block.name, {})
    if type(block) is ThinkingBlock:
        return ThinkingContent("", "")
    return TextContent("")


def _event(name: bytes, payload: msgspec.Struct) -> bytes:
    return sse_event(JSON_ENCODER.encode(payload), name)


