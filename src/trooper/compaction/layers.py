"""The history's layers: ANCHOR (the first turns), the SITREP between, TAIL (the last
turns), cut only where a tool call keeps its result, and put together with roles still
alternating."""

from __future__ import annotations

from trooper.conversation import Block, Message, TextBlock, ToolResultBlock, ToolUseBlock

ANCHOR_MESSAGES = 2


def anchor_end(messages: list[Message]) -> int:
    """Index after the anchor: the first two turns, extended so a tool call keeps its result."""
    end = min(ANCHOR_MESSAGES, len(messages))
    while end < len(messages) and has_tool_use(messages[end - 1]):
        end += 1  # the results of the anchor's last tool calls belong with it
    return end


def tail_start(messages: list[Message], sizes: list[int], floor: int, latest: int, room: int) -> int:
    """The earliest index whose suffix fits `room`, at a clean cut: never between a tool
    call and its result (a tail may not start with a user turn holding tool results). The
    suffix from `latest` is the tail's whatever its size."""
    start = _clean_before(messages, max(latest, floor), floor)
    best = start
    used = sum(sizes[start:])
    while start > floor:
        start -= 1
        used += sizes[start]
        if used > room:
            break
        if clean_cut(messages, start):
            best = start
    return best


def _clean_before(messages: list[Message], index: int, floor: int) -> int:
    while index > floor and not clean_cut(messages, index):
        index -= 1
    return index


def clean_cut(messages: list[Message], index: int) -> bool:
    return index >= len(messages) or not any(type(b) is ToolResultBlock for b in messages[index].content)


def assemble(anchor: list[Message], sitrep: str, pinned: Message | None, tail: list[Message]) -> list[Message]:
    """anchor + SITREP + the user's latest turn (when it is older than the tail) + tail,
    with roles still alternating."""
    if pinned is not None:
        tail = [pinned, *tail]
    if not sitrep:
        return merge_same_roles([*anchor, *tail])
    note = TextBlock(sitrep)
    if anchor and anchor[-1].role == "user":
        last = anchor[-1]
        return merge_same_roles([*anchor[:-1], Message("user", (*last.content, note)), *tail])
    if tail and tail[0].role == "user":
        first = tail[0]
        return merge_same_roles([*anchor, Message("user", (note, *first.content)), *tail[1:]])
    return merge_same_roles([*anchor, Message("user", (note,)), *tail])


def merge_same_roles(messages: list[Message]) -> list[Message]:
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            previous = merged.pop()
            content = (*previous.content, *message.content)
            message = Message(message.role, _results_first(content) if message.role == "user" else content)
        merged.append(message)
    return merged


def _results_first(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
    # Anthropic wants a user turn's tool results before anything else in it.
    results = tuple(b for b in blocks if type(b) is ToolResultBlock)
    return results + tuple(b for b in blocks if type(b) is not ToolResultBlock)




def has_tool_use(message: Message) -> bool:
    return any(type(b) is ToolUseBlock for b in message.content)
