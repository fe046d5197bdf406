"""OpenAI Chat Completions (`POST /v1/chat/completions`): client format and provider
format, also spoken by most OpenAI-compatible servers (Groq, vLLM, llama.cpp, …)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from trooper.conversation import (
    ApiError,
    Block,
    BlockStart,
    Conversation,
    ErrorKind,
    ImageBlock,
    Message,
    Response,
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
from trooper.formats.decoding import (
    MessageList,
    bad_request_at,
    bad_request_from,
    decode_at,
    decode_extra,
    lenient_tool_arguments,
    parse_tool_arguments,
)
from trooper.formats.framing import SSE, FramedDecoder
from trooper.formats.images import image_from_url, image_url
from trooper.formats.ingress import ApiSpace, Ingress, ListedModel
from trooper.formats.lossy import log_dropped_extra, replaced
from trooper.formats.sse import sse_comment, sse_event

NAME = "openai"
CONTENT_TYPE = "application/json"
FRAMING = SSE  # how its streams are framed


def encode_model_list(models: Sequence[ListedModel]) -> bytes:
    """Trooper's own models as GET /v1/models's list."""
    data = [{"id": m.id, "object": "model", "created": 0, "owned_by": m.provider} for m in models]
    return JSON_ENCODER.encode({"object": "list", "data": data})


# OpenAI's SDKs leave no mark: a path it shares (/v1/models, /v1/files) that no other vendor's
# SDK marked is OpenAI's, and so is the error shape of a request no vendor's SDK marked.
INGRESS = Ingress(
    paths=("/v1/chat/completions", "/chat/completions"),
    api=ApiSpace(
        (
            "/v1/chat/completions", "/v1/responses", "/v1/conversations", "/v1/completions", "/v1/embeddings",
            "/v1/moderations", "/v1/audio", "/v1/images", "/v1/files", "/v1/uploads", "/v1/batches",
            "/v1/vector_stores", "/v1/models", "/v1/fine_tuning",
        ),
        organisation=("/v1/organization",),  # projects, users, admin API keys, usage and costs
        key_prefixes=("sk-",),  # sk-proj-…, sk-svcacct-… (and OpenAI-compatible servers' sk-…)
        model_list=encode_model_list,
    ),
)

OPENAI_FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "error": "stop",
}
STOP_REASONS_FROM_OPENAI: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


# --- wire shapes: message content parts (tagged by "type") ---


class _Part(msgspec.Struct, tag_field="type", gc=False):
    pass


class TextPart(_Part, tag="text"):
    text: str


class ImageURL(msgspec.Struct, omit_defaults=True, gc=False):
    url: str
    detail: str = ""


class ImagePart(_Part, tag="image_url"):
    image_url: ImageURL


class RefusalPart(_Part, tag="refusal"):
    refusal: str


class AudioPart(_Part, tag="input_audio"):
    input_audio: Any = None


class FilePart(_Part, tag="file"):
    file: Any = None


UserPart = TextPart | ImagePart | AudioPart | FilePart

# --- wire shapes: messages (tagged by "role") ---


class FunctionCall(msgspec.Struct, gc=False):
    name: str
    arguments: str = ""


class ToolCall(msgspec.Struct, kw_only=True, gc=False):
    id: str = ""
    type: str = "function"
    function: FunctionCall


class _Message(msgspec.Struct, tag_field="role", omit_defaults=True, gc=False):
    pass


class SystemMessage(_Message, tag="system"):
    content: str | list[TextPart]


class DeveloperMessage(_Message, tag="developer"):
    content: str | list[TextPart]


class UserMessage(_Message, tag="user"):
    content: str | list[UserPart]


class AssistantMessage(_Message, tag="assistant"):
    content: str | list[TextPart | RefusalPart] | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None


class ToolMessage(_Message, tag="tool"):
    tool_call_id: str
    content: str | list[TextPart]


ChatMessage = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage

# --- wire shapes: request ---


class FunctionDef(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    description: str = ""
    parameters: dict[str, Any] = {}


class ToolDef(msgspec.Struct, gc=False):
    type: str = "function"
    function: FunctionDef | None = None  # None: a non-function tool ("custom")


class NamedFunction(msgspec.Struct, gc=False):
    name: str


class NamedToolChoice(msgspec.Struct, gc=False):
    type: Literal["function"]
    function: NamedFunction


class _Format(msgspec.Struct, tag_field="type", gc=False):
    pass


class TextFormat(_Format, tag="text"):
    pass


class JSONObjectFormat(_Format, tag="json_object"):
    pass


class JSONSchemaSpec(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    schema: dict[str, Any] = {}
    strict: bool | None = None


class JSONSchemaFormat(_Format, tag="json_schema"):
    json_schema: JSONSchemaSpec


class ChatRequest(msgspec.Struct, omit_defaults=True, gc=False):
    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: TextFormat | JSONObjectFormat | JSONSchemaFormat | None = None
    tools: list[ToolDef] = []
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None


# --- wire shapes: response, errors ---


class ResponseMessage(msgspec.Struct, gc=False):
    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None | UnsetType = UNSET
    reasoning_content: str | None | UnsetType = UNSET  # DeepSeek, vLLM
    reasoning: str | None | UnsetType = UNSET  # Groq, OpenRouter


class Choice(msgspec.Struct, gc=False):
    index: int = 0
    message: ResponseMessage = msgspec.field(default_factory=ResponseMessage)
    finish_reason: str | None = None
    logprobs: Any = None


class CompletionUsage(msgspec.Struct, gc=False):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(msgspec.Struct, gc=False):
    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = []
    usage: CompletionUsage | None = None


class ErrorDetail(msgspec.Struct, gc=False):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class ErrorBody(msgspec.Struct, gc=False):
    error: ErrorDetail | str


class LenientChatRequest(ChatRequest):
    """The request with its messages left raw, read one by one when the typed read meets a
    role or content part type this code doesn't know."""

    messages: list[msgspec.Raw]  # type: ignore[assignment]  # narrower in the strict read; raw here


class RoleAndContent(msgspec.Struct, gc=False):
    role: str
    content: str | list[msgspec.Raw] | None = None


class PartType(msgspec.Struct, gc=False):
    type: str


_REQUEST = msgspec.json.Decoder(ChatRequest)
_LENIENT_REQUEST = msgspec.json.Decoder(LenientChatRequest)
_MESSAGE = msgspec.json.Decoder(ChatMessage)
_ROLE_AND_CONTENT = msgspec.json.Decoder(RoleAndContent)
_PART_TYPE = msgspec.json.Decoder(PartType)
_EMPTY_TEXT = msgspec.Raw(b'{"type":"text","text":""}')
_ROLES = frozenset(kind.__struct_config__.tag for kind in ChatMessage.__args__)
_PART_TYPES = frozenset(kind.__struct_config__.tag for kind in (TextPart, ImagePart, RefusalPart, AudioPart, FilePart))
# stream_options goes to `extra` too: the client stream encoder reads include_usage there.
_KNOWN_FIELDS = frozenset(ChatRequest.__struct_fields__) - {"stream_options"}
_RESPONSE = msgspec.json.Decoder(ChatCompletion)
_ERROR = msgspec.json.Decoder(ErrorBody)
_TOOL_CHOICE_MODES: dict[str, Literal["auto", "any", "none"]] = {"auto": "auto", "required": "any", "none": "none"}
_REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")

# --- decode a client's request ---


def decode_request(body: bytes, path: str = "") -> Conversation:
    """The client's request as a Conversation. A role or content part type this code has no
    model for is listed in `untranslatable` (the fast path still carries it; translation
    refuses it by name) instead of failing the request."""
    untranslatable: list[str] = []
    try:
        raw_fields = RAW_OBJECT.decode(body)
        try:
            request: ChatRequest = _REQUEST.decode(body)
            chat: list[Any] = request.messages
        except msgspec.ValidationError:
            request = _LENIENT_REQUEST.decode(body)  # raises the same error when leniency doesn't help
            chat = [_lenient_message(raw, f"messages.{i}", untranslatable) for i, raw in enumerate(request.messages)]
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    system: list[str] = []
    messages = MessageList()
    for position, message in enumerate(chat):
        if message is None:
            continue
        if type(message) is UserMessage:
            messages.add("user", _user_blocks_in(message.content))
        elif type(message) is AssistantMessage:
            messages.add("assistant", _assistant_blocks_in(message, f"messages.{position}"))
        elif type(message) is ToolMessage:
            # Tool results ride in a user message, as in Anthropic's model; the list
            # merges consecutive results (and a following user turn) into one message.
            messages.add("user", [ToolResultBlock(message.tool_call_id, _texts_in(message.content))])
        else:
            system.append(_text_in(message.content))
    return Conversation(
        model=request.model,
        messages=messages.build(),
        system="\n\n".join(system),
        tools=_tools_in(request.tools),
        tool_choice=_tool_choice_in(request.tool_choice, request.parallel_tool_calls),
        sampling=Sampling(
            max_tokens=request.max_completion_tokens or request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=(request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ()),
            seed=request.seed,
            response_format=_response_format_in(request.response_format),
        ),
        stream=request.stream,
        extra=decode_extra(raw_fields, _KNOWN_FIELDS),
        untranslatable=tuple(untranslatable),
    )


def _lenient_message(raw: msgspec.Raw, where: str, untranslatable: list[str]) -> Any:
    """One message read on its own: typed, or None for a role this code doesn't know, or
    typed without the content parts of a type it doesn't know (each listed as
    untranslatable). Anything else wrong with it is the client's mistake: a 400 naming it."""
    try:
        return _MESSAGE.decode(raw)
    except msgspec.ValidationError as error:
        shape = decode_at(_ROLE_AND_CONTENT, raw, where)
        if shape.role not in _ROLES:
            untranslatable.append(f"{where}: role '{shape.role}'")
            return None
        parts = shape.content if isinstance(shape.content, list) else []
        unknown = []
        for position, part in enumerate(parts):
            kind = decode_at(_PART_TYPE, part, f"{where}.content.{position}").type
            if kind not in _PART_TYPES:
                unknown.append(position)
                untranslatable.append(f"{where}.content.{position}: content part type '{kind}'")
        if not unknown:
            raise bad_request_at(error, where) from None
    # Each unknown part stands in as an empty text part, so the rest keep their places.
    fields = RAW_OBJECT.decode(raw)
    fields["content"] = msgspec.Raw(JSON_ENCODER.encode([_EMPTY_TEXT if i in unknown else p for i, p in enumerate(parts)]))
    return decode_at(_MESSAGE, JSON_ENCODER.encode(fields), where)


def _text_in(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "\n\n".join(part.text for part in content)


def _texts_in(content: str | list[TextPart]) -> tuple[TextBlock, ...]:
    if isinstance(content, str):
        return (TextBlock(content),) if content else ()
    return tuple(TextBlock(part.text) for part in content)


def _user_blocks_in(content: str | list[Any]) -> list[Block]:
    if isinstance(content, str):
        return [TextBlock(content)]
    blocks: list[Block] = []
    for part in content:
        if type(part) is TextPart:
            blocks.append(TextBlock(part.text))
        elif type(part) is ImagePart:
            blocks.append(image_from_url(part.image_url.url))
        else:
            blocks.append(TextBlock("[audio omitted]" if type(part) is AudioPart else "[file omitted]"))
    return blocks


def _assistant_blocks_in(message: AssistantMessage, where: str) -> list[Block]:
    blocks: list[Block] = []
    content = message.content
    calls = message.tool_calls or ()
    if isinstance(content, str):
        if content or not calls:
            blocks.append(TextBlock(content))
    elif content:
        blocks.extend(TextBlock(part.text if isinstance(part, TextPart) else part.refusal) for part in content)
    elif message.refusal:
        blocks.append(TextBlock(message.refusal))
    for position, call in enumerate(calls):
        arguments = parse_tool_arguments(call.function.arguments, f"{where}.tool_calls.{position}.function.arguments")
        blocks.append(ToolUseBlock(call.id or new_id("call_"), call.function.name, arguments))
    if not blocks:
        blocks.append(TextBlock(""))
    return blocks


def _tools_in(tools: list[ToolDef]) -> tuple[Tool, ...]:
    kept = tuple(Tool(t.function.name, t.function.description, t.function.parameters) for t in tools if t.function is not None)
    if len(kept) < len(tools):
        log.debug("tools_dropped", source=NAME, types=[t.type for t in tools if t.function is None])
    return kept


def _tool_choice_in(choice: str | NamedToolChoice | None, parallel: bool | None) -> ToolChoice | None:
    if choice is None and parallel is None:
        return None
    parallel = parallel is not False
    if isinstance(choice, NamedToolChoice):
        return ToolChoice("tool", choice.function.name, parallel)
    return ToolChoice(_TOOL_CHOICE_MODES[choice or "auto"], "", parallel)


def _response_format_in(response_format: _Format | None) -> Literal["json"] | dict[str, Any] | None:
    if type(response_format) is JSONObjectFormat:
        return "json"
    if type(response_format) is JSONSchemaFormat:
        return response_format.json_schema.schema
    return None


# --- encode a request for an OpenAI-compatible upstream ---


def encode_request(conversation: Conversation, model: str) -> bytes:
    log_dropped_extra(conversation.extra, NAME)
    sampling = conversation.sampling
    if sampling.top_k is not None:
        log.debug("sampling_dropped", target=NAME, fields=["top_k"])
    messages: list[ChatMessage] = [SystemMessage(conversation.system)] if conversation.system else []
    for message in conversation.messages:
        if message.role == "user":
            _user_out(message, messages)
        else:
            messages.append(_assistant_out(message))
    tools = [ToolDef("function", FunctionDef(t.name, t.description, t.input_schema)) for t in conversation.tools]
    choice = conversation.tool_choice
    reasoning = model.startswith(_REASONING_MODEL_PREFIXES)
    request = ChatRequest(
        model=model,
        messages=messages,
        # max_tokens where the model takes it (more compatible servers do); OpenAI's
        # reasoning models refuse it and take only max_completion_tokens.
        max_tokens=None if reasoning else sampling.max_tokens,
        max_completion_tokens=sampling.max_tokens if reasoning else None,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        stop=list(sampling.stop) or None,
        seed=sampling.seed,
        response_format=_response_format_out(sampling.response_format),
        tools=tools,
        tool_choice=_tool_choice_out(choice),
        parallel_tool_calls=False if tools and choice is not None and not choice.parallel else None,
        stream=conversation.stream,
        stream_options={"include_usage": True} if conversation.stream else None,
    )
    return JSON_ENCODER.encode(request)


def _user_out(message: Message, messages: list[ChatMessage]) -> None:
    """Tool results become `tool` messages (which must directly follow the assistant's
    calls); the rest of the user turn follows them as one user message."""
    parts: list[UserPart] = []
    for block in message.content:
        if type(block) is ToolResultBlock:
            messages.append(ToolMessage(block.tool_use_id, _result_content_out(block)))
        elif type(block) is TextBlock:
            parts.append(TextPart(block.text))
        elif type(block) is ImageBlock:
            parts.append(ImagePart(ImageURL(image_url(block))))
        else:
            parts.append(TextPart(replaced(block, NAME).text))
    if parts:
        first = parts[0]
        messages.append(UserMessage(first.text if len(parts) == 1 and type(first) is TextPart else parts))


def _result_content_out(result: ToolResultBlock) -> str | list[TextPart]:
    texts = [b.text if type(b) is TextBlock else replaced(b, NAME).text for b in result.content]
    if len(texts) == 1:
        return texts[0]
    return [TextPart(text) for text in texts] if texts else ""


def _assistant_out(message: Message) -> AssistantMessage:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if type(block) is TextBlock:
            texts.append(block.text)
        elif type(block) is ToolUseBlock:
            arguments = JSON_ENCODER.encode(block.input).decode()
            calls.append(ToolCall(id=block.id, function=FunctionCall(block.name, arguments)))
        else:
            texts.append(replaced(block, NAME).text)
    content = "".join(texts) if texts or not calls else None
    return AssistantMessage(content, calls or None)


def _tool_choice_out(choice: ToolChoice | None) -> Literal["auto", "none", "required"] | NamedToolChoice | None:
    if choice is None:
        return None
    if choice.mode == "tool":
        return NamedToolChoice("function", NamedFunction(choice.name))
    return "required" if choice.mode == "any" else choice.mode


def _response_format_out(response_format: Literal["json"] | dict[str, Any] | None) -> JSONObjectFormat | JSONSchemaFormat | None:
    if response_format is None:
        return None
    if response_format == "json":
        return JSONObjectFormat()
    return JSONSchemaFormat(JSONSchemaSpec("response", response_format))


# --- whole responses ---


def decode_response(body: bytes) -> Response:
    try:
        completion = _RESPONSE.decode(body)
    except msgspec.DecodeError as error:
        raise UpstreamError("bad_body", f"OpenAI response: {error}") from None
    if not completion.choices:
        raise UpstreamError("bad_body", "OpenAI response has no choices")
    choice = completion.choices[0]
    message = choice.message
    content: list[Block] = []
    reasoning = message.reasoning_content or message.reasoning
    if reasoning:
        content.append(ThinkingBlock(reasoning))
    text = message.content or message.refusal
    if text:
        content.append(TextBlock(text))
    for call in message.tool_calls or ():
        arguments = lenient_tool_arguments(call.function.arguments, NAME)
        content.append(ToolUseBlock(call.id or new_id("call_"), call.function.name, arguments))
    usage = completion.usage or CompletionUsage()
    return Response(
        id=completion.id,
        model=completion.model,
        content=tuple(content),
        stop_reason=_stop_reason(choice.finish_reason, bool(message.tool_calls)),
        usage=Usage(usage.prompt_tokens, usage.completion_tokens),
    )


def _stop_reason(finish_reason: str | None, called_tools: bool) -> StopReason:
    reason = STOP_REASONS_FROM_OPENAI.get(finish_reason or "stop", "end_turn")
    # Some compatible servers say "stop" after tool calls.
    return "tool_use" if called_tools and reason == "end_turn" else reason


def encode_response(response: Response, request: Conversation | None = None) -> bytes:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if type(block) is TextBlock:
            texts.append(block.text)
        elif type(block) is ToolUseBlock:
            calls.append(ToolCall(id=block.id, function=FunctionCall(block.name, JSON_ENCODER.encode(block.input).decode())))
        elif type(block) is ThinkingBlock:
            thinking.append(block.text)
        else:
            texts.append(replaced(block, NAME).text)
    message = ResponseMessage(
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls or UNSET,
        reasoning_content="".join(thinking) if thinking else UNSET,
    )
    usage = response.usage
    completion = ChatCompletion(
        id=response.id or new_id("chatcmpl-"),
        created=int(time.time()),
        model=response.model,
        choices=[Choice(0, message, OPENAI_FINISH_REASONS[response.stop_reason])],
        usage=CompletionUsage(usage.input_tokens, usage.output_tokens, usage.input_tokens + usage.output_tokens),
    )
    return JSON_ENCODER.encode(completion)


# --- errors ---

# OpenAI's `type` is loose (a bad key comes as invalid_request_error), so `code` speaks first.
_KINDS_BY_CODE: dict[str, ErrorKind] = {
    "invalid_api_key": "authentication",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "model_not_found": "not_found",
    "request_too_large": "request_too_large",
    "overloaded": "overloaded",
    "timeout": "timeout",
}
_KINDS_BY_TYPE: dict[str, ErrorKind] = {
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "rate_limit_error": "rate_limit",
    "insufficient_quota": "rate_limit",
    "requests": "rate_limit",
    "tokens": "rate_limit",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}
ERROR_SHAPES: dict[ErrorKind, tuple[str, str | None]] = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("authentication_error", "invalid_api_key"),
    "permission": ("permission_error", None),
    "not_found": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
    "timeout": ("timeout_error", "timeout"),
}


def decode_error(status: int, body: bytes) -> ApiError:
    try:
        error = _ERROR.decode(body).error
    except msgspec.DecodeError:
        return ApiError(status, kind_from_status(status), body_text(status, body))
    if isinstance(error, str):
        return ApiError(status, kind_from_status(status), error or body_text(status, body))
    kind = _KINDS_BY_CODE.get(str(error.code)) or _KINDS_BY_TYPE.get(error.type or "") or kind_from_status(status)
    return ApiError(status, kind, error.message or body_text(status, body))


def encode_error(error: ApiError) -> bytes:
    error_type, code = ERROR_SHAPES.get(error.kind, ("server_error", None))
    return JSON_ENCODER.encode(ErrorBody(ErrorDetail(error.message, error_type, None, code)))


def encode_stream_error(error: ApiError) -> bytes:
    """An error inside a started stream: a data event holding the error body, which the SDKs raise on."""
    return sse_event(encode_error(error))


# --- streams: wire shapes (chat.completion.chunk) ---


class FunctionDelta(msgspec.Struct, gc=False):
    name: str | None | UnsetType = UNSET
    arguments: str | None | UnsetType = UNSET


class ToolCallDelta(msgspec.Struct, gc=False):
    index: int | None = 0
    id: str | None | UnsetType = UNSET
    type: str | None | UnsetType = UNSET
    function: FunctionDelta | None | UnsetType = UNSET


class Delta(msgspec.Struct, gc=False):
    role: str | None | UnsetType = UNSET
    content: str | None | UnsetType = UNSET
    reasoning_content: str | None | UnsetType = UNSET
    reasoning: str | None | UnsetType = UNSET
    refusal: str | None | UnsetType = UNSET
    tool_calls: list[ToolCallDelta] | None | UnsetType = UNSET


class ChunkChoice(msgspec.Struct, gc=False):
    index: int = 0
    delta: Delta | None = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any = None


class Chunk(msgspec.Struct, gc=False):
    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] | None = []
    usage: CompletionUsage | None | UnsetType = UNSET
    error: ErrorDetail | str | None | UnsetType = UNSET


_CHUNK = msgspec.json.Decoder(Chunk)
_DATA_EVENT_NAMES = frozenset({b"", b"message", b"error"})
_DONE = b"[DONE]"

# --- streams: upstream bytes -> canonical events ---


class StreamDecoder(FramedDecoder):
    """An OpenAI chat.completion.chunk stream, in chunks cut anywhere, as canonical events."""

    framing = FRAMING

    def __init__(self) -> None:
        super().__init__()
        self._blocks = BlockSequencer()
        self._tool_blocks: dict[int | None, tuple[int, str]] = {}  # tool_calls index -> (our index, call id)
        self._started = False
        self._ended = False
        self._finish_reason: str | None = None
        self._usage = Usage()

    def take(self, name: bytes, data: bytes, events: list[StreamEvent]) -> None:
        if name in _DATA_EVENT_NAMES:
            self._take(data, events)

    def end(self, events: list[StreamEvent]) -> None:
        if not self._ended:
            # Without [DONE], a finish_reason still says the answer is whole.
            if self._finish_reason is None:
                raise UpstreamError("truncated", "OpenAI stream ended without finish_reason or [DONE]")
            self._end(events)

    def _take(self, data: bytes, events: list[StreamEvent]) -> None:
        if self._ended:
            return
        if data.startswith(_DONE):
            self._start("", "", events)
            self._end(events)
            return
        try:
            chunk = _CHUNK.decode(data)
        except msgspec.DecodeError as error:
            raise UpstreamError("bad_stream", f"OpenAI chunk: {error}") from None
        if chunk.error:
            problem = chunk.error
            raise UpstreamError("stream_error", problem if isinstance(problem, str) else problem.message)
        self._start(chunk.id, chunk.model, events)
        if chunk.usage:
            self._usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue  # n > 1 is not carried
            if choice.delta is not None:
                self._delta(choice.delta, events)
            if choice.finish_reason:
                self._finish_reason = choice.finish_reason
                self._blocks.close(events)

    def _start(self, id: str, model: str, events: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            events.append(StreamStart(id, model))

    def _delta(self, delta: Delta, events: list[StreamEvent]) -> None:
        reasoning = delta.reasoning_content or delta.reasoning
        if reasoning:
            events.append(ThinkingDelta(self._blocks.ensure("thinking", events), reasoning))
        text = delta.content or delta.refusal
        if text:
            events.append(TextDelta(self._blocks.ensure("text", events), text))
        if delta.tool_calls:
            for call in delta.tool_calls:
                self._tool_delta(call, events)

    def _tool_delta(self, call: ToolCallDelta, events: list[StreamEvent]) -> None:
        function = call.function or FunctionDelta()
        known = self._tool_blocks.get(call.index)
        # A new index, or (servers that omit the index) a new id, starts a new call.
        if known is None or (call.id and call.id != known[1]):
            call_id = call.id or new_id("call_")
            index = self._blocks.open(ToolUseBlock(call_id, function.name or ""), events)
            self._tool_blocks[call.index] = (index, call_id)
        else:
            index = known[0]
        if function.arguments:
            if index == self._blocks.open_index:
                events.append(ToolInputDelta(index, function.arguments))
            else:
                log.warning("tool_arguments_out_of_order", source=NAME, tool_index=call.index)

    def _end(self, events: list[StreamEvent]) -> None:
        self._blocks.close(events)
        stop_reason = _stop_reason(self._finish_reason, bool(self._tool_blocks))
        events.append(StreamEnd(stop_reason, None, self._usage))
        self._ended = True


# --- streams: canonical events -> the client's bytes ---


class StreamEncoder:
    """Canonical events as the chat.completion.chunk stream OpenAI's SDKs expect."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: Conversation) -> None:
        options = request.extra.get("stream_options")
        self._include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self._model = request.model
        self._tool_indices: dict[int, int] = {}  # our block index -> tool_calls index
        self._begin(new_id("chatcmpl-"), request.model)

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            # The hot path: splice the text into a prepared chunk instead of building one.
            return self._text_prefix + JSON_ENCODER.encode(event.text) + self._delta_suffix
        if type(event) is ToolInputDelta:
            position = self._tool_indices.get(event.index)
            if position is None:
                return b""
            arguments = FunctionDelta(arguments=event.partial_json)
            return self._chunk(Delta(tool_calls=[ToolCallDelta(position, function=arguments)]))
        if type(event) is ThinkingDelta:
            return self._chunk(Delta(reasoning_content=event.text))
        if type(event) is BlockStart:
            return self._tool_call_start(event) if type(event.block) is ToolUseBlock else b""
        if type(event) is StreamStart:
            self._begin(event.id or new_id("chatcmpl-"), event.model or self._model)
            return self._chunk(Delta(role="assistant", content=""))
        if type(event) is StreamEnd:
            return self._end(event)
        return b""  # BlockStop: OpenAI has no such chunk

    def trailer(self) -> bytes:
        return b"data: [DONE]\n\n"

    def comment(self, text: str) -> bytes:
        return sse_comment(text)

    def _begin(self, id: str, model: str) -> None:
        self._id = id
        self._model = model
        self._created = int(time.time())
        template = JSON_ENCODER.encode(Chunk(id, created=self._created, model=model, choices=[ChunkChoice(0, Delta(content=""))]))
        head, _, tail = template.partition(b'"content":""')
        self._text_prefix = b"data: " + head + b'"content":'
        self._delta_suffix = tail + b"\n\n"

    def _tool_call_start(self, event: BlockStart) -> bytes:
        block: ToolUseBlock = event.block  # type: ignore[assignment]  # called for a tool_use start only
        position = len(self._tool_indices)
        self._tool_indices[event.index] = position
        call = ToolCallDelta(position, block.id, "function", FunctionDelta(block.name, ""))
        return self._chunk(Delta(tool_calls=[call]))

    def _end(self, event: StreamEnd) -> bytes:
        finished = self._chunk(Delta(), OPENAI_FINISH_REASONS[event.stop_reason])
        if not self._include_usage:
            return finished
        usage = event.usage
        totals = CompletionUsage(usage.input_tokens, usage.output_tokens, usage.input_tokens + usage.output_tokens)
        return finished + sse_event(JSON_ENCODER.encode(Chunk(self._id, created=self._created, model=self._model, usage=totals)))

    def _chunk(self, delta: Delta, finish_reason: str | None = None) -> bytes:
        chunk = Chunk(self._id, created=self._created, model=self._model, choices=[ChunkChoice(0, delta, finish_reason)])
        return sse_event(JSON_ENCODER.encode(chunk))
