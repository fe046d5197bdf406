"""Continuing a cut stream on another provider.

`Splice` stands between the upstream streams and the client. It tracks what the client
has been sent (so the answer is always well-formed: one start, every block opened and
closed once, one end) and renumbers the blocks of a continuation stream into the
client's ongoing message. Tool-use blocks are held back until they are complete: a
tool call cut in the middle never reaches the client, so the next provider can make it
whole; a continuation's opening is held back until its `Seam` has decided how it joins
the text sent. `continuation()` builds what the next provider is asked.
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
    StopReason,
    StreamEnd,
    StreamEvent,
    StreamNote,
    StreamStart,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolInputDelta,
    ToolUseBlock,
    Usage,
)
from trooper.seam import Seam, seam_words
from trooper.signals.tokens import estimate_text

CONTINUE_OPENING = "Your previous answer was cut off mid-way."


def continue_prompt(sent: str) -> str:
    """The request to continue, for a target that can't take a prefill. It asks for the
    last words first: a reply that begins with them provably carries on from there."""
    return (
        f"{CONTINUE_OPENING} Continue it exactly where it stopped: begin "
        f"your reply with its last words, \"{seam_words(sent)}\", then carry on. "
        "Do not repeat anything before them and do not comment on the interruption."
    )


def continuation(conversation: Conversation, delivered: Response, prefill: bool) -> Conversation | None:
    """What the next provider is asked so that it continues `delivered`: the conversation
    plus the partial answer (as a prefill where the target continues one, else followed
    by a request to continue). None when the partial answer already holds complete tool
    calls: the message is then finished as it stands, and the client runs its tools."""
    if has_tool_calls(delivered):
        return None
    text = delivered_text(delivered)
    if not text.strip():
        return conversation  # nothing shown yet that matters: ask afresh
    if prefill:
        # Anthropic rejects a final assistant message ending in whitespace.
        messages = (*conversation.messages, Message("assistant", (TextBlock(text.rstrip()),)))
    else:
        messages = (
            *conversation.messages,
            Message("assistant", (TextBlock(text),)),
            Message("user", (TextBlock(continue_prompt(text)),)),
        )
    return msgspec.structs.replace(conversation, messages=messages)


def delivered_text(delivered: Response) -> str:
    return "".join(b.text for b in delivered.content if type(b) is TextBlock)


def has_tool_calls(response: Response) -> bool:
    return any(type(b) is ToolUseBlock for b in response.content)


class Splice:
    """The client's view of one streamed answer, fed from one upstream after another.

    After a switch, the new upstream's opening goes through a `Seam` (held back until it
    is clear how it joins the text sent so far; its overlap dropped). Usage is the
    client's: the first upstream's input tokens, and the output of every upstream that
    streamed part of the answer (reported, or estimated from its text when it was cut)."""

    def __init__(self) -> None:
        self.delivered = ResponseBuilder()  # what the client has been sent
        self.sent: list[StreamEvent] = []  # the same, as events (to re-prime an encoder)
        self.seam: Seam | None = None  # how the current upstream joins, after a switch
        self._started = False
        self._ended = False
        self._open: int | None = None  # client index of the open block
        self._open_is_text = False
        self._next_index = 0
        self._index_map: dict[int, int] = {}  # upstream index -> client index
        self._pending: list[StreamEvent] = []  # held back until the tool block completes
        self._holding: int | None = None  # upstream index of the tool block being held
        self._seam_held: list[StreamEvent] = []  # held back until the seam decides
        self._seam_text_blocks: set[int] = set()  # upstream indices of the held text blocks
        self.input_tokens = 0  # the client's request, as the first upstream counted it
        self._earlier_output = 0  # output tokens of the upstreams cut before this one
        self._generated: list[str] = []  # what the current upstream generated, for an estimate
        self._switched = False

    @property
    def ended(self) -> bool:
        return self._ended

    def switch(self, seam: Seam | None = None) -> None:
        """A new upstream takes over: forget the old numbering and any half tool call,
        count what the old one generated, and join the new one through `seam`."""
        self._index_map = {}
        self._pending = []
        self._holding = None
        self._seam_held = []
        self._seam_text_blocks = set()
        self._earlier_output += estimate_text("".join(self._generated))
        self._generated = []
        self._switched = True
        self.seam = seam

    def take(self, event: StreamEvent) -> list[StreamEvent]:
        """Events to send the client for one upstream event (possibly none, or several
        when a held tool block or a held opening is released). Raises `Refused` when a
        continuation does not join the text sent."""
        if type(event) is TextDelta or type(event) is ThinkingDelta:
            self._generated.append(event.text)
        elif type(event) is ToolInputDelta:
            self._generated.append(event.partial_json)
        elif type(event) is StreamStart and not self._switched and not self.input_tokens:
            self.input_tokens = event.input_tokens
        elif type(event) is StreamEnd:
            event = self._with_usage(event)
        seam = self.seam
        if seam is None or seam.decided or type(event) is StreamStart or type(event) is StreamNote:
            return self._take(event)
        return self._judge(seam, event)

    def _judge(self, seam: Seam, event: StreamEvent) -> list[StreamEvent]:
        """Hold `event` until the seam has decided how this upstream joins the answer."""
        if type(event) is BlockStart and type(event.block) is ThinkingBlock or type(event) is ThinkingDelta:
            return []  # a continuation's reasoning is not part of the answer the client is reading
        self._seam_held.append(event)
        if type(event) is BlockStart and type(event.block) is TextBlock:
            self._seam_text_blocks.add(event.index)
        elif type(event) is TextDelta and event.index in self._seam_text_blocks:
            seam.feed(event.text)
        elif type(event) is StreamEnd or type(event) is ToolInputDelta or type(event) is BlockStart:
            seam.end()  # the text, if any, is over: decide with what came
        if not seam.decided:
            return []
        self._seam_text_blocks = set()
        return self._release(seam.dropped)

    def _release(self, dropped: int) -> list[StreamEvent]:
        """The seam decided: pass the held events on, less the overlap it dropped."""
        out: list[StreamEvent] = []
        held, self._seam_held = self._seam_held, []
        for event in held:
            if type(event) is TextDelta and dropped:
                cut = min(dropped, len(event.text))
                dropped -= cut
                if cut == len(event.text):
                    continue
                event = TextDelta(event.index, event.text[cut:])
            out.extend(self._take(event))
        return out

    def _with_usage(self, end: StreamEnd) -> StreamEnd:
        """An upstream's end, with the whole answer's usage once more than one upstream wrote it."""
        if not self._switched:
            return end
        return msgspec.structs.replace(end, usage=self._usage(end.usage))

    def _usage(self, reported: Usage) -> Usage:
        generated = reported.output_tokens or estimate_text("".join(self._generated))
        return Usage(self.input_tokens or reported.input_tokens, self._earlier_output + generated)

    def _take(self, event: StreamEvent) -> list[StreamEvent]:
        if type(event) is StreamStart:
            if self._started:
                return []
            self._started = True
            return self._commit([event])
        if type(event) is BlockStart:
            return self._block_start(event)
        if type(event) is StreamEnd:
            out = self._close_open()
            self._ended = True
            return self._commit([*out, event])
        if type(event) is StreamNote:
            return [event]
        index = event.index  # type: ignore[union-attr]  # start, end and notes returned above
        mapped = self._index_map.get(index)
        if mapped is None:
            return []  # a delta for a block we never opened: drop rather than emit an ill-formed stream
        renumbered = msgspec.structs.replace(event, index=mapped)
        if self._holding == index:
            self._pending.append(renumbered)
            if type(event) is BlockStop:
                self._holding = None
                released, self._pending = self._pending, []
                self._next_index = mapped + 1
                return self._commit(released)
            return []
        if type(event) is BlockStop:
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

    def finish(self, stop_reason: StopReason = "end_turn") -> list[StreamEvent]:
        """Close the message as it stands (nothing left to continue)."""
        if self._ended:
            return []
        return self._take(StreamEnd(stop_reason=stop_reason, usage=self._usage(Usage())))


__all__ = ["Splice", "continuation", "continue_prompt", "delivered_text", "has_tool_calls"]
