"""Continuing a cut stream on another provider.

`Splice` stands between the upstream streams and the client. It tracks what the client
has been sent (so the answer is always well-formed: one start, every block opened and
closed once, one end) and renumbers the blocks of a continuation stream into the
client's ongoing message. Tool-use blocks are held back until they are complete: a
tool call cut in the middle never reaches the client, so the next provider can make it
whole. `continuation()` builds what the next provider is asked.
"""

from __future__ import annotations

import msgspec

from trooper.conversation import (
    BlockStart,
    BlockStop,
    Conversation,
    Message,
    Response,
    ResponseBuilder,
    StreamEnd,
    StreamEvent,
    StreamNote,
    StreamStart,
    TextBlock,
    ToolUseBlock,
)

CONTINUE_PROMPT = (
    "Your previous answer was cut off mid-way. Continue it exactly where it stopped, "
    "without repeating anything already written and without commenting on the interruption."
)


def continuation(conversation: Conversation, delivered: Response, prefill: bool) -> Conversation | None:
    """What the next provider is asked so that it continues `delivered`: the conversation
    plus the partial answer (as a prefill where the target continues one, else followed
    by a request to continue). None when the partial answer already holds complete tool
    calls: the message is then finished as it stands, and the client runs its tools."""
    if has_tool_calls(delivered):
        return None
    text = "".join(b.text for b in delivered.content if type(b) is TextBlock)
    if not text.strip():
        return conversation  # nothing shown yet that matters: ask afresh
    if prefill:
        # Anthropic rejects a final assistant message ending in whitespace.
        messages = (*conversation.messages, Message("assistant", (TextBlock(text.rstrip()),)))
    else:
        messages = (
            *conversation.messages,
            Message("assistant", (TextBlock(text),)),
            Message("user", (TextBlock(CONTINUE_PROMPT),)),
        )
    return msgspec.structs.replace(conversation, messages=messages)


def has_tool_calls(response: Response) -> bool:
    return any(type(b) is ToolUseBlock for b in response.content)


class Splice:
    """The client's view of one streamed answer, fed from one upstream after another."""

    def __init__(self) -> None:
        self.delivered = ResponseBuilder()  # what the client has been sent
        self.sent: list[StreamEvent] = []  # the same, as events (to re-prime an encoder)
        self._started = False
        self._ended = False
        self._open: int | None = None  # client index of the open block
        self._open_is_text = False
        self._next_index = 0
        self._index_map: dict[int, int] = {}  # upstream index -> client index
        self._pending: list[StreamEvent] = []  # held back until the tool block completes
        self._holding: int | None = None  # upstream index of the tool block being held

    @property
    def ended(self) -> bool:
        return self._ended

    def switch(self) -> None:
        """A new upstream takes over: forget the old numbering and any half tool call."""
        self._index_map = {}
        self._pending = []
        self._holding = None

    def take(self, event: StreamEvent) -> list[StreamEvent]:
        """Events to send the client for one upstream event (possibly none, or several
        when a held tool block completes)."""
        kind = type(event)
        if kind is StreamStart:
            if self._started:
                return []
            self._started = True
            return self._commit([event])
        if kind is BlockStart:
            return self._block_start(event)  # type: ignore[arg-type]
        if kind is StreamEnd:
            out = self._close_open()
            self._ended = True
            return self._commit([*out, event])
        if kind is StreamNote:
            return [event]
        index = event.index  # type: ignore[union-attr]
        mapped = self._index_map.get(index)
        if mapped is None:
            return []  # a delta for a block we never opened: drop rather than emit an ill-formed stream
        renumbered = msgspec.structs.replace(event, index=mapped)  # type: ignore[type-var]
        if self._holding == index:
            self._pending.append(renumbered)
            if kind is BlockStop:
                self._holding = None
                released, self._pending = self._pending, []
                self._next_index = mapped + 1
                return self._commit(released)
            return []
        if kind is BlockStop:
            if self._open != mapped:
                return []  # already closed (merged block closed by a switch)
            self._open = None
            self._next_index = mapped + 1
        return self._commit([renumbered])

    def _block_start(self, event: BlockStart) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        is_text = type(event.block) is TextBlock
        if is_text and self._open is not None and self._open_is_text:
            # A continuation's text joins the text block the client is still reading.
            self._index_map[event.index] = self._open
            return []
        out.extend(self._close_open())
        client_index = self._next_index
        self._index_map[event.index] = client_index
        start = BlockStart(client_index, event.block)
        if type(event.block) is ToolUseBlock:
            self._holding = event.index
            self._pending = [*out, start]
            return []
        self._open, self._open_is_text = client_index, is_text
        out.append(start)
        return self._commit(out)

    def _close_open(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        stop = BlockStop(self._open)
        self._next_index = self._open + 1
        self._open = None
        return [stop]

    def _commit(self, events: list[StreamEvent]) -> list[StreamEvent]:
        for event in events:
            self.delivered.add(event)
        self.sent.extend(events)
        return events

    def finish(self, stop_reason: str = "end_turn") -> list[StreamEvent]:
        """Close the message as it stands (nothing left to continue)."""
        if self._ended:
            return []
        end = StreamEnd(stop_reason=stop_reason)  # type: ignore[arg-type]
        return self.take(end)


__all__ = ["CONTINUE_PROMPT", "Splice", "continuation", "has_tool_calls"]
