"""Harness text out of a message (the recognizer is signals/harness.py): from the texts
of a message that may change, and, from a protected one, only blocks of nothing else."""

from __future__ import annotations

import msgspec

from trooper.conversation import Block, Message, TextBlock, ToolResultBlock
from trooper.signals.harness import without_harness


def strip_message(message: Message) -> tuple[Message, int]:
    """The message without harness text, in its own texts and its tool results' texts: a
    text that is nothing else is left out."""
    blocks, removed = _strip_blocks(message.content)
    return (Message(message.role, tuple(blocks)), removed) if removed else (message, 0)


def _strip_blocks(content: tuple[Block, ...]) -> tuple[list[Block], int]:
    removed = 0
    blocks: list[Block] = []
    for block in content:
        if type(block) is TextBlock and (stripped := strip_harness(block.text))[1]:
            text, count = stripped
            removed += count
            if text:
                blocks.append(TextBlock(text))
        elif type(block) is ToolResultBlock:
            inner, count = _strip_blocks(block.content)
            removed += count
            blocks.append(msgspec.structs.replace(block, content=tuple(inner)) if count else block)
        else:
            blocks.append(block)
    return blocks, removed


def strip_harness(text: str) -> tuple[str, int]:
    """`text` without harness text (signals/harness.py), and how many lines went."""
    stripped = without_harness(text)
    if stripped is text or stripped == text:
        return text, 0
    return stripped, max(text.count("\n") - stripped.count("\n") + (not stripped), 1)


def is_harness_only(text: str) -> bool:
    return bool(text.strip()) and not without_harness(text)


def drop_harness_blocks(message: Message) -> tuple[Message, int]:
    harness = [b for b in message.content if type(b) is TextBlock and is_harness_only(b.text)]
    if not harness:
        return message, 0
    kept = tuple(b for b in message.content if all(b is not h for h in harness))
    return Message(message.role, kept), sum(h.text.count("\n") + 1 for h in harness)


