"""The fitting: one request cut, step by step and only as far as needed, to a budget;
what was cut, for the headers and the session's request record."""

from __future__ import annotations

import msgspec

from trooper.compaction import layers
from trooper.compaction.cuts import cut_text
from trooper.compaction.harness import drop_harness_blocks, strip_harness, strip_message
from trooper.compaction.keep import cuttable, pinned_turn, protected_turns
from trooper.compaction.sitrep import render_sitrep, user_notes
from trooper.compaction.tools import names_tool, plain_text, tool_tokens, trim_tool
from trooper.conversation import Block, Conversation, Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.signals.extract import extract
from trooper.signals.tokens import PER_MESSAGE, estimate_message, estimate_text

SITREP_SHARE = 0.20
SITREP_MAX_SHARE = 0.35
SITREP_MIN_SHARE = 0.08  # what the summary may shrink to before tools are dropped for it
ANCHOR_LEAST_SHARE = 0.2  # what a long anchor counts for when tools might be dropped for it
LATEST_TURNS = 4  # tools named in this many last messages are kept whole

# Words for what was cut, as the headers and the request record say them. The first two
# lose nothing the model needs; the others make the context partial.
HARNESS = "harness text"
HISTORY = "history summarised"
TOOLS_TRIMMED = "tools trimmed"
TOOLS_DROPPED = "tools dropped"
SYSTEM_TRIMMED = "system trimmed"
MESSAGES_SHORTENED = "messages shortened"
NO_SUMMARY = "no summary"
TOO_LONG = "too long"
LOSSLESS = frozenset({HARNESS, HISTORY})


class Fit(msgspec.Struct, frozen=True):
    """How a request was fitted to a window, as the session's request record keeps it."""

    window: int
    budget: int  # tokens for the request; the rest of the window is the answer's
    tokens_before: int
    tokens_after: int
    fits: bool = True
    cut: list[str] = []  # what gave way, in the order it did
    tools_trimmed: list[str] = []
    tools_dropped: list[str] = []
    messages_summarised: int = 0
    harness_lines: int = 0


class Compacted(msgspec.Struct, frozen=True):
    conversation: Conversation
    tokens_before: int
    tokens_after: int
    budget: int
    compacted: bool = False
    anchor: int = 0  # messages kept verbatim at the start
    dropped: int = 0  # middle messages summarised by the SITREP
    tail: int = 0  # messages kept verbatim at the end
    sitrep: bool = False
    truncated: int = 0  # texts cut by lines or sentences
    fits: bool = True
    cut: tuple[str, ...] = ()
    tools_trimmed: tuple[str, ...] = ()
    tools_dropped: tuple[str, ...] = ()
    harness_lines: int = 0

    @property
    def context_kept(self) -> bool:
        """It fits, and nothing the model needs was lost: at most harness text, and a
        history cut that kept anchor, SITREP and tail (the task, the state, the latest turns)."""
        if not self.compacted:
            return True
        if not self.fits or any(c not in LOSSLESS for c in self.cut):
            return False
        return HISTORY not in self.cut or (self.anchor > 0 and self.sitrep and self.tail > 0)

    def context(self) -> str:
        """`context ✓`, or `context ~ (tools trimmed, system trimmed)`: what the headers say."""
        if self.context_kept:
            return "context ✓"
        lost = [c for c in self.cut if c not in LOSSLESS]
        if HISTORY in self.cut and not (self.anchor > 0 and self.sitrep and self.tail > 0) and NO_SUMMARY not in lost:
            lost.append(NO_SUMMARY)
        if not self.fits:
            lost.append(TOO_LONG)
        return f"context ~ ({', '.join(lost)})"

    def record(self, window: int) -> Fit:
        return Fit(
            window, self.budget, self.tokens_before, self.tokens_after, self.fits, list(self.cut),
            list(self.tools_trimmed), list(self.tools_dropped), self.dropped, self.harness_lines,
        )


def answer_room(window: int, asked: int | None, share: float = 0.25, most: float = 0.5) -> int:
    """Tokens of the window kept for the answer: what the client asked for (max_tokens)
    where it fits in `most` of the window, else `share` of it."""
    if asked is not None and 0 < asked <= window * most:
        return asked
    return int(window * share)


def compact(conversation: Conversation, budget: int) -> Compacted:
    """`conversation` within `budget` tokens (the request only; the caller keeps room for
    the answer)."""
    return _Fitting(conversation, budget).run()


class _Fitting:
    """One compaction: the request's parts as they are cut, and what was cut."""

    def __init__(self, conversation: Conversation, budget: int) -> None:
        self.original = conversation
        self.budget = budget
        self.system = conversation.system
        self.tools = list(conversation.tools)
        self.messages = list(conversation.messages)
        self.sizes = [estimate_message(m) for m in self.messages]
        self.tool_sizes = [tool_tokens(t) for t in self.tools]
        self.system_size = estimate_text(self.system)
        self.cut: list[str] = []
        self.trimmed: list[str] = []
        self.dropped_tools: list[str] = []
        self.harness_lines = 0
        self.truncated = 0
        self.protected = protected_turns(conversation.messages)
        self.pinned_index: int | None = None  # the user's latest turn, when kept apart from the tail

    def fixed(self) -> int:
        return self.system_size + sum(self.tool_sizes)

    def total(self) -> int:
        return self.fixed() + sum(self.sizes)

    def note(self, what: str) -> None:
        if what not in self.cut:
            self.cut.append(what)

    def run(self) -> Compacted:
        before = self.total()
        if before <= self.budget:
            return Compacted(self.original, before, before, self.budget)
        self.strip_harness()
        if self.total() > self.budget:
            self.trim_tools()
        if self.total() <= self.budget:
            return self.result(before, self.messages)
        return self.cut_history(before)

    # --- 1. harness text ---

    def strip_harness(self) -> None:
        self.system, removed = strip_harness(self.system)
        if removed:
            self.system_size = estimate_text(self.system)
            self.harness_lines += removed
        for index, message in enumerate(self.messages):
            # A protected message keeps every block someone said verbatim; only blocks that
            # are nothing but harness text leave it.
            strip = drop_harness_blocks if index in self.protected.verbatim else strip_message
            stripped, removed = strip(message)
            if removed and stripped.content:  # a turn of nothing but harness text stays: the turns must alternate
                self.messages[index] = stripped
                self.sizes[index] = estimate_message(stripped)
                self.harness_lines += removed
        if self.harness_lines:
            self.note(HARNESS)

    # --- 2. and 4. tools ---

    def needed_tools(self) -> set[str]:
        """Tools kept whole: used in the conversation, named in its latest turns, or forced."""
        names = {t.name for t in self.tools}
        needed = {b.name for m in self.original.messages for b in m.content if type(b) is ToolUseBlock}
        choice = self.original.tool_choice
        if choice is not None and choice.mode == "tool":
            needed.add(choice.name)
        latest = " ".join(plain_text(m) for m in self.original.messages[-LATEST_TURNS:])
        needed.update(n for n in names if n not in needed and names_tool(latest, n))
        return needed

    def trim_tools(self) -> None:
        """Trim unneeded tools' details, the largest first, until the request fits (or all are)."""
        needed = self.needed_tools()
        order = sorted((i for i, t in enumerate(self.tools) if t.name not in needed), key=lambda i: -self.tool_sizes[i])
        excess = self.total() - self.budget
        for index in order:
            if excess <= 0:
                break
            trimmed = trim_tool(self.tools[index])
            size = tool_tokens(trimmed)
            if size < self.tool_sizes[index]:
                excess -= self.tool_sizes[index] - size
                self.trimmed.append(self.tools[index].name)
                self.tools[index], self.tool_sizes[index] = trimmed, size
        if self.trimmed:
            self.note(TOOLS_TRIMMED)

    def drop_tools(self, excess: int) -> None:
        """Drop unneeded tools, the largest first, until `excess` tokens are gone."""
        needed = self.needed_tools()
        order = sorted((i for i, t in enumerate(self.tools) if t.name not in needed), key=lambda i: -self.tool_sizes[i])
        gone: set[int] = set()
        for index in order:
            if excess <= 0:
                break
            gone.add(index)
            excess -= self.tool_sizes[index]
        if not gone:
            return
        self.dropped_tools.extend(self.tools[i].name for i in sorted(gone))
        self.tools = [t for i, t in enumerate(self.tools) if i not in gone]
        self.tool_sizes = [s for i, s in enumerate(self.tool_sizes) if i not in gone]
        self.note(TOOLS_DROPPED)

    # --- 3. history ---

    def cut_history(self, before: int) -> Compacted:
        messages = self.messages
        sizes = self.sizes
        keep = self.protected
        anchor_end = min(layers.anchor_end(messages), keep.tail_from)
        pinned_index = keep.latest_user if anchor_end <= keep.latest_user < keep.tail_from else None
        pinned = pinned_turn(messages[pinned_index]) if pinned_index is not None else None
        self.pinned_index = pinned_index

        # The history's essentials: the anchor (as far as it may be cut below), the protected
        # tail, the pinned turn, a small SITREP.
        anchor_least = min(sum(sizes[:anchor_end]), int(self.budget * ANCHOR_LEAST_SHARE))
        essentials = anchor_least + sum(sizes[keep.tail_from :]) + int(self.budget * SITREP_MIN_SHARE)
        if pinned is not None:
            essentials += estimate_message(pinned)
        if self.fixed() + essentials > self.budget:
            self.drop_tools(self.fixed() + essentials - self.budget)
        if self.fixed() + essentials > self.budget and self.system:
            self.cut_system(max(self.budget - essentials - sum(self.tool_sizes), self.budget // 8))
        room = self.budget - self.fixed()

        anchor = messages[:anchor_end]
        anchor_tokens = sum(sizes[:anchor_end])
        if anchor_tokens > room * 0.4:  # an anchor that alone eats the window is cut by sentences, not dropped
            anchor = [self.shorten(m, int(room * 0.1 / max(len(anchor), 1))) for m in anchor]
            anchor_tokens = sum(estimate_message(m) for m in anchor)
        pinned_tokens = estimate_message(pinned) if pinned is not None else 0
        tail_room = room - anchor_tokens - pinned_tokens

        # The first cut leaves the SITREP its most (35% of the budget); once its size is
        # known the tail may reach further back into what it left. The SITREP is rendered
        # again only if those turns hold the user's words (its notes would repeat them).
        most = int(self.budget * SITREP_MAX_SHARE)
        tail_start = layers.tail_start(messages, sizes, anchor_end, keep.tail_from, tail_room - most)
        sitrep_text = self.sitrep(anchor_end, tail_start, min(most, tail_room - sum(sizes[tail_start:])))
        reserved = estimate_text(sitrep_text) if sitrep_text else int(self.budget * SITREP_SHARE)
        further = layers.tail_start(messages, sizes, anchor_end, keep.tail_from, tail_room - reserved)
        if further < tail_start:
            if sitrep_text and user_notes(tuple(messages[further:tail_start])):
                sitrep_text = self.sitrep(anchor_end, further, min(most, tail_room - sum(sizes[further:])))
            tail_start = further
        tail = messages[tail_start:]
        middle = tail_start - anchor_end
        if middle <= 0:
            sitrep_text = ""
        else:
            self.note(HISTORY)
        if pinned_index is not None and pinned_index >= tail_start:
            pinned = None
        assembled = layers.assemble(list(anchor), sitrep_text, pinned, list(tail))
        if estimate_text(sitrep_text) > 0 and self.total_of(assembled) > self.budget:
            # The SITREP gives way to what was said: re-render it into what is left.
            left = self.budget - self.total_of(layers.assemble(list(anchor), "", pinned, list(tail)))
            sitrep_text = self.sitrep(anchor_end, tail_start, left) if left > 60 else ""
            assembled = layers.assemble(list(anchor), sitrep_text, pinned, list(tail))

        assembled = self.shorten_until_fits(assembled)
        after = self.total_of(assembled)
        if after > self.budget:  # the tools that were only trimmed go, then the system prompt gives way
            self.drop_tools(after - self.budget)
            after = self.total_of(assembled)
        if after > self.budget and self.system:
            self.cut_system(max(self.system_size - (after - self.budget), 0))
            after = self.total_of(assembled)
        return self.result(
            before, assembled, anchor=len(anchor), dropped=max(middle, 0), tail=len(tail), sitrep=bool(sitrep_text)
        )

    def sitrep(self, anchor_end: int, tail_start: int, room: int) -> str:
        if tail_start <= anchor_end or room <= 0:
            return ""
        signals = extract(tuple(self.messages[:tail_start]), self.system)
        # The user's latest turn, kept verbatim beside the SITREP, isn't repeated in its notes.
        left_out = tuple(m for i, m in enumerate(self.messages[anchor_end:tail_start], anchor_end) if i != self.pinned_index)
        return render_sitrep(signals, room, user_notes(left_out))

    # --- 5. cutting texts by whole lines or sentences ---

    def cut_system(self, room: int) -> None:
        cut = cut_text(self.system, room)
        if cut != self.system:
            self.system = cut
            self.system_size = estimate_text(cut)
            self.note(SYSTEM_TRIMMED)

    def shorten(self, message: Message, room: int) -> Message:
        """`message` with its unprotected texts cut to about `room` tokens between them."""
        texts = [b for b in message.content if cuttable(b, self.protected.blocks)]
        if not texts:
            return message
        each = max(room // len(texts), 1)
        shortened = Message(message.role, tuple(self._shorten_block(b, each) for b in message.content))
        if shortened != message:
            self.truncated += 1
            self.note(MESSAGES_SHORTENED)
        return shortened

    def _shorten_block(self, block: Block, room: int) -> Block:
        if not cuttable(block, self.protected.blocks):
            return block
        if type(block) is TextBlock:
            return TextBlock(cut_text(block.text, room))
        if type(block) is ToolResultBlock:
            inner = tuple(TextBlock(cut_text(b.text, room)) if type(b) is TextBlock else b for b in block.content)
            return msgspec.structs.replace(block, content=inner)
        return block  # cuttable() admits only these two

    def shorten_until_fits(self, messages: list[Message]) -> list[Message]:
        """Cut the largest unprotected texts, by whole lines or sentences, until it fits."""
        after = self.total_of(messages)
        tried: set[int] = set()
        while after > self.budget:
            sizes = [estimate_message(m) if i not in tried else -1 for i, m in enumerate(messages)]
            index = max(range(len(messages)), key=sizes.__getitem__, default=-1)
            if index < 0 or sizes[index] <= PER_MESSAGE * 4:
                break
            target = max(sizes[index] - (after - self.budget) - PER_MESSAGE * 4, sizes[index] // 4, 0)
            shortened = self.shorten(messages[index], target)
            if estimate_message(shortened) >= sizes[index]:
                tried.add(index)
                continue
            messages = [*messages[:index], shortened, *messages[index + 1 :]]
            after = self.total_of(messages)
        return messages

    def total_of(self, messages: list[Message]) -> int:
        return self.fixed() + sum(estimate_message(m) for m in messages)

    def result(self, before: int, messages: list[Message], **kept: int | bool) -> Compacted:
        conversation = msgspec.structs.replace(
            self.original, system=self.system, tools=tuple(self.tools), messages=tuple(layers.merge_same_roles(messages))
        )
        after = self.total_of(list(conversation.messages))
        return Compacted(
            conversation, before, after, self.budget, compacted=True, truncated=self.truncated, fits=after <= self.budget,
            cut=tuple(self.cut), tools_trimmed=tuple(n for n in self.trimmed if n not in self.dropped_tools),
            tools_dropped=tuple(self.dropped_tools), harness_lines=self.harness_lines, **kept,  # type: ignore[arg-type]  # the caller's Compacted flags
        )


