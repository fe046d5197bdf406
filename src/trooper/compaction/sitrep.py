"""The SITREP: a rule-based summary of the turns compaction leaves out, with the user's
own words from them, trimmed to its room."""

from __future__ import annotations

import re

import msgspec

from trooper.conversation import Message, TextBlock
from trooper.signals.extract import Signals
from trooper.signals.harness import without_harness
from trooper.signals.tokens import estimate_text

SITREP_OPEN = "[TROOPER_SITREP]"
SITREP_CLOSE = "[/TROOPER_SITREP]"
SITREP_LEAD = "Summary of earlier turns, left out to fit the context window:\n"


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
    lists: dict[str, list[str]] = {  # in the order the SITREP shows them
        "constraints": list(signals.constraints),
        "active_entities": list(signals.active_entities),
        "facts": list(signals.facts),
        "open_loops": list(signals.open_loops),
        "recent_actions": list(signals.recent_actions),
        "resolved_loops": list(signals.resolved_loops),
        "completed_steps": list(signals.completed_steps),
        "user_notes": notes,
    }
    give_way = ["recent_actions", "active_entities", "resolved_loops", "completed_steps", "facts", "user_notes",
                "open_loops", "constraints"]
    # Size each item once and drop by arithmetic; one real estimate confirms (and the loop
    # repeats in the rare case quoting made the JSON larger than its parts).
    sizes = {name: [estimate_text(item) + 2 for item in lists[name]] for name in give_way}
    target = room
    while True:
        total = estimate_text(SITREP_LEAD + signals.intent) + 40 + sum(sum(v) for v in sizes.values())
        for name in give_way:
            while total > target and lists[name]:
                lists[name].pop(0)  # oldest first
                total -= sizes[name].pop(0)
        fields = {"intent": signals.intent, "stage": signals.stage, **lists, "confidence": signals.confidence}
        text = SITREP_LEAD + SITREP_OPEN + msgspec.json.encode(fields).decode() + SITREP_CLOSE
        rendered = estimate_text(text)
        if rendered <= room or not any(lists[name] for name in give_way):
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
