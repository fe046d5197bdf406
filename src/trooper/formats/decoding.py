"""Decoding a client's request body: msgspec's errors as a 400 that names the field and
what was wrong, unknown fields kept aside, tool-call arguments, and the message list
being built (tool results matched to their calls)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from trooper.conversation import BadRequest, Block, Message, Role, ToolResultBlock, ToolUseBlock
from trooper.formats.common import ANY_JSON, log, new_id

T = TypeVar("T")


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
