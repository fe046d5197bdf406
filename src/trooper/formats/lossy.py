"""What a target format cannot take: a block it has no place for becomes a short text
note saying so, and unknown fields it would drop are logged."""

from __future__ import annotations

from typing import Any

from trooper.conversation import Block, ImageBlock, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from trooper.formats.common import log


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
