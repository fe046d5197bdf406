"""OpenAI's Responses API (`POST /v1/responses`): client format (Codex CLI, openai-agents,
the Vercel AI SDK's default OpenAI model), and provider format for OpenAI itself, which
takes it natively on the fast path.

What differs from Chat Completions: the conversation is a list of typed *items* (messages,
`function_call`, `function_call_output`, `reasoning`…) rather than role messages; the system
prompt is `instructions`; tools are flat (`{"type": "function", "name": …}`); a stream is a
sequence of typed events (`response.created` … `response.output_text.delta` …
`response.completed`), each numbered by `sequence_number`, with no `[DONE]`.

Reasoning items (encrypted, provider-bound) travel untouched on the fast path and are dropped,
with a debug log, when translating. An `item_reference`, and a `previous_response_id` naming
an answer Trooper translated, are resolved from what Trooper handed out lately
(response_items.py); one naming an answer OpenAI wrote goes to OpenAI as is (it keeps them),
and translating it is refused with a 400 naming it.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from trooper.conversation import (
    ApiError,
    BadRequest,
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
    ToolChoiceMode,
    ToolInputDelta,
    ToolResultBlock,
    ToolUseBlock,
    UpstreamError,
    Usage,
)
from trooper.formats import openai
from trooper.formats.blocks import BlockSequencer
from trooper.formats.common import JSON_ENCODER, RAW_OBJECT, log, new_id
from trooper.formats.decoding import (
    MessageList,
    bad_request_from,
    decode_extra,
    lenient_tool_arguments,
    parse_tool_arguments,
)
from trooper.formats.framing import SSE, FramedDecoder
from trooper.formats.images import image_from_url, image_url
from trooper.formats.ingress import Ingress
from trooper.formats.lossy import log_dropped_extra, replaced
from trooper.formats.response_items import recall, recall_response, remember, remember_response
from trooper.formats.sse import sse_comment, sse_event

NAME = "responses"
CONTENT_TYPE = "application/json"
FRAMING = SSE  # how its streams are framed
INGRESS = Ingress(paths=("/v1/responses", "/responses"), vendor="openai")  # its API space is in openai.py

# --- wire shapes: request (every field optional: item and part kinds are told by `type`,
# and kinds the canonical model has no place for are skipped, not refused) ---


class Part(msgspec.Struct, gc=False):
    type: str = ""
    text: str = ""
    refusal: str = ""
    image_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class Item(msgspec.Struct, gc=False):
    type: str = "message"  # an "easy" message ({"role", "content"}) has no type
    role: str = ""
    content: str | list[Part] | None = None
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    output: str | list[Part] | None = None
    id: str | None = None


class FunctionTool(msgspec.Struct, omit_defaults=True, gc=False):
    type: str = "function"
    name: str = ""
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceObject(msgspec.Struct, gc=False):
    type: str
    name: str = ""


class TextFormat(msgspec.Struct, omit_defaults=True, gc=False):
    type: str = "text"
    name: str = ""
    schema: dict[str, Any] | None = None
    strict: bool | None = None


class TextConfig(msgspec.Struct, omit_defaults=True, gc=False):
    format: TextFormat | None = None


class ResponsesRequest(msgspec.Struct, omit_defaults=True, gc=False):
    model: str = ""
    input: str | list[Item] = []
    instructions: str | None = None
    tools: list[FunctionTool] = []
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    text: TextConfig | None = None
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = None


_REQUEST = msgspec.json.Decoder(ResponsesRequest)
_KNOWN_FIELDS = frozenset(ResponsesRequest.__struct_fields__) - {"store"}
_TOOL_CHOICE_MODES: dict[str, ToolChoiceMode] = {"auto": "auto", "required": "any", "none": "none"}
_SYSTEM_ROLES = ("system", "developer")

# --- decode a client's request ---


def decode_request(body: bytes, path: str = "") -> Conversation:
    try:
        request = _REQUEST.decode(body)
        raw_fields = RAW_OBJECT.decode(body)
    except msgspec.DecodeError as error:
        raise bad_request_from(error) from None
    untranslatable: list[str] = []
    if not request.model:
        raise BadRequest("model: missing required field")
    system = [request.instructions] if request.instructions else []  # the earlier ones are not carried over
    messages = MessageList()
    if request.previous_response_id:
        earlier = recall_response(request.previous_response_id)
        if earlier is None:  # one OpenAI answered (it keeps it), or one this process no longer holds
            untranslatable.append(f"previous_response_id '{request.previous_response_id[:64]}' (a conversation only OpenAI keeps)")
        for message in earlier or ():
            messages.add(message.role, message.content)
    if isinstance(request.input, str):
        messages.add("user", [TextBlock(request.input)])
    else:
        for position, item in enumerate(request.input):
            _item_in(item, f"input.{position}", messages, system, untranslatable)
    return Conversation(
        model=request.model,
        messages=messages.build(),
        system="\n\n".join(system),
        tools=_tools_in(request.tools),
        tool_choice=_tool_choice_in(request.tool_choice, request.parallel_tool_calls),
        sampling=Sampling(
            max_tokens=request.max_output_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            response_format=_response_format_in(request.text),
        ),
        stream=request.stream,
        extra=decode_extra(raw_fields, _KNOWN_FIELDS),
        untranslatable=tuple(untranslatable),
    )


def _item_in(item: Item, where: str, messages: MessageList, system: list[str], untranslatable: list[str]) -> None:
    kind = item.type
    if kind == "message":
        if item.role in _SYSTEM_ROLES:
            system.append(_text_of(item.content))
        elif item.role == "assistant":
            messages.add("assistant", [TextBlock(_text_of(item.content))])
        elif item.role == "user":
            messages.add("user", _user_blocks_in(item.content, where))
        else:
            raise BadRequest(f"{where}.role: unknown role '{item.role}'")
    elif kind == "function_call":
        if not item.call_id or not item.name:
            raise BadRequest(f"{where}: a function_call needs call_id and name")
        arguments = parse_tool_arguments(item.arguments, f"{where}.arguments")
        messages.add("assistant", [ToolUseBlock(item.call_id, item.name, arguments)])
    elif kind == "function_call_output":
        if not item.call_id:
            raise BadRequest(f"{where}.call_id: missing required field")
        content = _result_content_in(item.output, where)
        messages.add("user", [ToolResultBlock(item.call_id, content, name=messages.tool_name(item.call_id))])
    elif kind == "item_reference":
        block = recall(item.id or "")
        if block is None:
            untranslatable.append(f"{where}: item_reference '{(item.id or '')[:64]}' (an item Trooper did not hand out lately)")
        else:
            messages.add("assistant", [block])
    else:
        # reasoning (encrypted, bound to the provider that wrote it), built-in tool calls…:
        # kept in the body for the fast path, left out of a translation.
        log.debug("input_item_dropped", source=NAME, type=kind)


def _text_of(content: str | list[Part] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.text or part.refusal for part in content)


def _user_blocks_in(content: str | list[Part] | None, where: str) -> list[Block]:
    if content is None or isinstance(content, str):
        return [TextBlock(content or "")]
    blocks: list[Block] = []
    for position, part in enumerate(content):
        if part.type in ("input_text", "output_text", "text"):
            blocks.append(TextBlock(part.text))
        elif part.type == "input_image":
            if not part.image_url:
                raise BadRequest(f"{where}.content.{position}: an input_image needs image_url (file_id needs OpenAI's file store)")
            blocks.append(image_from_url(part.image_url))
        elif part.type == "input_file":
            blocks.append(TextBlock(f"[file omitted: {part.filename}]" if part.filename else "[file omitted]"))
        else:
            raise BadRequest(f"{where}.content.{position}: unknown content part type '{part.type}'")
    return blocks


def _result_content_in(output: str | list[Part] | None, where: str) -> tuple[TextBlock | ImageBlock, ...]:
    if output is None or isinstance(output, str):
        return (TextBlock(output),) if output else ()
    return tuple(b for b in _user_blocks_in(output, f"{where}.output") if isinstance(b, (TextBlock, ImageBlock)))


def _tools_in(tools: list[FunctionTool]) -> tuple[Tool, ...]:
    kept = tuple(Tool(t.name, t.description or "", t.parameters or {}) for t in tools if t.type == "function" and t.name)
    if len(kept) < len(tools):
        log.debug("tools_dropped", source=NAME, types=[t.type for t in tools if t.type != "function"])
    return kept


def _tool_choice_in(choice: str | ToolChoiceObject | None, parallel: bool | None) -> ToolChoice | None:
    if choice is None and parallel is None:
        return None
    parallel = parallel is not False
    if isinstance(choice, ToolChoiceObject):
        if choice.type == "function" and choice.name:
            return ToolChoice("tool", choice.name, parallel)
        return ToolChoice("auto", "", parallel)
    mode = _TOOL_CHOICE_MODES.get(choice or "auto")
    if mode is None:
        raise BadRequest(f"tool_choice: unknown value '{choice}' (auto, required, none or a function)")
    return ToolChoice(mode, "", parallel)


def _response_format_in(text: TextConfig | None) -> Any:
    form = text.format if text is not None else None
    if form is None or form.type == "text":
        return None
    if form.type == "json_object":
        return "json"
    if form.type == "json_schema":
        return form.schema or {}
    raise BadRequest(f"text.format.type: unknown value '{form.type}'")


# --- encode a request for a Responses API upstream ---


class _InputPart(msgspec.Struct, omit_defaults=True, gc=False):
    type: str
    text: str | None = None
    image_url: str | None = None


class _InputItem(msgspec.Struct, omit_defaults=True, gc=False):
    type: str
    role: str | None = None
    content: list[_InputPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[_InputPart] | None = None


class _RequestOut(msgspec.Struct, omit_defaults=True, gc=False):
    model: str
    input: list[_InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    text: TextConfig | None = None
    stream: bool = False
    store: bool | None = None


def encode_request(conversation: Conversation, model: str) -> bytes:
    log_dropped_extra(conversation.extra, NAME)
    sampling = conversation.sampling
    dropped = [name for name, value in (("top_k", sampling.top_k), ("seed", sampling.seed), ("stop", sampling.stop)) if value]
    if dropped:
        log.debug("sampling_dropped", target=NAME, fields=dropped)
    items: list[_InputItem] = []
    for message in conversation.messages:
        if message.role == "user":
            _user_out(message.content, items)
        else:
            _assistant_out(message.content, items)
    choice = conversation.tool_choice
    tools = [FunctionTool("function", t.name, t.description or None, t.input_schema or {"type": "object", "properties": {}})
             for t in conversation.tools]
    request = _RequestOut(
        model=model,
        input=items,
        instructions=conversation.system or None,
        tools=tools or None,
        tool_choice=_tool_choice_out(choice) if tools else None,
        parallel_tool_calls=False if tools and choice is not None and not choice.parallel else None,
        max_output_tokens=sampling.max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        text=_text_config_out(sampling.response_format),
        stream=conversation.stream,
        store=False,  # a translated request is Trooper's, not the client's to keep at OpenAI
    )
    return JSON_ENCODER.encode(request)


def _parts_out(blocks: tuple[Block, ...] | tuple[TextBlock | ImageBlock, ...]) -> list[_InputPart]:
    parts: list[_InputPart] = []
    for block in blocks:
        if type(block) is TextBlock:
            parts.append(_InputPart("input_text", text=block.text))
        elif type(block) is ImageBlock:
            parts.append(_InputPart("input_image", image_url=image_url(block)))
        else:
            parts.append(_InputPart("input_text", text=replaced(block, NAME).text))
    return parts


def _user_out(content: tuple[Block, ...], items: list[_InputItem]) -> None:
    """Tool results become function_call_output items; the rest of the turn one user message."""
    rest: list[Block] = []
    for block in content:
        if type(block) is ToolResultBlock:
            texts = [b.text for b in block.content if type(b) is TextBlock]
            has_images = any(type(b) is ImageBlock for b in block.content)
            output: str | list[_InputPart] = _parts_out(block.content) if has_images else "\n\n".join(texts)
            items.append(_InputItem("function_call_output", call_id=block.tool_use_id, output=output))
        else:
            rest.append(block)
    if rest:
        items.append(_InputItem("message", role="user", content=_parts_out(tuple(rest))))


def _assistant_out(content: tuple[Block, ...], items: list[_InputItem]) -> None:
    for block in content:
        if type(block) is TextBlock:
            if block.text:
                items.append(_InputItem("message", role="assistant", content=[_InputPart("output_text", text=block.text)]))
        elif type(block) is ToolUseBlock:
            arguments = JSON_ENCODER.encode(block.input).decode()
            items.append(_InputItem("function_call", call_id=block.id, name=block.name, arguments=arguments))
        elif type(block) is ThinkingBlock:
            log.debug("block_dropped", target=NAME, block="ThinkingBlock")  # reasoning items are the provider's own
        else:
            items.append(_InputItem("message", role="assistant", content=[_InputPart("output_text", text=replaced(block, NAME).text)]))


def _tool_choice_out(choice: ToolChoice | None) -> str | ToolChoiceObject | None:
    if choice is None:
        return None
    if choice.mode == "tool":
        return ToolChoiceObject("function", choice.name)
    return "required" if choice.mode == "any" else choice.mode


def _text_config_out(response_format: Any) -> TextConfig | None:
    if response_format is None:
        return None
    if response_format == "json":
        return TextConfig(TextFormat("json_object"))
    return TextConfig(TextFormat("json_schema", "response", response_format))


# --- wire shapes: the response object (whole answers, and inside stream events) ---


class OutputPart(msgspec.Struct, gc=False):
    type: str = "output_text"
    text: str = ""
    refusal: str = ""


class OutputItem(msgspec.Struct, gc=False):
    type: str = ""
    id: str = ""
    status: str = ""
    role: str = ""
    content: list[OutputPart] = []
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    summary: list[OutputPart] = []


class UsageBody(msgspec.Struct, gc=False):
    input_tokens: int = 0
    output_tokens: int = 0


class IncompleteDetails(msgspec.Struct, gc=False):
    reason: str = ""


class ErrorInfo(msgspec.Struct, gc=False):
    code: str | None = None
    message: str = ""


class ResponseBody(msgspec.Struct, gc=False):
    id: str = ""
    model: str = ""
    status: str = "completed"
    output: list[OutputItem] = []
    usage: UsageBody | None = None
    incomplete_details: IncompleteDetails | None = None
    error: ErrorInfo | None = None


_RESPONSE = msgspec.json.Decoder(ResponseBody)


def decode_response(body: bytes) -> Response:
    try:
        answer = _RESPONSE.decode(body)
    except msgspec.DecodeError as error:
        raise UpstreamError("bad_body", f"Responses API response: {error}") from None
    if answer.status == "failed":
        raise UpstreamError("bad_body", f"response failed: {answer.error.message if answer.error else 'no detail'}")
    content: list[Block] = []
    for item in answer.output:
        block = _remembered(item)
        if block is not None and (isinstance(block, ToolUseBlock) or block.text):
            content.append(block)
        elif item.type == "reasoning":
            summary = "".join(part.text for part in item.summary)
            if summary:
                content.append(ThinkingBlock(summary))
    usage = answer.usage or UsageBody()
    return Response(
        id=answer.id,
        model=answer.model,
        content=tuple(content),
        stop_reason=_stop_reason(answer.status, answer.incomplete_details, any(type(b) is ToolUseBlock for b in content)),
        usage=Usage(usage.input_tokens, usage.output_tokens),
    )


def _remembered(item: OutputItem) -> TextBlock | ToolUseBlock | None:
    """A message or function call item as a block, remembered under its id for later references."""
    if item.type == "message":
        block: TextBlock | ToolUseBlock = TextBlock("".join(part.text or part.refusal for part in item.content))
    elif item.type == "function_call":
        block = ToolUseBlock(item.call_id or new_id("call_"), item.name, lenient_tool_arguments(item.arguments, NAME))
    else:
        return None
    remember(item.id, block)
    return block


def _stop_reason(status: str, incomplete: IncompleteDetails | None, called_tools: bool) -> StopReason:
    if status == "incomplete":
        reason = incomplete.reason if incomplete is not None else ""
        return "refusal" if reason == "content_filter" else "max_tokens"
    return "tool_use" if called_tools else "end_turn"


def encode_response(response: Response, request: Conversation | None = None) -> bytes:
    # Another vendor's id (Claude's msg_…) is not a response id: clients may use it as one.
    builder = _ResponseObject(response.id if response.id.startswith("resp_") else new_id("resp_"), response.model)
    for block in response.content:
        if type(block) is TextBlock:
            builder.output.append(_message_item(new_id("msg_"), block.text, "completed"))
            remember(builder.output[-1]["id"], block)
        elif type(block) is ToolUseBlock:
            arguments = JSON_ENCODER.encode(block.input).decode()
            builder.output.append(_call_item(new_id("fc_"), block.id, block.name, arguments, "completed"))
            remember(builder.output[-1]["id"], block)
        else:
            log.debug("block_dropped", target=NAME, block=type(block).__name__)
    answer = tuple(b for b in response.content if type(b) is TextBlock or type(b) is ToolUseBlock)
    _remember_conversation(builder.id, request, answer)
    return JSON_ENCODER.encode(builder.finished(response.stop_reason, response.usage))


def _remember_conversation(response_id: str, request: Conversation | None, answer: tuple[Block, ...]) -> None:
    """Keep the conversation this response ended, for a later previous_response_id, as the
    API does unless the request said `store: false`."""
    if request is None or request.extra.get("store") is False:
        return
    remember_response(response_id, (*request.messages, Message("assistant", answer or (TextBlock(""),))))


class _ResponseObject:
    """The response object as a client expects it: in `response.created` (in progress,
    no output), and whole at the end."""

    __slots__ = ("id", "model", "created_at", "output", "request")

    def __init__(self, id: str, model: str, request: Conversation | None = None) -> None:
        self.id = id
        self.model = model
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self.request = request

    def body(self, status: str, usage: Usage | None = None, stop_reason: StopReason | None = None) -> dict[str, Any]:
        request = self.request
        incomplete = None
        if status == "incomplete":
            incomplete = {"reason": "content_filter" if stop_reason == "refusal" else "max_output_tokens"}
        tools = [
            {"type": "function", "name": t.name, "description": t.description or None, "parameters": t.input_schema, "strict": None}
            for t in (request.tools if request is not None else ())
        ]
        sampling = request.sampling if request is not None else Sampling()
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": (request.system or None) if request is not None else None,
            "max_output_tokens": sampling.max_tokens,
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": False,
            "temperature": sampling.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": _tool_choice_out(request.tool_choice) if request is not None and request.tool_choice else "auto",
            "tools": tools,
            "top_p": sampling.top_p,
            "truncation": "disabled",
            "usage": _usage_out(usage) if usage is not None else None,
            "metadata": {},
        }

    def finished(self, stop_reason: StopReason, usage: Usage) -> dict[str, Any]:
        status = "incomplete" if stop_reason in ("max_tokens", "refusal") else "completed"
        return self.body(status, usage, stop_reason)


def _usage_out(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _message_item(id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    return {"id": id, "type": "message", "status": status, "role": "assistant", "content": content}


def _call_item(id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": id, "type": "function_call", "status": status, "arguments": arguments, "call_id": call_id, "name": name}


# --- errors: the same shape as Chat Completions' ---


def decode_error(status: int, body: bytes) -> ApiError:
    return openai.decode_error(status, body)


def encode_error(error: ApiError) -> bytes:
    return openai.encode_error(error)


def encode_stream_error(error: ApiError) -> bytes:
    """An error inside a started stream: the Responses API's `error` event. It also carries
    the `error` object, which the official SDKs raise on for any streamed event."""
    error_type, code = openai.ERROR_SHAPES.get(error.kind, ("server_error", None))
    detail = {"message": error.message, "type": error_type, "param": None, "code": code or error_type}
    event = {"type": "error", "code": code or error_type, "message": error.message, "param": None, "error": detail}
    return sse_event(JSON_ENCODER.encode(event), b"error")


# --- streams: upstream bytes -> canonical events ---


class WireEvent(msgspec.Struct, gc=False):
    type: str = ""
    response: ResponseBody | None = None
    item: OutputItem | None = None
    output_index: int = 0
    delta: str = ""
    arguments: str = ""
    message: str = ""
    code: str | None = None


_EVENT = msgspec.json.Decoder(WireEvent)


class StreamDecoder(FramedDecoder):
    """A Responses API event stream, in whole frames or chunks cut anywhere, as canonical events."""

    framing = FRAMING

    def __init__(self) -> None:
        super().__init__()
        self._blocks = BlockSequencer()
        self._calls: dict[int, tuple[int, bool]] = {}  # output_index -> (our block index, arguments streamed)
        self._started = False
        self._ended = False
        self._called_tools = False

    def take(self, name: bytes, data: bytes, events: list[StreamEvent]) -> None:
        self._take(data, events)

    def end(self, events: list[StreamEvent]) -> None:
        if not self._ended:
            raise UpstreamError("truncated", "Responses stream ended without response.completed")

    def _take(self, data: bytes, events: list[StreamEvent]) -> None:
        if self._ended or data.startswith(b"[DONE]"):
            return
        try:
            event = _EVENT.decode(data)
        except msgspec.DecodeError as error:
            raise UpstreamError("bad_stream", f"Responses event: {error}") from None
        kind = event.type
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            if event.delta:
                events.append(TextDelta(self._blocks.ensure("text", events), event.delta))
        elif kind == "response.function_call_arguments.delta":
            self._arguments(event.output_index, event.delta, events)
        elif kind == "response.reasoning_summary_text.delta" or kind == "response.reasoning_text.delta":
            if event.delta:
                events.append(ThinkingDelta(self._blocks.ensure("thinking", events), event.delta))
        elif kind == "response.output_item.added":
            item = event.item
            if item is not None and item.type == "function_call":
                self._called_tools = True
                index = self._blocks.open(ToolUseBlock(item.call_id or new_id("call_"), item.name), events)
                self._calls[event.output_index] = (index, False)
            elif item is not None and item.type == "message":
                self._blocks.close(events)
        elif kind == "response.output_item.done":
            item = event.item
            if item is not None:
                _remembered(item)
            call = self._calls.get(event.output_index)
            if call is not None and item is not None and not call[1] and item.arguments:
                self._arguments(event.output_index, item.arguments, events)
            if call is not None:
                self._blocks.close(events)
        elif kind == "response.created" or kind == "response.in_progress":
            response = event.response or ResponseBody()
            if not self._started:
                self._started = True
                events.append(StreamStart(response.id, response.model))
        elif kind == "response.completed" or kind == "response.incomplete":
            self._end(event.response or ResponseBody(), events)
        elif kind == "response.failed":
            failed = event.response
            detail = failed.error.message if failed is not None and failed.error is not None else "response failed"
            raise UpstreamError("stream_error", detail)
        elif kind == "error":
            raise UpstreamError("stream_error", event.message or (event.code or "error event"))

    def _arguments(self, output_index: int, delta: str, events: list[StreamEvent]) -> None:
        call = self._calls.get(output_index)
        if call is None or not delta:
            return
        if call[0] == self._blocks.open_index:
            events.append(ToolInputDelta(call[0], delta))
            self._calls[output_index] = (call[0], True)

    def _end(self, response: ResponseBody, events: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            events.append(StreamStart(response.id, response.model))
        self._blocks.close(events)
        usage = response.usage or UsageBody()
        stop = _stop_reason(response.status, response.incomplete_details, self._called_tools)
        events.append(StreamEnd(stop, None, Usage(usage.input_tokens, usage.output_tokens)))
        self._ended = True


# --- streams: canonical events -> the client's typed event stream ---


class StreamEncoder:
    """Canonical events as the Responses API's typed event stream: each content block is
    an output item (a message with one output_text part, or a function_call), opened,
    filled by deltas and closed with its `.done` events; the response object comes whole
    in `response.completed` (or `response.incomplete` when the answer was cut short)."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: Conversation) -> None:
        self._response = _ResponseObject(new_id("resp_"), request.model, request)
        self._sequence = 0
        self._input_tokens = 0
        self._request = request
        self._answer: list[Block] = []  # the blocks of the finished items, for previous_response_id
        self._items: dict[int, dict[str, Any]] = {}  # our block index -> the output item being written
        self._texts: dict[int, list[str]] = {}  # our block index -> text or argument pieces so far

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta:
            item = self._items.get(event.index)
            if item is None or not event.text:
                return b""
            self._texts[event.index].append(event.text)
            return self._event("response.output_text.delta", item_id=item["id"], output_index=item["_index"],
                               content_index=0, delta=event.text, logprobs=[])
        if type(event) is ToolInputDelta:
            item = self._items.get(event.index)
            if item is None or not event.partial_json:
                return b""
            self._texts[event.index].append(event.partial_json)
            return self._event("response.function_call_arguments.delta", item_id=item["id"],
                               output_index=item["_index"], delta=event.partial_json)
        if type(event) is BlockStart:
            return self._open(event)
        if type(event) is BlockStop:
            return self._close(event.index)
        if type(event) is StreamStart:
            self._response.id = event.id if event.id.startswith("resp_") else self._response.id
            self._response.model = event.model or self._response.model
            self._input_tokens = event.input_tokens
            body = self._response.body("in_progress")
            return self._event("response.created", response=body) + self._event("response.in_progress", response=body)
        if type(event) is StreamEnd:
            out = b"".join(self._close(index) for index in list(self._items))
            usage = event.usage if event.usage.input_tokens else Usage(self._input_tokens, event.usage.output_tokens)
            body = self._response.finished(event.stop_reason, usage)
            _remember_conversation(self._response.id, self._request, tuple(self._answer))
            return out + self._event("response.completed" if body["status"] == "completed" else "response.incomplete", response=body)
        return b""  # ThinkingDelta: reasoning is the provider's own; not carried across vendors

    def trailer(self) -> bytes:
        return b""

    def comment(self, text: str) -> bytes:
        return sse_comment(text)

    def follow(self, frames: list[bytes]) -> None:
        """Take over a stream that OpenAI began (the fast path broke mid-answer): after being
        primed with the canonical events the client has, adopt the upstream's response id,
        item ids, output indices and sequence numbers from the frames the client was sent,
        so what follows continues the same response (SDKs check all four), and its final
        output keeps OpenAI's own items, reasoning included."""
        added: list[tuple[int, dict[str, Any]]] = []
        done: dict[int, dict[str, Any]] = {}
        for frame in frames:
            for _name, data in SSE.messages(frame):
                try:
                    event = msgspec.json.decode(data)
                except msgspec.DecodeError:
                    continue
                if not isinstance(event, dict):
                    continue
                number, index, item = event.get("sequence_number"), event.get("output_index"), event.get("item")
                if isinstance(number, int):
                    self._sequence = max(self._sequence, number + 1)
                kind = event.get("type")
                if kind == "response.created" and isinstance(event.get("response"), dict):
                    self._response.id = event["response"].get("id") or self._response.id
                elif isinstance(index, int) and isinstance(item, dict) and isinstance(item.get("id"), str):
                    if kind == "response.output_item.added":
                        added.append((index, item))
                    elif kind == "response.output_item.done":
                        done[index] = item
        ours = [*self._response.output, *self._items.values()]
        theirs = [(index, item) for index, item in added if item.get("type") in ("message", "function_call")]
        for mine, (index, item) in zip(ours, theirs):
            mine["id"] = item["id"]
            if "_index" in mine:
                mine["_index"] = index
        self._response.output = [done[index] for index in sorted(done)]

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return sse_event(JSON_ENCODER.encode(data), kind.encode())

    def _open(self, event: BlockStart) -> bytes:
        block = event.block
        output_index = len(self._response.output) + len(self._items)
        if type(block) is TextBlock:
            item = _message_item(new_id("msg_"), "", "in_progress")
            opened = self._event("response.output_item.added", output_index=output_index, item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            opened += self._event("response.content_part.added", item_id=item["id"], output_index=output_index,
                                  content_index=0, part=part)
        elif type(block) is ToolUseBlock:
            item = _call_item(new_id("fc_"), block.id, block.name, "", "in_progress")
            opened = self._event("response.output_item.added", output_index=output_index, item=item)
        else:
            log.debug("block_dropped", target=NAME, block=type(block).__name__)
            return b""
        self._items[event.index] = {**item, "_index": output_index}
        self._texts[event.index] = []
        return opened

    def _close(self, index: int) -> bytes:
        item = self._items.pop(index, None)
        if item is None:
            return b""
        whole = "".join(self._texts.pop(index, ()))
        output_index = item.pop("_index")
        if item["type"] == "message":
            part = {"type": "output_text", "text": whole, "annotations": [], "logprobs": []}
            done = _message_item(item["id"], whole, "completed")
            text = TextBlock(whole)
            self._answer.append(text)
            remember(item["id"], text)
            out = self._event("response.output_text.done", item_id=item["id"], output_index=output_index,
                              content_index=0, text=whole, logprobs=[])
            out += self._event("response.content_part.done", item_id=item["id"], output_index=output_index,
                               content_index=0, part=part)
        else:
            done = _call_item(item["id"], item["call_id"], item["name"], whole, "completed")
            call = ToolUseBlock(item["call_id"], item["name"], lenient_tool_arguments(whole, NAME))
            self._answer.append(call)
            remember(item["id"], call)
            out = self._event("response.function_call_arguments.done", item_id=item["id"], output_index=output_index,
                              name=item["name"], arguments=whole)
        self._response.output.append(done)
        return out + self._event("response.output_item.done", output_index=output_index, item=done)
