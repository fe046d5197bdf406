"""Compaction: fit a whole request (system prompt, tool definitions, history) into a small
model's window, keeping what matters and inventing nothing.

What gives way, in order, only as far as needed:
1. harness text (`<system-reminder>` blocks, catalogues, billing lines: signals/harness.py);
2. the details of tools the conversation doesn't need (description past its first
   sentence, schema descriptions and examples); the tools it used, the tools named in
   its latest turns and a forced tool_choice are kept whole;
3. the history, in three layers: ANCHOR, the first two turns verbatim; SITREP, a
   rule-based summary of the middle (`[TROOPER_SITREP]{json}[/TROOPER_SITREP]`); TAIL,
   the last turns verbatim, as many as fit. A tool call is never separated from its result;
4. unneeded tools, whole (when even the history's essentials don't fit beside them);
5. the system prompt, then the longest other texts, by whole lines or sentences.

Kept verbatim, always: the user's latest turn, the last tool result (with its call) and
a partial answer being continued. A cut keeps whole lines or sentences and leaves a
marker with a true count in their place; nothing is repeated. When the protected parts
alone don't fit, the result says so (`fits` is False) and the tier is not asked.
"""

from __future__ import annotations

import re

import msgspec

from trooper.continuation import CONTINUE_OPENING
from trooper.conversation import Block, Conversation, Message, TextBlock, Tool, ToolResultBlock, ToolUseBlock
from trooper.signals.extract import Signals, extract
from trooper.signals.harness import without_harness
from trooper.signals.tokens import PER_MESSAGE, PER_TOOL, estimate_message, estimate_text

ANCHOR_MESSAGES = 2
SITREP_SHARE = 0.20
SITREP_MAX_SHARE = 0.35
SITREP_MIN_SHARE = 0.08  # what the summary may shrink to before tools are dropped for it
SITREP_OPEN = "[TROOPER_SITREP]"
SITREP_CLOSE = "[/TROOPER_SITREP]"
SITREP_LEAD = "Summary of earlier turns, left out to fit the context window:\n"
MARKER_OPEN = "[… "
MARKER_CLOSE = " left out to fit the context window …]"
LATEST_TURNS = 4  # tools named in this many last messages are kept whole
LONG_LINE = 300  # characters: a longer line is cut by sentences, a shorter one whole

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
        self.protected = _protected(conversation.messages)

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
        self.system, removed = _strip_harness(self.system)
        if removed:
            self.system_size = estimate_text(self.system)
            self.harness_lines += removed
        for index, message in enumerate(self.messages):
            # A protected message keeps every block someone said verbatim; only blocks that
            # are nothing but harness text leave it.
            strip = _drop_harness_blocks if index in self.protected.verbatim else _strip_message
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
        latest = " ".join(_plain_text(m) for m in self.original.messages[-LATEST_TURNS:])
        needed.update(n for n in names if n not in needed and _names(latest, n))
        return needed

    def trim_tools(self) -> None:
        needed = self.needed_tools()
        for index, tool in enumerate(self.tools):
            if tool.name in needed:
                continue
            trimmed = trim_tool(tool)
            size = tool_tokens(trimmed)
            if size < self.tool_sizes[index]:
                self.tools[index], self.tool_sizes[index] = trimmed, size
                self.trimmed.append(tool.name)
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
        anchor_end = min(_anchor_end(messages), keep.tail_from)
        pinned_index = keep.latest_user if anchor_end <= keep.latest_user < keep.tail_from else None
        pinned = _pin(messages[pinned_index]) if pinned_index is not None else None

        # The history's essentials: the anchor, the protected tail, the pinned turn, a small SITREP.
        essentials = sum(sizes[:anchor_end]) + sum(sizes[keep.tail_from :]) + int(self.budget * SITREP_MIN_SHARE)
        if pinned is not None:
            essentials += estimate_message(pinned)
        if self.fixed() + essentials > self.budget:
            self.drop_tools(self.fixed() + essentials - self.budget)
        if self.fixed() + essentials > self.budget and self.system:
            self.cut_system(max(self.budget - essentials, self.budget // 8))
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
        tail_start = _tail_start(messages, sizes, anchor_end, keep.tail_from, tail_room - most)
        sitrep_text = self.sitrep(anchor_end, tail_start, min(most, tail_room - sum(sizes[tail_start:])))
        reserved = estimate_text(sitrep_text) if sitrep_text else int(self.budget * SITREP_SHARE)
        further = _tail_start(messages, sizes, anchor_end, keep.tail_from, tail_room - reserved)
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
        assembled = _assemble(list(anchor), sitrep_text, pinned, list(tail))
        if estimate_text(sitrep_text) > 0 and self.total_of(assembled) > self.budget:
            # The SITREP gives way to what was said: re-render it into what is left.
            left = self.budget - self.total_of(_assemble(list(anchor), "", pinned, list(tail)))
            sitrep_text = self.sitrep(anchor_end, tail_start, left) if left > 60 else ""
            assembled = _assemble(list(anchor), sitrep_text, pinned, list(tail))

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
        return render_sitrep(signals, room, user_notes(tuple(self.messages[anchor_end:tail_start])))

    # --- 5. cutting texts by whole lines or sentences ---

    def cut_system(self, room: int) -> None:
        cut = cut_text(self.system, room)
        if cut != self.system:
            self.system = cut
            self.system_size = estimate_text(cut)
            self.note(SYSTEM_TRIMMED)

    def shorten(self, message: Message, room: int) -> Message:
        """`message` with its unprotected texts cut to about `room` tokens between them."""
        cuttable = [b for b in message.content if _cuttable(b, self.protected.blocks)]
        if not cuttable:
            return message
        each = max(room // len(cuttable), 1)
        shortened = Message(message.role, tuple(self._shorten_block(b, each) for b in message.content))
        if shortened != message:
            self.truncated += 1
            self.note(MESSAGES_SHORTENED)
        return shortened

    def _shorten_block(self, block: Block, room: int) -> Block:
        if not _cuttable(block, self.protected.blocks):
            return block
        if type(block) is TextBlock:
            return TextBlock(cut_text(block.text, room))
        inner = tuple(TextBlock(cut_text(b.text, room)) if type(b) is TextBlock else b for b in block.content)  # type: ignore[union-attr]
        return msgspec.structs.replace(block, content=inner)  # type: ignore[type-var]

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

    def result(self, before: int, messages: list[Message], **layers: int | bool) -> Compacted:
        conversation = msgspec.structs.replace(
            self.original, system=self.system, tools=tuple(self.tools), messages=tuple(_merge_same_roles(messages))
        )
        after = self.total_of(list(conversation.messages))
        return Compacted(
            conversation, before, after, self.budget, compacted=True, truncated=self.truncated, fits=after <= self.budget,
            cut=tuple(self.cut), tools_trimmed=tuple(n for n in self.trimmed if n not in self.dropped_tools),
            tools_dropped=tuple(self.dropped_tools), harness_lines=self.harness_lines, **layers,  # type: ignore[arg-type]
        )


# --- what is protected ---


class _Protected(msgspec.Struct):
    verbatim: frozenset[int]  # message indices never changed
    blocks: frozenset[int]  # ids of their blocks (they survive merging)
    tail_from: int  # the tail starts here or earlier
    latest_user: int  # the user's latest turn (-1: none)


def _protected(messages: tuple[Message, ...]) -> _Protected:
    """The user's latest turn, the last tool result with its call (the step the agent is
    in: none once the user has spoken after it), a partial answer being continued, and
    the last message: kept verbatim."""
    last = len(messages) - 1
    tail_from = max(last, 0)
    verbatim = {last} if last >= 0 else set()
    latest_user = next((i for i in range(last, -1, -1) if messages[i].role == "user" and _said(messages[i])), -1)
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
    return _Protected(frozenset(verbatim), blocks, tail_from, latest_user)


def _said(message: Message) -> bool:
    """The message holds words someone typed (not only tool results or harness text)."""
    for block in message.content:
        if type(block) is TextBlock and block.text.strip() and not block.text.startswith(CONTINUE_OPENING):
            if without_harness(block.text):
                return True
    return False


def _pin(message: Message) -> Message:
    """The user's latest turn kept beside the tail: its words (tool results stay with the
    middle, whose calls were summarised)."""
    return Message("user", tuple(b for b in message.content if type(b) is not ToolResultBlock))


def _cuttable(block: Block, protected: frozenset[int]) -> bool:
    if id(block) in protected:
        return False
    if type(block) is TextBlock:
        return not block.text.startswith(SITREP_LEAD)
    return type(block) is ToolResultBlock


# --- the layers ---


def _anchor_end(messages: list[Message]) -> int:
    """Index after the anchor: the first two turns, extended so a tool call keeps its result."""
    end = min(ANCHOR_MESSAGES, len(messages))
    while end < len(messages) and _has_tool_use(messages[end - 1]):
        end += 1  # the results of the anchor's last tool calls belong with it
    return end


def _tail_start(messages: list[Message], sizes: list[int], floor: int, latest: int, room: int) -> int:
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
        if _clean_cut(messages, start):
            best = start
    return best


def _clean_before(messages: list[Message], index: int, floor: int) -> int:
    while index > floor and not _clean_cut(messages, index):
        index -= 1
    return index


def _clean_cut(messages: list[Message], index: int) -> bool:
    return index >= len(messages) or not any(type(b) is ToolResultBlock for b in messages[index].content)


def _assemble(anchor: list[Message], sitrep: str, pinned: Message | None, tail: list[Message]) -> list[Message]:
    """anchor + SITREP + the user's latest turn (when it is older than the tail) + tail,
    with roles still alternating."""
    if pinned is not None:
        tail = [pinned, *tail]
    if not sitrep:
        return _merge_same_roles([*anchor, *tail])
    note = TextBlock(sitrep)
    if anchor and anchor[-1].role == "user":
        last = anchor[-1]
        return _merge_same_roles([*anchor[:-1], Message("user", (*last.content, note)), *tail])
    if tail and tail[0].role == "user":
        first = tail[0]
        return _merge_same_roles([*anchor, Message("user", (note, *first.content)), *tail[1:]])
    return _merge_same_roles([*anchor, Message("user", (note,)), *tail])


def _merge_same_roles(messages: list[Message]) -> list[Message]:
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


def user_notes(messages: tuple[Message, ...], limit: int = 600) -> list[str]:
    """What the user said in these turns, in their own words (not tool output, not harness
    text): where people state the facts, constraints and worries an agent must not
    forget. A long note keeps its first whole sentences."""
    notes = []
    for message in messages:
        if message.role != "user":
            continue
        for block in message.content:
            if type(block) is TextBlock and block.text.strip():
                text = " ".join(without_harness(block.text).split())
                if text:
                    notes.append(text if len(text) <= limit else _first_sentences(text, limit))
    return notes


def _first_sentences(text: str, limit: int) -> str:
    kept = ""
    for sentence in _SENTENCE_SPLIT.split(text):
        if kept and len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}" if kept else sentence
    return kept


def render_sitrep(signals: Signals, room: int, notes: list[str] | None = None) -> str:
    """The SITREP as the seed product wrote it, plus the user's own words from the left-out
    turns, trimmed to `room` tokens: the least essential lists give way first; intent,
    constraints and open loops last of all."""
    # Only fields that give way after the notes may stand in for them.
    carried = {*signals.constraints, *signals.open_loops, signals.intent}
    notes = [note for note in (_uncarried(n, carried) for n in notes or ()) if note]
    fields = {
        "intent": signals.intent,
        "stage": signals.stage,
        "constraints": list(signals.constraints),
        "active_entities": list(signals.active_entities),
        "facts": list(signals.facts),
        "open_loops": list(signals.open_loops),
        "recent_actions": list(signals.recent_actions),
        "resolved_loops": list(signals.resolved_loops),
        "completed_steps": list(signals.completed_steps),
        "user_notes": notes,
        "confidence": signals.confidence,
    }
    give_way = ["recent_actions", "active_entities", "resolved_loops", "completed_steps", "facts", "user_notes",
                "open_loops", "constraints"]
    # Size each item once and drop by arithmetic; one real estimate confirms (and the loop
    # repeats in the rare case quoting made the JSON larger than its parts).
    sizes = {name: [estimate_text(item) + 2 for item in fields[name]] for name in give_way}  # type: ignore[union-attr]
    target = room
    while True:
        total = estimate_text(SITREP_LEAD + signals.intent) + 40 + sum(sum(v) for v in sizes.values())
        for name in give_way:
            while total > target and fields[name]:
                fields[name].pop(0)  # type: ignore[union-attr]  # oldest first
                total -= sizes[name].pop(0)
        text = SITREP_LEAD + SITREP_OPEN + msgspec.json.encode(fields).decode() + SITREP_CLOSE
        rendered = estimate_text(text)
        if rendered <= room or not any(fields[name] for name in give_way):
            return text
        target -= max(rendered - room, 4)  # the JSON around the items cost more than guessed


def _uncarried(note: str, carried: set[str]) -> str:
    """The note without the sentences a structured field already carries."""
    if not any(item and item in note for item in carried):
        return note
    kept = [s for s in _SENTENCES.findall(note) if s.strip() and not any(s.strip() in item for item in carried if item)]
    return " ".join(s.strip() for s in kept)


_SENTENCES = re.compile(r"(?:[^.!?]|[.!?](?=\S))+[.!?]?")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
_SENTENCE_END = re.compile(r"[.!?]+\s+")


# --- cutting a text by whole lines or sentences ---


def cut_text(text: str, room: int) -> str:
    """`text` within about `room` tokens: its first and last whole lines (a long line by
    whole sentences), with a marker line in between saying how much was left out. Every
    other line of the result is a line, or whole sentences of a line, of `text`."""
    size = estimate_text(text)
    if size <= room:
        return text
    segments = _segments(text)
    costs = [estimate_text(s) for s, _ in segments]
    room = max(room - 24, 0)  # the marker's own cost
    head_room = room * 2 // 3
    head = 0
    used = 0
    while head < len(segments) and used + costs[head] <= head_room:
        used += costs[head]
        head += 1
    tail = len(segments)
    used_tail = 0
    while tail > head and used + used_tail + costs[tail - 1] <= room:
        used_tail += costs[tail - 1]
        tail -= 1
    left_out = segments[head:tail]
    if not left_out:
        return text
    lines = sum(1 for _, kind in left_out if kind == "line")
    sentences = len(left_out) - lines
    parts = [f"{lines} line{'s' * (lines != 1)}"] if lines else []
    if sentences:
        parts.append(f"{sentences} sentence{'s' * (sentences != 1)}")
    marker = marker_line(f"{' and '.join(parts)}, ~{sum(costs[head:tail])} tokens,")
    before = "".join(s for s, _ in segments[:head]).rstrip()
    after = "".join(s for s, _ in segments[tail:]).strip()
    return "\n".join(p for p in (before, marker, after) if p)


def marker_line(what: str) -> str:
    return f"{MARKER_OPEN}{what}{MARKER_CLOSE}"


def is_marker(line: str) -> bool:
    line = line.strip()
    return line.startswith(MARKER_OPEN) and line.endswith(MARKER_CLOSE)


def _segments(text: str) -> list[tuple[str, str]]:
    """`text` as consecutive pieces that join back to it: whole lines, and the sentences
    of a long line."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines(keepends=True):
        if len(line) <= LONG_LINE:
            out.append((line, "line"))
            continue
        start = 0
        for end in _SENTENCE_END.finditer(line):
            out.append((line[start : end.end()], "sentence"))
            start = end.end()
        if start < len(line):
            out.append((line[start:], "sentence" if start else "line"))
    return out


# --- tools ---


def tool_tokens(tool: Tool) -> int:
    return PER_TOOL + estimate_text(tool.name) + estimate_text(tool.description) + estimate_text(str(tool.input_schema))


def trim_tool(tool: Tool) -> Tool:
    """The tool without its details: the description's first sentence, and a schema of
    parameter names, types, enums and what is required."""
    return Tool(tool.name, _first_sentence(tool.description), _bare_schema(tool.input_schema))


def _first_sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    first = _segments(text.split("\n", 1)[0])[0][0]
    return first.strip()


_SCHEMA_KEEP = ("type", "enum", "required", "const")


def _bare_schema(schema: object) -> dict:
    if not isinstance(schema, dict):
        return {}
    bare = {k: schema[k] for k in _SCHEMA_KEEP if k in schema}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        bare["properties"] = {name: _bare_schema(value) for name, value in properties.items()}
    items = schema.get("items")
    if isinstance(items, dict):
        bare["items"] = _bare_schema(items)
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            bare[combinator] = [_bare_schema(v) for v in schema[combinator]]
    return bare


def _names(text: str, name: str) -> bool:
    if name not in text:
        return False
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def _plain_text(message: Message) -> str:
    parts = []
    for block in message.content:
        if type(block) is TextBlock:
            parts.append(block.text)
        elif type(block) is ToolResultBlock:
            parts.extend(b.text for b in block.content if type(b) is TextBlock)
    return " ".join(parts)


def _strip_message(message: Message) -> tuple[Message, int]:
    """The message without harness text, in its own texts and its tool results' texts: a
    text that is nothing else is left out."""
    blocks, removed = _strip_blocks(message.content)
    return (Message(message.role, tuple(blocks)), removed) if removed else (message, 0)


def _strip_blocks(content: tuple) -> tuple[list, int]:
    removed = 0
    blocks: list = []
    for block in content:
        if type(block) is TextBlock and (stripped := _strip_harness(block.text))[1]:
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


def _strip_harness(text: str) -> tuple[str, int]:
    """`text` without harness text (signals/harness.py), and how many lines went."""
    stripped = without_harness(text)
    if stripped is text or stripped == text:
        return text, 0
    return stripped, max(text.count("\n") - stripped.count("\n") + (not stripped), 1)


def is_harness_only(text: str) -> bool:
    return bool(text.strip()) and not without_harness(text)


def _drop_harness_blocks(message: Message) -> tuple[Message, int]:
    harness = [b for b in message.content if type(b) is TextBlock and is_harness_only(b.text)]
    if not harness:
        return message, 0
    kept = tuple(b for b in message.content if all(b is not h for h in harness))
    return Message(message.role, kept), sum(h.text.count("\n") + 1 for h in harness)


def _has_tool_use(message: Message) -> bool:
    return any(type(b) is ToolUseBlock for b in message.content)
