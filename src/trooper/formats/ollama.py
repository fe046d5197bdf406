"""Ollama's native chat API (`POST /api/chat`): a provider format, with the client side
too (cheap, and it makes round trips testable). Streams are NDJSON, one object a line."""

from __future__ import annotations

import time
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from trooper.conversation import (
    ApiError,
    Block,
    BlockStart,
    BlockStop,
    Conversation,
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
from trooper.formats.blocks import BlockSequencer, WholeToolCalls
from trooper.formats.common import JSON_ENCODER, RAW_OBJECT, body_text, kind_from_status, log, new_id
from trooper.formats.decoding import MessageList, bad_request_from, claim_call, decode_extra
from trooper.formats.framing import NDJSON, FramedDecoder
from trooper.formats.images import image_base64, sniff_media_type
from trooper.formats.ingress import ApiSpace, Ingress
from trooper.formats.lossy import log_dropped_extra, replaced

NAME = "ollama"
CONTENT_TYPE = "application/json"
FRAMING = NDJSON  # how its streams are framed


def _sent_to_ollama(path: str) -> bool:
    return path.startswith("/api/")


# Served by pass-through only: Ollama's API is a provider's, not a client format of the pipeline.
INGRESS = Ingress(api=ApiSpace(
    ("/api/tags", "/api/show", "/api/version", "/api/ps", "/api/embed", "/api/embeddings", "/api/generate", "/api/chat"),
    path_mark=_sent_to_ollama,
))

USER_TEXT_SEPARATOR = "\n\n"  # Ollama content is one string; user text blocks are separate thoughts

# --- wire shapes ---


class FunctionCall(msgspec.Struct, gc=False):
    name: str
    arguments: dict[str, Any] = {}


class ToolCall(msgspec.Struct, omit_defaults=True, gc=False):
    function: FunctionCall
    id: str = ""  # newer Ollama versions carry one; older ones ignore it


class ChatMessage(msgspec.Struct, gc=False):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None | UnsetType = UNSET
    tool_calls: list[ToolCall] | None | UnsetType = UNSET
    thinking: str | None | UnsetType = UNSET
    tool_name: str | None | UnsetType = UNSET
    tool_call_id: str | None | UnsetType = UNSET


class FunctionDef(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    description: str = ""
    parameters: dict[str, Any] = {}


class ToolDef(msgspec.Struct, kw_only=True, gc=False):
    type: str = "function"
    function: FunctionDef


class Options(msgspec.Struct, omit_defaults=True, gc=False):
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    num_predict: int | None = None
    num_ctx: int | None = None
    stop: list[str] | None = None
    seed: int | None = None


class ChatRequest(msgspec.Struct, omit_defaults=True, gc=False):
    model: str
    messages: list[ChatMessage]
    stream: bool | UnsetType = UNSET  # Ollama streams unless told not to
    tools: list[ToolDef] | None = None
    options: Options | None = None
    format: str | dict[str, Any] | None = None


class ChatResponse(msgspec.Struct, gc=False):
    """A whole answer, or one line of a stream (the last has done=true and the counts)."""

    model: str = ""
    created_at: str = ""
    message: ChatMessage | None = None
    done: bool = False
    done_reason: str | None | UnsetType = UNSET
    prompt_eval_count: int | UnsetType = UNSET
    eval_count: int | UnsetType = UNSET
    error: str | None | UnsetType = UNSET


class ErrorBody(msgspec.Struct, gc=False):
    error: str = ""


_REQUEST = msgspec.json.Decoder(ChatRequest)
_KNOWN_FIELDS = frozenset(ChatRequest.__struct_fields__)
_RESPONSE = msgspec.json.Decoder(ChatResponse)
_ERROR = msgspec.json.Decoder(ErrorBody)
_NO_OPTIONS = Options()

# --- decode a client's request ---


def decode_request(body: bytes, path: str = "") -> Conversation:
    try:
        request = _REQUEST.decode(body)
        raw_fields = RAW_OBJECT.decode(body)
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    system: list[str] = []
    messages = MessageList()
    pending_calls: list[ToolUseBlock] = []  # results name their tool, not the call: match in order
    for message in request.messages:
        role = message.role
        if role == "system":
            system.append(message.content)
        elif role == "user":
            messages.add("user", _user_blocks_in(message))
        elif role == "assistant":
            blocks = _assistant_blocks_in(message)
            pending_calls.extend(b for b in blocks if type(b) is ToolUseBlock)
            messages.add("assistant", blocks)
        else:
            messages.add("user", [_tool_result_in(message, pending_calls)])
    options = request.options or Options()
    return Conversation(
        model=request.model,
        messages=messages.build(),
        system="\n\n".join(system),
        tools=tuple(Tool(t.function.name, t.function.description, t.function.parameters) for t in request.tools or ()),
        sampling=Sampling(
            max_tokens=options.num_predict,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            stop=tuple(options.stop or ()),
            seed=options.seed,
            response_format=_format_in(request.format),
        ),
        stream=request.stream is not False,
        extra=decode_extra(raw_fields, _KNOWN_FIELDS),
    )


def _user_blocks_in(message: ChatMessage) -> list[Block]:
    images = message.images or ()
    blocks: list[Block] = [TextBlock(message.content)] if message.content or not images else []
    for data in images:
        blocks.append(ImageBlock(media_type=sniff_media_type(data), data=data))
    return blocks


def _assistant_blocks_in(message: ChatMessage) -> list[Block]:
    blocks: list[Block] = []
    if message.thinking:
        blocks.append(ThinkingBlock(message.thinking))
    calls = message.tool_calls or ()
    if message.content or not calls:
        blocks.append(TextBlock(message.content))
    for call in calls:
        blocks.append(ToolUseBlock(call.id or new_id("call_"), call.function.name, call.function.arguments))
    return blocks


def _tool_result_in(message: ChatMessage, pending_calls: list[ToolUseBlock]) -> ToolResultBlock:
    call_id, name = claim_call(pending_calls, message.tool_call_id or "", message.tool_name or "")
    content = (TextBlock(message.content),) if message.content else ()
    return ToolResultBlock(call_id, content, name=name)


def _format_in(format: str | dict[str, Any] | None) -> Literal["json"] | dict[str, Any] | None:
    if isinstance(format, dict):
        return format
    return "json" if format == "json" else None


# --- encode a request for an Ollama upstream ---


def encode_request(conversation: Conversation, model: str, context_window: int | None = None) -> bytes:
    """`context_window` becomes `num_ctx`: Ollama otherwise uses its own small default and
    silently drops the start of a long prompt."""
    log_dropped_extra(conversation.extra, NAME)
    messages = [ChatMessage("system", conversation.system)] if conversation.system else []
    tool_names = {b.id: b.name for m in conversation.messages for b in m.content if type(b) is ToolUseBlock}
    for message in conversation.messages:
        if message.role == "user":
            _user_out(message, tool_names, messages)
        else:
            messages.append(_assistant_out(message))
    request = ChatRequest(
        model=model,
        messages=messages,
        stream=conversation.stream,
        tools=_tools_out(conversation.tools, conversation.tool_choice),
        options=_options_out(conversation.sampling, context_window),
        format=conversation.sampling.response_format,
    )
    return JSON_ENCODER.encode(request)


def _user_out(message: Message, tool_names: dict[str, str], messages: list[ChatMessage]) -> None:
    texts: list[str] = []
    images: list[str] = []
    for block in message.content:
        if type(block) is ToolResultBlock:
            messages.append(_tool_result_out(block, tool_names))
        elif type(block) is TextBlock:
            texts.append(block.text)
        elif type(block) is ImageBlock and (base64 := image_base64(block)) is not None:
            images.append(base64[1])
        else:
            texts.append(replaced(block, NAME).text)  # Ollama takes no image URLs
    if texts or images:
        messages.append(ChatMessage("user", USER_TEXT_SEPARATOR.join(texts), images=images or UNSET))


def _tool_result_out(result: ToolResultBlock, tool_names: dict[str, str]) -> ChatMessage:
    texts = [b.text if type(b) is TextBlock else replaced(b, NAME).text for b in result.content]
    name = result.name or tool_names.get(result.tool_use_id, "")
    return ChatMessage("tool", "\n\n".join(texts), tool_name=name, tool_call_id=result.tool_use_id)


def _assistant_out(message: Message) -> ChatMessage:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if type(block) is TextBlock:
            texts.append(block.text)
        elif type(block) is ToolUseBlock:
            calls.append(ToolCall(FunctionCall(block.name, block.input), block.id))
        elif type(block) is ThinkingBlock:
            thinking.append(block.text)
        else:
            texts.append(replaced(block, NAME).text)
    return ChatMessage(
        "assistant", "".join(texts), tool_calls=calls or UNSET, thinking="".join(thinking) if thinking else UNSET
    )


def _tools_out(tools: tuple[Tool, ...], choice: ToolChoice | None) -> list[ToolDef] | None:
    if not tools:
        return None
    if choice is not None and choice.mode == "none":
        return None  # Ollama has no tool_choice: not offering the tools is the same
    if choice is not None and choice.mode in ("any", "tool"):
        log.debug("tool_choice_dropped", target=NAME, mode=choice.mode)
    return [ToolDef(function=FunctionDef(t.name, t.description, t.input_schema)) for t in tools]


def _options_out(sampling: Sampling, context_window: int | None = None) -> Options | None:
    options = Options(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        num_predict=sampling.max_tokens,
        stop=list(sampling.stop) or None,
        seed=sampling.seed,
        num_ctx=context_window,
    )
    return None if options == _NO_OPTIONS else options

# --- whole responses ---

_STOP_REASONS: dict[str, StopReason] = {"stop": "end_turn", "length": "max_tokens"}
_DONE_REASONS: dict[str, str] = {"max_tokens": "length"}


def _stop_reason(done_reason: str | None | UnsetType, called_tools: bool) -> StopReason:
    if called_tools:
        return "tool_use"
    return _STOP_REASONS.get(done_reason or "stop", "end_turn")


def decode_response(body: bytes) -> Response:
    try:
        answer = _RESPONSE.decode(body)
    except msgspec.DecodeError as error:
        raise UpstreamError("bad_body", f"Ollama response: {error}") from None
    if answer.error:
        raise UpstreamError("bad_body", f"Ollama error: {answer.error}")
    message = answer.message or ChatMessage("assistant")
    content: list[Block] = []
    if message.thinking:
        content.append(ThinkingBlock(message.thinking))
    if message.content:
        content.append(TextBlock(message.content))
    for call in message.tool_calls or ():
        content.append(ToolUseBlock(call.id or new_id("call_"), call.function.name, call.function.arguments))
    return Response(
        id="",  # Ollama answers have no id; client encoders make one
        model=answer.model,
        content=tuple(content),
        stop_reason=_stop_reason(answer.done_reason, bool(message.tool_calls)),
        usage=Usage(answer.prompt_eval_count or 0, answer.eval_count or 0),
    )


def encode_response(response: Response, request: Conversation | None = None) -> bytes:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if type(block) is TextBlock:
            texts.append(block.text)
        elif type(block) is ThinkingBlock:
            thinking.append(block.text)
        elif type(block) is ToolUseBlock:
            calls.append(ToolCall(FunctionCall(block.name, block.input), block.id))
        else:
            texts.append(replaced(block, NAME).text)
    message = ChatMessage("assistant", "".join(texts), tool_calls=calls or UNSET, thinking="".join(thinking) if thinking else UNSET)
    return JSON_ENCODER.encode(_final_line(response.model, message, response.stop_reason, response.usage))


def _final_line(model: str, message: ChatMessage, stop_reason: StopReason, usage: Usage) -> ChatResponse:
    return ChatResponse(
        model=model,
        created_at=_now(),
        message=message,
        done=True,
        done_reason=_DONE_REASONS.get(stop_reason, "stop"),
        prompt_eval_count=usage.input_tokens,
        eval_count=usage.output_tokens,
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- errors ---


def decode_error(status: int, body: bytes) -> ApiError:
    try:
        message = _ERROR.decode(body).error
    except msgspec.DecodeError:
        message = ""
    return ApiError(status, kind_from_status(status), message or body_text(status, body))


def encode_error(error: ApiError) -> bytes:
    return JSON_ENCODER.encode(ErrorBody(error.message))


def encode_stream_error(error: ApiError) -> bytes:
    """An error inside a started stream: a line holding the error body, as Ollama writes one."""
    return encode_error(error) + b"\n"


# --- streams: upstream NDJSON -> canonical events ---


class StreamDecoder(FramedDecoder):
    """An Ollama NDJSON stream, in whole lines or chunks cut anywhere, as canonical events."""

    framing = FRAMING

    def __init__(self) -> None:
        super().__init__()
        self._blocks = BlockSequencer()
        self._started = False
        self._ended = False
        self._called_tools = False

    def end(self, events: list[StreamEvent]) -> None:
        if not self._ended:
            raise UpstreamError("truncated", "Ollama stream ended before done: true")

    def take(self, _name: bytes, line: bytes, events: list[StreamEvent]) -> None:
        if self._ended or not line.strip():
            return
        try:
            part = _RESPONSE.decode(line)
        except msgspec.DecodeError as error:
            raise UpstreamError("bad_stream", f"Ollama line: {error}") from None
        if part.error:
            raise UpstreamError("stream_error", part.error)
        if not self._started:
            self._started = True
            events.append(StreamStart("", part.model))
        message = part.message
        if message is not None:
            self._message(message, events)
        if part.done:
            self._blocks.close(events)
            usage = Usage(part.prompt_eval_count or 0, part.eval_count or 0)
            events.append(StreamEnd(_stop_reason(part.done_reason, self._called_tools), None, usage))
            self._ended = True

    def _message(self, message: ChatMessage, events: list[StreamEvent]) -> None:
        if message.thinking:
            events.append(ThinkingDelta(self._blocks.ensure("thinking", events), message.thinking))
        if message.content:
            events.append(TextDelta(self._blocks.ensure("text", events), message.content))
        for call in message.tool_calls or ():
            # Ollama sends each call whole: one block, its input in one delta.
            self._called_tools = True
            index = self._blocks.open(ToolUseBlock(call.id or new_id("call_"), call.function.name), events)
            events.append(ToolInputDelta(index, JSON_ENCODER.encode(call.function.arguments).decode()))
            self._blocks.close(events)


# --- streams: canonical events -> NDJSON for an Ollama client ---


class StreamEncoder:
    """Canonical events as Ollama's NDJSON lines. Tool input arrives in pieces but Ollama
    sends each call whole, so a call's line goes out when its block stops."""

    content_type = "application/x-ndjson"

    def __init__(self, request: Conversation) -> None:
        self._model = request.model
        self._calls = WholeToolCalls(NAME)

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            return self._line(ChatMessage("assistant", event.text))
        if type(event) is ThinkingDelta:
            return self._line(ChatMessage("assistant", "", thinking=event.text))
        if type(event) is ToolInputDelta:
            self._calls.add(event.index, event.partial_json)
            return b""
        if type(event) is BlockStart:
            self._calls.start(event)
            return b""
        if type(event) is BlockStop:
            return self._tool_call(event.index)
        if type(event) is StreamStart:
            self._model = event.model or self._model
            return b""
        if type(event) is StreamEnd:
            final = _final_line(self._model, ChatMessage("assistant"), event.stop_reason, event.usage)
            return JSON_ENCODER.encode(final) + b"\n"
        return b""

    def trailer(self) -> bytes:
        return b""

    def comment(self, text: str) -> bytes:
        return b""  # NDJSON has no comments, and Ollama clients parse every line

    def _tool_call(self, index: int) -> bytes:
        call = self._calls.stop(index)
        if call is None:
            return b""
        block, arguments = call
        return self._line(ChatMessage("assistant", "", tool_calls=[ToolCall(FunctionCall(block.name, arguments), block.id)]))

    def _line(self, message: ChatMessage) -> bytes:
        return JSON_ENCODER.encode(ChatResponse(model=self._model, created_at=_now(), message=message)) + b"\n"
