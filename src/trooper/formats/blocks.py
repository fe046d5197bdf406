"""The block bookkeeping every stream decoder and encoder needs: block indices opened and
closed in order, and tool calls written whole by formats that send them so."""

from __future__ import annotations

from typing import Any

from trooper.conversation import BlockStart, BlockStop, StreamEvent, TextBlock, ThinkingBlock, ToolUseBlock
from trooper.formats.decoding import lenient_tool_arguments


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
