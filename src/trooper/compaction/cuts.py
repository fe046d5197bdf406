"""Cutting a text by whole lines (a long line by whole sentences), with one marker line
that says how much was left out."""

from __future__ import annotations

import re

from trooper.signals.tokens import estimate_text

MARKER_OPEN = "[… "
MARKER_CLOSE = " left out to fit the context window …]"
LONG_LINE = 300  # characters: a longer line is cut by sentences, a shorter one whole


# Anchored at a run's start and possessive: a 100,000-character run of "!" is one look, not
# one per character (which held the event loop for minutes; tests/test_bounded_work.py).
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++\s+")


def cut_text(text: str, room: int) -> str:
    """`text` within about `room` tokens: its first and last whole lines (a long line by
    whole sentences), with a marker line in between saying how much was left out. Every
    other line of the result is a line, or whole sentences of a line, of `text`."""
    size = estimate_text(text)
    if size <= room:
        return text
    pieces = segments(text)
    costs = [estimate_text(s) for s, _ in pieces]
    room = max(room - 24, 0)  # the marker's own cost
    head_room = room * 2 // 3
    head = 0
    used = 0
    while head < len(pieces) and used + costs[head] <= head_room:
        used += costs[head]
        head += 1
    tail = len(pieces)
    used_tail = 0
    while tail > head and used + used_tail + costs[tail - 1] <= room:
        used_tail += costs[tail - 1]
        tail -= 1
    left_out = pieces[head:tail]
    if not left_out:
        return text
    lines = sum(1 for _, kind in left_out if kind == "line")
    sentences = len(left_out) - lines
    parts = [f"{lines} line{'s' * (lines != 1)}"] if lines else []
    if sentences:
        parts.append(f"{sentences} sentence{'s' * (sentences != 1)}")
    marker = marker_line(f"{' and '.join(parts)}, ~{sum(costs[head:tail])} tokens,")
    before = "".join(s for s, _ in pieces[:head]).rstrip()
    after = "".join(s for s, _ in pieces[tail:]).strip()
    return "\n".join(p for p in (before, marker, after) if p)


def marker_line(what: str) -> str:
    return f"{MARKER_OPEN}{what}{MARKER_CLOSE}"


def is_marker(line: str) -> bool:
    line = line.strip()
    return line.startswith(MARKER_OPEN) and line.endswith(MARKER_CLOSE)


def segments(text: str) -> list[tuple[str, str]]:
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


