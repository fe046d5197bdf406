"""Compaction: fit a long conversation into a small model's window, keeping what matters.

Three layers, in order:
- ANCHOR: the first two turns verbatim (the task as first stated), never dropped;
- SITREP: a rule-based summary of the middle turns (signals/extract.py), as
  `[TROOPER_SITREP]{json}[/TROOPER_SITREP]`;
- TAIL: the last turns verbatim, as many as fit.
The system prompt and tools are kept. A tool call is never separated from its result.
The result never exceeds the budget by the estimator, which errs high.
"""

from __future__ import annotations

import re

import msgspec

from trooper.conversation import Block, Conversation, Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.signals.extract import Signals, extract
from trooper.signals.tokens import PER_MESSAGE, estimate_conversation, estimate_message, estimate_text

ANCHOR_MESSAGES = 2
SITREP_SHARE = 0.20
SITREP_MAX_SHARE = 0.35
SITREP_OPEN = "[TROOPER_SITREP]"
SITREP_CLOSE = "[/TROOPER_SITREP]"
SITREP_LEAD = "Summary of earlier turns, left out to fit the context window:\n"
TRUNCATED = "\n[… {n} tokens left out to fit the context window …]\n"


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
    truncated: int = 0  # blocks shortened because alone they didn't fit

    @property
    def context_kept(self) -> bool:
        """Anchor, SITREP and tail all made it: the model knows the task, the state and
        the latest turns."""
        return not self.compacted or (self.anchor > 0 and self.sitrep and self.tail > 0)


def compact(conversation: Conversation, budget: int) -> Compacted:
    """`conversation` within `budget` tokens (input only; the caller keeps room for the answer)."""
    messages = conversation.messages
    sizes = [estimate_message(m) for m in messages]
    fixed = estimate_conversation(msgspec.structs.replace(conversation, messages=()))  # system and tools: always kept
    before = fixed + sum(sizes)
    if before <= budget:
        return Compacted(conversation, before, before, budget)
    room = budget - fixed
    if room < PER_MESSAGE * 4:
        conversation, fixed = _shrink_system(conversation, budget)
        room = budget - fixed

    anchor_end = min(_anchor_end(messages), len(messages) - 1)  # the last turn is always the tail's
    anchor = list(messages[:anchor_end])
    anchor_tokens = sum(sizes[:anchor_end])
    if anchor_tokens > room * 0.4:  # an anchor that alone eats the window is shortened, not dropped
        anchor = [_shorten(m, int(room * 0.1 / max(len(anchor), 1))) for m in anchor]
        anchor_tokens = sum(estimate_message(m) for m in anchor)

    # The SITREP takes ~20% of the budget, more (up to 35%) when the middle has more to
    # say; the tail gets the rest. The first cut leaves the SITREP its most; once its size
    # is known the tail may reach further back (the SITREP then covers a little of it too).
    first_cut = _tail_start(messages, sizes, anchor_end, room - anchor_tokens - int(budget * SITREP_MAX_SHARE))
    sitrep_text = _sitrep(conversation, messages, anchor_end, first_cut, int(budget * SITREP_MAX_SHARE))
    sitrep_room = max(int(budget * SITREP_SHARE), estimate_text(sitrep_text))
    tail_start = min(first_cut, _tail_start(messages, sizes, anchor_end, room - anchor_tokens - sitrep_room))
    truncated = 0
    if tail_start >= len(messages):
        # Not even the last turn fits: keep the shortest clean tail (a tool result needs
        # its call) and shorten it below.
        tail_start = next((i for i in range(len(messages) - 1, anchor_end - 1, -1) if _clean_cut(messages, i)), anchor_end)
    tail = list(messages[tail_start:])

    middle = messages[anchor_end:tail_start]
    if not middle:
        sitrep_text = ""
    assembled = _assemble(anchor, sitrep_text, tail)
    result = msgspec.structs.replace(conversation, messages=tuple(assembled))
    known = {id(m): size for m, size in zip(messages, sizes)}
    after = fixed + sum(known.get(id(m)) or estimate_message(m) for m in assembled)

    # Still over (estimates of joined parts, a huge last turn): shorten the largest blocks.
    while after > budget:
        assembled, shortened = _shorten_largest(assembled, after - budget)
        if not shortened:
            break
        truncated += 1
        result = msgspec.structs.replace(conversation, messages=tuple(assembled))
        after = estimate_conversation(result)

    return Compacted(
        result, before, after, budget, compacted=True, anchor=len(anchor), dropped=len(middle),
        tail=len(tail), sitrep=bool(sitrep_text), truncated=truncated,
    )


# --- the layers ---


def _anchor_end(messages: tuple[Message, ...]) -> int:
    """Index after the anchor: the first two turns, extended so a tool call keeps its result."""
    end = min(ANCHOR_MESSAGES, len(messages))
    while end < len(messages) and _has_tool_use(messages[end - 1]):
        end += 1  # the results of the anchor's last tool calls belong with it
    return end


def _tail_start(messages: tuple[Message, ...], sizes: list[int], floor: int, room: int) -> int:
    """The earliest index whose suffix fits `room`, at a clean cut: never between a tool
    call and its result (a tail may not start with a user turn holding tool results)."""
    start = len(messages)
    used = 0
    best = len(messages)
    while start > floor:
        candidate = start - 1
        used += sizes[candidate]
        if used > room:
            break
        start = candidate
        if _clean_cut(messages, start):
            best = start
    return best


def _clean_cut(messages: tuple[Message, ...], index: int) -> bool:
    return not any(type(b) is ToolResultBlock for b in messages[index].content)


def _assemble(anchor: list[Message], sitrep: str, tail: list[Message]) -> list[Message]:
    """anchor + SITREP + tail, with roles still alternating."""
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
            content = _results_first((*previous.content, *message.content)) if message.role == "user" else (*previous.content, *message.content)
            message = Message(message.role, content)
        merged.append(message)
    return merged


def _results_first(blocks: tuple[Block, ...]) -> tuple[Block, ...]:
    # Anthropic wants a user turn's tool results before anything else in it.
    results = tuple(b for b in blocks if type(b) is ToolResultBlock)
    return results + tuple(b for b in blocks if type(b) is not ToolResultBlock)


def _sitrep(conversation: Conversation, messages: tuple[Message, ...], anchor_end: int, tail_start: int, room: int) -> str:
    if tail_start <= anchor_end:
        return ""
    signals = extract(messages[:tail_start], conversation.system)
    return render_sitrep(signals, room, user_notes(messages[anchor_end:tail_start]))


def user_notes(messages: tuple[Message, ...], limit: int = 400) -> list[str]:
    """What the user said in these turns, in their own words (not tool output): where
    people state the facts, constraints and worries an agent must not forget."""
    notes = []
    for message in messages:
        if message.role != "user":
            continue
        for block in message.content:
            if type(block) is TextBlock and block.text.strip():
                text = " ".join(block.text.split())
                notes.append(text if len(text) <= limit else text[: limit - 1] + "…")
    return notes


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


# --- shortening what alone is too big ---


def _shorten(message: Message, room: int) -> Message:
    return Message(message.role, tuple(_shorten_block(b, room // max(len(message.content), 1)) for b in message.content))


def _shorten_block(block: Block, room: int) -> Block:
    kind = type(block)
    if kind is TextBlock:
        return TextBlock(_middle_out(block.text, room))  # type: ignore[union-attr]
    if kind is ToolResultBlock:
        inner = tuple(_shorten_block(b, room) for b in block.content)  # type: ignore[union-attr]
        return msgspec.structs.replace(block, content=inner)  # type: ignore[type-var]
    return block


def _middle_out(text: str, room: int) -> str:
    """Keep the head and the end of a text (where questions and conclusions are)."""
    size = estimate_text(text)
    if size <= room:
        return text
    keep = max(int(len(text) * room / size) - 80, 40)
    head, end = text[: keep * 2 // 3], text[-(keep // 3) :]
    return head + TRUNCATED.format(n=size - room) + end


def _shorten_largest(messages: list[Message], excess: int) -> tuple[list[Message], bool]:
    sizes = [estimate_message(m) for m in messages]
    index = max(range(len(messages)), key=sizes.__getitem__)
    target = sizes[index] - excess - PER_MESSAGE * 4
    if target < PER_MESSAGE * 4:
        target = sizes[index] // 2
    shortened = _shorten(messages[index], target)
    if estimate_message(shortened) >= sizes[index]:
        return messages, False
    return [*messages[:index], shortened, *messages[index + 1 :]], True


def _shrink_system(conversation: Conversation, budget: int) -> tuple[Conversation, int]:
    system = _middle_out(conversation.system, budget // 3)
    shrunk = msgspec.structs.replace(conversation, system=system)
    fixed = estimate_conversation(shrunk) - sum(estimate_message(m) for m in shrunk.messages)
    return shrunk, fixed


def _has_tool_use(message: Message) -> bool:
    return any(type(b) is ToolUseBlock for b in message.content)
