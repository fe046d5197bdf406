"""What is never cut: the user's latest turn, the tool result the agent's current step
ended on (with its call), a partial answer being continued, and the last message."""

from __future__ import annotations

import msgspec

from trooper.compaction.sitrep import SITREP_LEAD
from trooper.continuation import CONTINUE_OPENING
from trooper.conversation import Block, Message, TextBlock, ToolResultBlock
from trooper.signals.harness import without_harness


class Protected(msgspec.Struct):
    verbatim: frozenset[int]  # message indices never changed
    blocks: frozenset[int]  # ids of their blocks (they survive merging)
    tail_from: int  # the tail starts here or earlier
    latest_user: int  # the user's latest turn (-1: none)


def protected_turns(messages: tuple[Message, ...]) -> Protected:
    """The user's latest turn, the last tool result with its call (the step the agent is
    in: none once the user has spoken after it), a partial answer being continued, and
    the last message: kept verbatim."""
    last = len(messages) - 1
    tail_from = max(last, 0)
    verbatim = {last} if last >= 0 else set()
    latest_user = next((i for i in range(last, -1, -1) if messages[i].role == "user" and said(messages[i])), -1)
    for index in range(last, max(latest_user, 0) - 1, -1):
        if any(type(b) is ToolResultBlock for b in messages[index].content):
            verbatim.add(index)
            if index > 0:
                verbatim.add(index - 1)  # its call
                tail_from = min(tail_from, index - 1)
            break
    if last > 0 and messages[last].role == "user" and messages[last].text().startswith(CONTINUE_OPENING):
        verbatim.add(last - 1)  # the partial answer being continued
        tail_from = min(tail_from, last - 1)
    if latest_user >= 0:
        verbatim.add(latest_user)
    blocks = frozenset(id(b) for i in verbatim for b in messages[i].content)
    return Protected(frozenset(verbatim), blocks, tail_from, latest_user)


def said(message: Message) -> bool:
    """The message holds words someone typed (not only tool results or harness text)."""
    for block in message.content:
        if type(block) is TextBlock and block.text.strip() and not block.text.startswith(CONTINUE_OPENING):
            if without_harness(block.text):
                return True
    return False


def pinned_turn(message: Message) -> Message:
    """The user's latest turn kept beside the tail: its words (tool results stay with the
    middle, whose calls were summarised)."""
    return Message("user", tuple(b for b in message.content if type(b) is not ToolResultBlock))


def cuttable(block: Block, protected: frozenset[int]) -> bool:
    if id(block) in protected:
        return False
    if type(block) is TextBlock:
        return not block.text.startswith(SITREP_LEAD)
    return type(block) is ToolResultBlock


