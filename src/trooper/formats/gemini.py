"""Google Gemini's generateContent (`POST /v1beta/models/{model}:generateContent`, and
`:streamGenerateContent?alt=sse`): a provider format, with the client side too (cheap,
and it makes round trips testable).

Gemini differs from the others in three ways that matter here: the model is named in
the URL, not the body; tool calls have no ids (newer models may send one), so results
are matched to calls by name and order; and a tool result must be a JSON object, so
text results travel as `{"content": "..."}` (`{"error": "..."}` for failures).
Tool and response schemas go as `parametersJsonSchema` / `responseJsonSchema`, which
take the JSON Schema clients write (the older `parameters` / `responseSchema` take an
OpenAPI subset and reject keywords such as `additionalProperties`).
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import msgspec

from trooper.conversation import (
    ApiError,
    Block,
    BlockStart,
    BlockStop,
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
from trooper.formats.blocks import BlockSequencer, WholeToolCalls
from trooper.formats.common import JSON_ENCODER, RAW_OBJECT, body_text, kind_from_status, log, new_id
from trooper.formats.decoding import MessageList, bad_request_from, claim_call, decode_extra
from trooper.formats.framing import SSE, FramedDecoder
from trooper.formats.images import image_base64
from trooper.formats.ingress import URL_MODEL, ApiSpace, Call, Grammar, Ingress, without
from trooper.formats.lossy import log_dropped_extra, replaced
from trooper.formats.sse import sse_event

NAME = "gemini"
CONTENT_TYPE = "application/json"
FRAMING = SSE  # how its streams are framed
JSON_MIME_TYPE = "application/json"

# --- wire shapes: parts (a "oneof": exactly one data field is set) ---


# Google's API takes proto field names in lowerCamel or snake_case, and the google-genai SDK
# sends some nested ones snake_cased (`mime_type`, `file_uri`, `parameters_json_schema`):
# both are read; ours are written in lowerCamel.


class Blob(msgspec.Struct, omit_defaults=True, gc=False):
    mimeType: str = ""
    data: str = ""
    mime_type: str = ""


class FileData(msgspec.Struct, omit_defaults=True, gc=False):
    fileUri: str = ""
    mimeType: str = ""
    file_uri: str = ""
    mime_type: str = ""


class FunctionCall(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    args: dict[str, Any] | None = None
    id: str = ""


class FunctionResponse(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    response: dict[str, Any] | None = None
    id: str = ""


class Part(msgspec.Struct, omit_defaults=True, gc=False):
    text: str | None = None
    thought: bool = False
    inlineData: Blob | None = None
    fileData: FileData | None = None
    functionCall: FunctionCall | None = None
    functionResponse: FunctionResponse | None = None


class Content(msgspec.Struct, omit_defaults=True, gc=False):
    parts: list[Part] = []
    role: str = ""


# --- wire shapes: request ---


class FunctionDeclaration(msgspec.Struct, omit_defaults=True, gc=False):
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    parametersJsonSchema: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None


class GeminiTool(msgspec.Struct, omit_defaults=True, gc=False):
    functionDeclarations: list[FunctionDeclaration] = []  # other tools (googleSearch…) are not carried


class FunctionCallingConfig(msgspec.Struct, omit_defaults=True, gc=False):
    mode: str = ""  # absent: Gemini's default, AUTO
    allowedFunctionNames: list[str] = []


class ToolConfig(msgspec.Struct, omit_defaults=True, gc=False):
    functionCallingConfig: FunctionCallingConfig | None = None


class GenerationConfig(msgspec.Struct, omit_defaults=True, gc=False):
    temperature: float | None = None
    topP: float | None = None
    topK: int | float | None = None  # the SDK writes it as a float (3.0)
    maxOutputTokens: int | None = None
    stopSequences: list[str] = []
    seed: int | None = None
    responseMimeType: str = ""
    responseSchema: dict[str, Any] | None = None
    responseJsonSchema: dict[str, Any] | None = None


class GenerateContentRequest(msgspec.Struct, omit_defaults=True, gc=False):
    contents: list[Content]
    systemInstruction: Content | None = None
    tools: list[GeminiTool] = []
    toolConfig: ToolConfig | None = None
    generationConfig: GenerationConfig | None = None


# --- wire shapes: response (whole, or one streamed chunk), errors ---


class Candidate(msgspec.Struct, omit_defaults=True, gc=False):
    content: Content | None = None
    finishReason: str | None = None
    index: int = 0


class UsageMetadata(msgspec.Struct, omit_defaults=True, gc=False):
    promptTokenCount: int = 0
    candidatesTokenCount: int = 0
    totalTokenCount: int = 0
    thoughtsTokenCount: int = 0


class PromptFeedback(msgspec.Struct, gc=False):
    blockReason: str | None = None


class ErrorDetail(msgspec.Struct, omit_defaults=True, gc=False):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[Any] = []


class GenerateContentResponse(msgspec.Struct, omit_defaults=True, gc=False):
    candidates: list[Candidate] = []
    usageMetadata: UsageMetadata | None = None
    modelVersion: str = ""
    responseId: str = ""
    promptFeedback: PromptFeedback | None = None
    error: ErrorDetail | None = None  # an error inside a stream


class ErrorBody(msgspec.Struct, gc=False):
    error: ErrorDetail


_REQUEST = msgspec.json.Decoder(GenerateContentRequest)
_KNOWN_FIELDS = frozenset(GenerateContentRequest.__struct_fields__)
_RESPONSE = msgspec.json.Decoder(GenerateContentResponse)
_ERROR = msgspec.json.Decoder(ErrorBody)
_NO_CONFIG = GenerationConfig()

# --- tables ---

_MODES_OUT: dict[str, str] = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
_MODES_IN: dict[str, Literal["auto", "any", "none"]] = {"AUTO": "auto", "ANY": "any", "NONE": "none", "VALIDATED": "auto"}
_STOP_REASONS: dict[str, StopReason] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "LANGUAGE": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "OTHER": "error",
}
_FINISH_REASONS: dict[StopReason, str] = {
    "end_turn": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "max_tokens": "MAX_TOKENS",
    "refusal": "SAFETY",
    "error": "OTHER",
}
_ERROR_KINDS: dict[str, ErrorKind] = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "OUT_OF_RANGE": "invalid_request",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "RESOURCE_EXHAUSTED": "rate_limit",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "UNAVAILABLE": "overloaded",
    "DEADLINE_EXCEEDED": "timeout",
}
_ERROR_STATUSES: dict[ErrorKind, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "request_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
}


def _stop_reason(finish_reason: str | None, called_tools: bool) -> StopReason:
    reason = _STOP_REASONS.get(finish_reason or "STOP", "end_turn")
    # Gemini says STOP after function calls.
    return "tool_use" if called_tools and reason == "end_turn" else reason


def _usage(metadata: UsageMetadata | None) -> Usage:
    if metadata is None:
        return Usage()
    # Thinking tokens are output the model produced (and is billed for).
    return Usage(metadata.promptTokenCount, metadata.candidatesTokenCount + metadata.thoughtsTokenCount)


# --- parts -> canonical blocks (client requests and upstream answers) ---


def _result_content_in(response: dict[str, Any] | None) -> tuple[tuple[TextBlock, ...], bool]:
    """A functionResponse's object as (text blocks, is_error): our own wrappers unwrap,
    any other object is shown as its JSON."""
    response = response or {}
    if len(response) == 1:
        (key, value), = response.items()
        if isinstance(value, str) and key in ("content", "output", "error"):
            return ((TextBlock(value),) if value else ()), key == "error"
    text = JSON_ENCODER.encode(response).decode() if response else ""
    return ((TextBlock(text),) if text else ()), False


def _part_in(part: Part, pending: list[ToolUseBlock]) -> Block | None:
    if part.text is not None:
        return ThinkingBlock(part.text) if part.thought else TextBlock(part.text)
    if part.functionCall is not None:
        call = part.functionCall
        block = ToolUseBlock(call.id or new_id("call_"), call.name, call.args or {})
        pending.append(block)
        return block
    if part.functionResponse is not None:
        result = part.functionResponse
        # The name on the wire is the tool's; an id, when there is one, says which call.
        call_id, name = (result.id, result.name) if result.id else claim_call(pending, "", result.name)
        content, is_error = _result_content_in(result.response)
        return ToolResultBlock(call_id, content, is_error, name)
    if part.inlineData is not None:
        return ImageBlock(media_type=part.inlineData.mimeType or part.inlineData.mime_type, data=part.inlineData.data)
    if part.fileData is not None:
        return ImageBlock(url=part.fileData.fileUri or part.fileData.file_uri)
    return None  # a part kind the canonical model has no place for (executableCode…)


def _blocks_in(parts: list[Part], pending: list[ToolUseBlock]) -> list[Block]:
    return [block for part in parts if (block := _part_in(part, pending)) is not None]


# --- decode a client's request ---


def decode_request(body: bytes, path: str = "") -> Conversation:
    """The model and whether to stream are in the URL, not the body: read from `path`
    (`/v1beta/models/{model}:streamGenerateContent`); without one, model "" and no stream."""
    try:
        request = _REQUEST.decode(body)
        raw_fields = RAW_OBJECT.decode(body)
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    messages = MessageList()
    pending: list[ToolUseBlock] = []
    for content in request.contents:
        messages.add("assistant" if content.role == "model" else "user", _blocks_in(content.parts, pending))
    system = request.systemInstruction
    tools = [d for t in request.tools for d in t.functionDeclarations]
    model, _, verb = path.rpartition("/models/")[2].partition(":")
    return Conversation(
        model=model,
        stream=verb == "streamGenerateContent",
        messages=messages.build(),
        system="\n\n".join(p.text or "" for p in system.parts) if system is not None else "",
        tools=tuple(Tool(d.name, d.description, d.parametersJsonSchema or d.parameters_json_schema or d.parameters or {}) for d in tools),
        tool_choice=_tool_choice_in(request.toolConfig),
        sampling=_sampling_in(request.generationConfig or _NO_CONFIG),
        extra=decode_extra(raw_fields, _KNOWN_FIELDS),
    )


class CountTokensRequest(msgspec.Struct, gc=False):
    contents: list[Content] = []
    generateContentRequest: msgspec.Raw | None = None


def decode_count_request(body: bytes, path: str) -> Conversation:
    """A `:countTokens` body: `contents`, or a whole `generateContentRequest`."""
    try:
        request = msgspec.json.decode(body, type=CountTokensRequest)
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    if request.generateContentRequest is not None:
        return decode_request(bytes(request.generateContentRequest), path)
    return decode_request(JSON_ENCODER.encode({"contents": request.contents}), path)


def _tool_choice_in(config: ToolConfig | None) -> ToolChoice | None:
    calling = config.functionCallingConfig if config is not None else None
    if calling is None:
        return None
    mode = _MODES_IN.get(calling.mode, "auto")
    if mode == "any" and len(calling.allowedFunctionNames) == 1:
        return ToolChoice("tool", calling.allowedFunctionNames[0])
    return ToolChoice(mode)


def _sampling_in(config: GenerationConfig) -> Sampling:
    schema = config.responseJsonSchema or config.responseSchema
    json_mode = config.responseMimeType == JSON_MIME_TYPE
    return Sampling(
        max_tokens=config.maxOutputTokens,
        temperature=config.temperature,
        top_p=config.topP,
        top_k=int(config.topK) if config.topK is not None else None,
        stop=tuple(config.stopSequences),
        seed=config.seed,
        response_format=schema if schema else "json" if json_mode else None,
    )


# --- encode a request for a Gemini upstream ---


def encode_request(conversation: Conversation, model: str) -> bytes:
    """The body for `models/{model}:generateContent` (the model goes in the URL)."""
    log_dropped_extra(conversation.extra, NAME)
    tool_names = {b.id: b.name for m in conversation.messages for b in m.content if type(b) is ToolUseBlock}
    contents = []
    for message in conversation.messages:
        parts = _parts_out(message, tool_names)
        if parts:  # Gemini rejects a content without parts
            contents.append(Content(parts, "model" if message.role == "assistant" else "user"))
    request = GenerateContentRequest(
        contents=contents,
        systemInstruction=Content([Part(text=conversation.system)]) if conversation.system else None,
        tools=_tools_out(conversation.tools),
        toolConfig=_tool_config_out(conversation.tool_choice) if conversation.tools else None,
        generationConfig=_generation_config_out(conversation.sampling),
    )
    return JSON_ENCODER.encode(request)


def _parts_out(message: Message, tool_names: dict[str, str]) -> list[Part]:
    parts: list[Part] = []
    for block in message.content:
        if type(block) is TextBlock:
            if block.text:  # Gemini rejects empty text parts
                parts.append(Part(text=block.text))
        elif type(block) is ToolUseBlock:
            parts.append(Part(functionCall=FunctionCall(block.name, block.input, block.id)))
        elif type(block) is ToolResultBlock:
            _result_out(block, tool_names, parts)
        elif type(block) is ImageBlock:
            parts.append(_image_out(block))
        elif type(block) is ThinkingBlock:
            if block.text:
                parts.append(Part(text=block.text, thought=True))
        else:
            parts.append(Part(text=replaced(block, NAME).text))
    return parts


def _result_out(result: ToolResultBlock, tool_names: dict[str, str], parts: list[Part]) -> None:
    """A functionResponse (its text wrapped in an object); images in the result follow it
    as parts of the same turn, which Gemini reads in order."""
    texts = [b.text for b in result.content if type(b) is TextBlock]
    images = [b for b in result.content if type(b) is ImageBlock]
    name = result.name or tool_names.get(result.tool_use_id, "") or "unknown"
    response = {"error" if result.is_error else "content": "\n\n".join(texts)}
    parts.append(Part(functionResponse=FunctionResponse(name, response, result.tool_use_id)))
    parts.extend(_image_out(image) for image in images)


def _image_out(block: ImageBlock) -> Part:
    base64 = image_base64(block)
    if base64 is not None:
        return Part(inlineData=Blob(base64[0] or "image/png", base64[1]))
    return Part(fileData=FileData(block.url, block.media_type or _guess_media_type(block.url)))


def _guess_media_type(url: str) -> str:
    """fileData needs a MIME type; a URL image's comes from its file name."""
    guessed = mimetypes.guess_type(urlsplit(url).path)[0]
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def _tools_out(tools: tuple[Tool, ...]) -> list[GeminiTool]:
    if not tools:
        return []
    declarations = [FunctionDeclaration(t.name, t.description, parametersJsonSchema=t.input_schema or None) for t in tools]
    return [GeminiTool(declarations)]


def _tool_config_out(choice: ToolChoice | None) -> ToolConfig | None:
    if choice is None:
        return None
    if not choice.parallel:
        log.debug("parallel_tool_calls_dropped", target=NAME)  # Gemini has no such switch
    names = [choice.name] if choice.mode == "tool" else []
    return ToolConfig(FunctionCallingConfig(_MODES_OUT[choice.mode], names))


def _generation_config_out(sampling: Sampling) -> GenerationConfig | None:
    response_format = sampling.response_format
    config = GenerationConfig(
        temperature=sampling.temperature,
        topP=sampling.top_p,
        topK=sampling.top_k,
        maxOutputTokens=sampling.max_tokens,
        stopSequences=list(sampling.stop),
        seed=sampling.seed,
        responseMimeType=JSON_MIME_TYPE if response_format is not None else "",
        responseJsonSchema=response_format if isinstance(response_format, dict) else None,
    )
    return None if config == _NO_CONFIG else config


# --- whole responses ---


def decode_response(body: bytes) -> Response:
    try:
        answer = _RESPONSE.decode(body)
    except msgspec.DecodeError as error:
        raise UpstreamError("bad_body", f"Gemini response: {error}") from None
    if answer.error is not None:
        raise UpstreamError("bad_body", f"Gemini error: {answer.error.message}")
    candidate = answer.candidates[0] if answer.candidates else None
    if candidate is None and (answer.promptFeedback is None or not answer.promptFeedback.blockReason):
        raise UpstreamError("bad_body", "Gemini response has no candidates")
    parts = candidate.content.parts if candidate is not None and candidate.content is not None else []
    content = _blocks_in(parts, [])
    called = any(type(b) is ToolUseBlock for b in content)
    # No candidate: the prompt itself was blocked.
    stop_reason = _stop_reason(candidate.finishReason, called) if candidate is not None else "refusal"
    return Response(
        id=answer.responseId,
        model=answer.modelVersion,
        content=tuple(content),
        stop_reason=stop_reason,
        usage=_usage(answer.usageMetadata),
    )


def encode_response(response: Response, request: Conversation | None = None) -> bytes:
    parts = [_answer_part_out(block) for block in response.content]
    return JSON_ENCODER.encode(_chunk(response.id, response.model, parts, response.usage, _FINISH_REASONS[response.stop_reason]))


def _answer_part_out(block: Block) -> Part:
    if type(block) is TextBlock:
        return Part(text=block.text)
    if type(block) is ThinkingBlock:
        return Part(text=block.text, thought=True)
    if type(block) is ToolUseBlock:
        return Part(functionCall=FunctionCall(block.name, block.input, block.id))
    return Part(text=replaced(block, NAME).text)


def _chunk(id: str, model: str, parts: list[Part], usage: Usage, finish_reason: str | None) -> GenerateContentResponse:
    total = usage.input_tokens + usage.output_tokens
    return GenerateContentResponse(
        candidates=[Candidate(Content(parts, "model"), finish_reason)],
        usageMetadata=UsageMetadata(usage.input_tokens, usage.output_tokens, total),
        modelVersion=model,
        responseId=id,
    )


# --- errors ---


def decode_error(status: int, body: bytes) -> ApiError:
    try:
        detail = _ERROR.decode(body).error
    except msgspec.DecodeError:
        return ApiError(status, kind_from_status(status), body_text(status, body))
    kind = _ERROR_KINDS.get(detail.status) or kind_from_status(status)
    if _says_bad_key(detail.details):
        kind = "authentication"  # Gemini answers a bad key with 400 INVALID_ARGUMENT
    return ApiError(status, kind, detail.message or body_text(status, body))


def _says_bad_key(details: list[Any]) -> bool:
    return any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details)


def encode_error(error: ApiError) -> bytes:
    status = _ERROR_STATUSES.get(error.kind, "INTERNAL")
    return JSON_ENCODER.encode(ErrorBody(ErrorDetail(error.status, error.message, status)))


def encode_stream_error(error: ApiError) -> bytes:
    """An error inside a started stream: a data event holding the error body, which the SDK raises on."""
    return sse_event(encode_error(error))


# --- streams: upstream bytes -> canonical events ---

_DATA_EVENT_NAMES = frozenset({b"", b"message"})


class StreamDecoder(FramedDecoder):
    """A `streamGenerateContent?alt=sse` stream, in chunks cut anywhere, as canonical
    events. Each SSE event is a whole GenerateContentResponse; function calls arrive
    whole. There is no end marker: the body ends after the chunk with a finishReason."""

    framing = FRAMING

    def __init__(self) -> None:
        super().__init__()
        self._blocks = BlockSequencer()
        self._started = False
        self._stop: StopReason | None = None
        self._called_tools = False
        self._usage = Usage()

    def take(self, name: bytes, data: bytes, events: list[StreamEvent]) -> None:
        if name in _DATA_EVENT_NAMES:
            self._take(data, events)

    def end(self, events: list[StreamEvent]) -> None:
        if self._stop is None:
            raise UpstreamError("truncated", "Gemini stream ended without a finishReason")
        self._blocks.close(events)
        events.append(StreamEnd(self._stop, None, self._usage))

    def _take(self, data: bytes, events: list[StreamEvent]) -> None:
        try:
            chunk = _RESPONSE.decode(data)
        except msgspec.DecodeError as error:
            raise UpstreamError("bad_stream", f"Gemini chunk: {error}") from None
        if chunk.error is not None:
            raise UpstreamError("stream_error", f"{chunk.error.status}: {chunk.error.message}")
        if not self._started:
            self._started = True
            events.append(StreamStart(chunk.responseId, chunk.modelVersion, _usage(chunk.usageMetadata).input_tokens))
        if chunk.usageMetadata is not None:
            self._usage = _usage(chunk.usageMetadata)  # cumulative: the last one counts
        for candidate in chunk.candidates:
            if candidate.index != 0:
                continue  # candidateCount > 1 is not carried
            if candidate.content is not None:
                for part in candidate.content.parts:
                    self._part(part, events)
            if candidate.finishReason:
                self._stop = _stop_reason(candidate.finishReason, self._called_tools)
        if not chunk.candidates and chunk.promptFeedback is not None and chunk.promptFeedback.blockReason:
            self._stop = "refusal"

    def _part(self, part: Part, events: list[StreamEvent]) -> None:
        if part.text:
            if part.thought:
                events.append(ThinkingDelta(self._blocks.ensure("thinking", events), part.text))
            else:
                events.append(TextDelta(self._blocks.ensure("text", events), part.text))
        elif part.functionCall is not None:
            call = part.functionCall
            self._called_tools = True
            index = self._blocks.open(ToolUseBlock(call.id or new_id("call_"), call.name), events)
            events.append(ToolInputDelta(index, JSON_ENCODER.encode(call.args or {}).decode()))
            self._blocks.close(events)
        elif part.inlineData is not None:
            note = replaced(ImageBlock(part.inlineData.mimeType, part.inlineData.data), "stream").text
            events.append(TextDelta(self._blocks.ensure("text", events), note))


# --- streams: canonical events -> SSE for a Gemini client ---


class StreamEncoder:
    """Canonical events as `streamGenerateContent?alt=sse` chunks. Tool input arrives in
    pieces but Gemini sends each call whole, so a call's chunk goes out when its block stops."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: Conversation) -> None:
        self._id = new_id("")
        self._model = request.model
        self._input = Usage()
        self._calls = WholeToolCalls(NAME)

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            return self._parts([Part(text=event.text)]) if event.text else b""
        if type(event) is ThinkingDelta:
            return self._parts([Part(text=event.text, thought=True)]) if event.text else b""
        if type(event) is ToolInputDelta:
            self._calls.add(event.index, event.partial_json)
            return b""
        if type(event) is BlockStart:
            self._calls.start(event)
            return b""
        if type(event) is BlockStop:
            call = self._calls.stop(event.index)
            if call is None:
                return b""
            block, arguments = call
            return self._parts([Part(functionCall=FunctionCall(block.name, arguments, block.id))])
        if type(event) is StreamStart:
            self._id = event.id or self._id
            self._model = event.model or self._model
            self._input = Usage(event.input_tokens, 0)
            return b""
        if type(event) is StreamEnd:
            chunk = _chunk(self._id, self._model, [Part(text="")], event.usage, _FINISH_REASONS[event.stop_reason])
            return sse_event(JSON_ENCODER.encode(chunk))
        return b""

    def trailer(self) -> bytes:
        return b""

    def comment(self, text: str) -> bytes:
        # google-genai parses every non-empty line of the stream as JSON, SSE comments
        # included: a Gemini client's stream carries no comment.
        return b""

    def _parts(self, parts: list[Part]) -> bytes:
        # Every chunk carries the prompt's token count, as Gemini's do.
        return sse_event(JSON_ENCODER.encode(_chunk(self._id, self._model, parts, self._input, None)))



# --- where it is served: the model and the verb are in the URL ---

_CALL = re.compile(r"/v1(?:beta)?/models/([^/:]+):([A-Za-z]+)\Z")
_GENERATE = {"generateContent": False, "streamGenerateContent": True}  # verb -> streamed


def _call(method: str, path: str, query: str) -> Call | None:
    """A POST to /v1beta/models/{model}:{verb} (or /v1/...): generate in the pipeline, count
    tokens, or pass another verb (embedContent...) through. The key (`?key=`) is never
    forwarded in the query, nor `alt`, which Trooper answers itself."""
    found = _CALL.match(path) if method == "POST" else None
    if found is None:
        return None
    model, verb = found.groups()
    if not URL_MODEL.match(model):
        return Call("refused", error=ApiError(400, "invalid_request", f"model name {model[:80]!r} is not valid"))
    if verb == "countTokens":
        return Call("count_tokens", without(query, ("alt", "key")))
    stream = _GENERATE.get(verb)
    if stream is None:
        return Call("passthrough", without(query, ("key",)))
    if stream and ("alt", "sse") not in parse_qsl(query):
        message = "streamGenerateContent is served as server-sent events only: add ?alt=sse (the SDKs do)"
        return Call("refused", error=ApiError(400, "invalid_request", message))
    return Call("pipeline", without(query, ("alt", "key")))


def _sent_by_gemini(path: str) -> bool:
    """/v1beta/..., or the v1 form of a model call: /v1/models/{model}:{verb}."""
    return path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path.rsplit("/", 1)[-1])


INGRESS = Ingress(
    grammar=Grammar(
        _call,
        "POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse, :countTokens (and /v1/models/...)",
        decode_count_request,
    ),
    api=ApiSpace(
        ("/v1beta/models", "/v1beta/files", "/v1beta/cachedContents", "/v1/models"),
        path_mark=_sent_by_gemini,
        key_prefixes=("AIza",),
        key_header="x-goog-api-key",
        key_param="key",
    ),
)
