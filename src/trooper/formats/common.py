"""What the format codecs share: ids, stop-reason and error-kind tables, data URLs,
msgspec error messages, notes for blocks a target cannot take, and the block
bookkeeping every stream decoder needs."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
import structlog

from trooper.conversation import (
    BadRequest,
    Block,
    BlockStart,
    BlockStop,
    ErrorKind,
    ImageBlock,
    Message,
    Role,
    StopReason,
    StreamEvent,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)

log = structlog.get_logger()

T = TypeVar("T")

JSON_ENCODER = msgspec.json.Encoder()
ANY_JSON = msgspec.json.Decoder()
RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])

# --- ids ---

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    """A vendor-looking id (`msg_…`, `toolu_…`, `call_…`, `chatcmpl-…`). Not a secret."""
    return prefix + "".join(random.choices(_BASE62, k=length))


# --- request decoding helpers ---


def bad_request_from(error: msgspec.DecodeError) -> BadRequest:
    """A BadRequest naming the field msgspec choked on: `messages.2.content.0: ...`."""
    if not isinstance(error, msgspec.ValidationError):
        return BadRequest(f"invalid JSON: {error}")
    text, _, at = str(error).partition(" - at `")
    path = _dotted_path(at.rstrip("`"))
    if text.startswith("Object missing required field `"):
        field = text.split("`")[1]
        return BadRequest(f"{_join(path, field)}: missing required field")
    if text.startswith(("Invalid value ", "Invalid enum value ")):
        value = text.split("value ", 1)[1]
        parent, _, name = path.rpartition(".")
        if name == "type":
            return BadRequest(f"{parent or 'request'}: unknown {_kind_of(parent)} type {value}")
        if name == "role":
            return BadRequest(f"{path}: unknown role {value}")
    message = text[:1].lower() + text[1:]
    return BadRequest(f"{path or 'request body'}: {message.replace('`', '')}")


def bad_request_at(error: msgspec.ValidationError, where: str) -> BadRequest:
    """msgspec's error for a part of the request read on its own, with its place in the
    request (`where`, e.g. `messages.2.content.1`)."""
    message = bad_request_from(error).message
    for whole in ("request body: ", "request: "):
        if message.startswith(whole):
            return BadRequest(f"{where}: {message.removeprefix(whole)}")
    return BadRequest(f"{where}.{message}")


def decode_at(decoder: msgspec.json.Decoder[T], raw: msgspec.Raw | bytes, where: str) -> T:
    """`raw` (a part of the request at `where`) decoded; a BadRequest naming it otherwise."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise bad_request_at(error, where) from None


def _dotted_path(json_path: str) -> str:
    """`$.messages[2].content[0]` -> `messages.2.content.0`."""
    return json_path.removeprefix("$").replace("[", ".").replace("]", "").lstrip(".")


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _kind_of(path: str) -> str:
    """What the object at `path` is, for messages: `messages.0.content.1` -> content block."""
    names = [segment for segment in path.split(".") if segment and not segment.isdigit()]
    name = names[-1] if names else "request"
    return "content block" if name == "content" else name


def decode_extra(raw_fields: dict[str, msgspec.Raw], known: frozenset[str]) -> dict[str, Any]:
    """The top-level fields the canonical model has no place for, decoded."""
    return {key: ANY_JSON.decode(value) for key, value in raw_fields.items() if key not in known}


def parse_tool_arguments(arguments: str, where: str) -> dict[str, Any]:
    """A tool call's JSON-string arguments as a dict; BadRequest naming `where` otherwise."""
    if not arguments.strip():
        return {}
    try:
        value = ANY_JSON.decode(arguments)
    except msgspec.DecodeError as error:
        raise BadRequest(f"{where}: invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: must be a JSON object")
    return value


def lenient_tool_arguments(arguments: str, target: str) -> dict[str, Any]:
    """Tool arguments written by a model: may be cut short or invalid. Never raises."""
    try:
        value = ANY_JSON.decode(arguments) if arguments.strip() else {}
    except msgspec.DecodeError:
        value = None
    if isinstance(value, dict):
        return value
    log.warning("tool_arguments_invalid", source=target, arguments=arguments[:200])
    return {}


class MessageList:
    """Builds the canonical, role-alternating message list: consecutive messages of the
    same role merge into one, as the Anthropic API does; tool results keep their tool's
    name when an earlier tool call names it."""

    __slots__ = ("_roles", "_contents", "_tool_names")

    def __init__(self) -> None:
        self._roles: list[Role] = []
        self._contents: list[list[Block]] = []
        self._tool_names: dict[str, str] = {}

    def add(self, role: Role, blocks: Iterable[Block]) -> None:
        if not self._roles or self._roles[-1] != role:
            self._roles.append(role)
            self._contents.append([])
        content = self._contents[-1]
        for block in blocks:
            if type(block) is ToolUseBlock:
                self._tool_names[block.id] = block.name
            elif type(block) is ToolResultBlock and not block.name:
                name = self._tool_names.get(block.tool_use_id, "")
                if name:
                    block = msgspec.structs.replace(block, name=name)
            content.append(block)

    def tool_name(self, tool_use_id: str) -> str:
        return self._tool_names.get(tool_use_id, "")

    def build(self) -> tuple[Message, ...]:
        return tuple(Message(role, tuple(content)) for role, content in zip(self._roles, self._contents))


def claim_call(pending: list[ToolUseBlock], call_id: str, name: str) -> tuple[str, str]:
    """The (id, name) of the earlier call a tool result answers, for formats whose results
    name their tool rather than carry an id (Ollama, Gemini): the call with that id, else
    the first still unanswered call of that name (or any, when the result names none).
    A result that answers nothing gets a fresh id."""
    for position, call in enumerate(pending):
        if call.id == call_id or (not call_id and (call.name == name or not name)):
            del pending[position]
            return call.id, call.name
    return call_id or new_id("call_"), name


# --- images ---


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,AAAA` -> ("image/png", "AAAA"); None for anything else."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        return None
    return header[5:-7], data


def image_from_url(url: str) -> ImageBlock:
    parsed = parse_data_url(url)
    if parsed is None:
        return ImageBlock(url=url)
    return ImageBlock(media_type=parsed[0], data=parsed[1])


def image_base64(block: ImageBlock) -> tuple[str, str] | None:
    """(media_type, base64 data) of an image, also when it came as a data URL."""
    if block.data:
        return block.media_type, block.data
    return parse_data_url(block.url)


def image_url(block: ImageBlock) -> str:
    """An image as a URL: the URL itself, or a data URL for base64 data."""
    if block.data:
        return f"data:{block.media_type or 'image/png'};base64,{block.data}"
    return block.url


_MAGIC_MEDIA_TYPES = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))


def sniff_media_type(data: str) -> str:
    """The media type of base64 image data from its first bytes (Ollama sends no type)."""
    for prefix, media_type in _MAGIC_MEDIA_TYPES:
        if data.startswith(prefix):
            return media_type
    return "image/png"


# --- blocks a target cannot take ---


def replaced(block: Block, target: str) -> TextBlock:
    """A short note standing in for a block the target format cannot carry. Logged, so
    nothing is dropped silently."""
    log.debug("block_replaced", target=target, block=type(block).__name__)
    return TextBlock(note_for(block))


def note_for(block: Block) -> str:
    if type(block) is ImageBlock:
        return f"[image omitted: {block.url}]" if block.url and not block.data else "[image omitted]"
    if type(block) is ThinkingBlock:
        return "[thinking omitted]"
    if type(block) is ToolUseBlock:
        return f"[tool call omitted: {block.name}]"
    if type(block) is ToolResultBlock:
        return "[tool result omitted]"
    return "[content omitted]"


def log_dropped_extra(extra: dict[str, Any], target: str) -> None:
    if extra:
        log.debug("extra_fields_dropped", target=target, fields=sorted(extra))


# --- stop reasons ---

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


# --- errors ---

_KINDS_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


def kind_from_status(status: int) -> ErrorKind:
    kind = _KINDS_BY_STATUS.get(status)
    if kind is not None:
        return kind
    return "api_error" if status >= 500 or status < 400 else "invalid_request"


def body_text(status: int, body: bytes) -> str:
    """An unparsable error body as a message: its text, at most 200 characters."""
    text = body[:1024].decode("utf-8", "replace").strip()[:200]
    return text or f"HTTP {status}"


# --- streams ---


class WholeToolCalls:
    """For stream encoders whose format sends each tool call whole (Ollama, Gemini): keeps
    each call's streamed input until its block stops, then gives the call back complete."""

    __slots__ = ("_calls", "_target")

    def __init__(self, target: str) -> None:
        self._calls: dict[int, tuple[ToolUseBlock, list[str]]] = {}
        self._target = target

    def start(self, event: BlockStart) -> None:
        if type(event.block) is ToolUseBlock:
            self._calls[event.index] = (event.block, [])

    def add(self, index: int, partial_json: str) -> None:
        call = self._calls.get(index)
        if call is not None:
            call[1].append(partial_json)

    def stop(self, index: int) -> tuple[ToolUseBlock, dict[str, Any]] | None:
        """The call whose block stopped, with its arguments; None for any other block."""
        call = self._calls.pop(index, None)
        if call is None:
            return None
        return call[0], lenient_tool_arguments("".join(call[1]), self._target)


class BlockSequencer:
    """Numbers content blocks 0, 1, 2… and keeps at most one open, so a decoder's events
    are well-formed whatever the upstream sends: every delta's block was started, and
    every started block is stopped."""

    __slots__ = ("next_index", "open_index", "open_kind")

    def __init__(self) -> None:
        self.next_index = 0
        self.open_index = -1
        self.open_kind = ""

    def open(self, block: TextBlock | ToolUseBlock | ThinkingBlock, events: list[StreamEvent]) -> int:
        self.close(events)
        index = self.next_index
        self.next_index += 1
        self.open_index = index
        self.open_kind = block.__struct_config__.tag  # type: ignore[assignment]  # a block's tag is its kind
        events.append(BlockStart(index, block))
        return index

    def ensure(self, kind: str, events: list[StreamEvent]) -> int:
        """The open block's index if it is a `kind` block (text or thinking), else a new one."""
        if self.open_kind == kind:
            return self.open_index
        return self.open(TextBlock("") if kind == "text" else ThinkingBlock(""), events)

    def close(self, events: list[StreamEvent]) -> None:
        if self.open_index >= 0:
            events.append(BlockStop(self.open_index))
            self.open_index = -1
            self.open_kind = ""
