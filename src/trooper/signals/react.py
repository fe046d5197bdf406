"""ReAct-style text agents: tool use written as plain text, no tool fields.

The assistant writes `Thought: …`, then `Action: search_flights[LIS, 2024-05-02]` (or
`Action: name` with an `Action Input: …` line, or `name(args)`); the next user turn carries
`Observation: …`. Labels may be numbered (`Action 2:`). A trace becomes the same things a
tool-calling agent's blocks are: calls, results, and the prose around them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_LABEL = re.compile(
    r"[ \t]*(thought|action[ \t]+input|action|observation|final[ \t]+answer)(?:[ \t]*\d{1,3})?[ \t]*:[ \t]?",
    re.IGNORECASE,
)
_NAME = re.compile(r"[A-Za-z_][\w.-]{0,60}")


class Part(NamedTuple):
    kind: str  # "prose" | "action" | "observation" | "answer"
    text: str  # prose or observation text; the action's argument
    name: str = ""  # the action's tool name


def is_trace(text: str) -> bool:
    low = text.lower()
    return ("action" in low or "observation" in low) and any(
        (m := _LABEL.match(line)) is not None and m.group(1).lower() in ("action", "observation")
        for line in text.splitlines()
    )


def parse(text: str) -> list[Part]:
    """The parts of a trace, in order. Text outside any label is prose."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        match = _LABEL.match(line)
        if match is None:
            sections[-1][1].append(line)
            continue
        label = " ".join(match.group(1).lower().split())
        sections.append((label, [line[match.end():]]))
    parts: list[Part] = []
    for label, lines in sections:
        body = "\n".join(lines).strip()
        if label == "action":
            name, argument = _call(body)
            if name:
                parts.append(Part("action", argument, name))
        elif label == "action input":
            if parts and parts[-1].kind == "action" and not parts[-1].text:
                parts[-1] = Part("action", body, parts[-1].name)
        elif label == "observation":
            person = _PERSON.match(body)
            if person is not None and person.group(1).lower() not in _DATA_LABELS:
                # "Observation: Customer: hi, can I keep the car till Saturday?": a person's words, relayed
                parts.append(Part("observation", body))
                parts.append(Part("prose", body[person.end():].strip()))
                continue
            observed, said = _users_words(body)
            parts.append(Part("observation", observed))
            if said:
                parts.append(Part("prose", said))
        elif label == "final answer":
            parts.append(Part("answer", body))
        elif body:
            parts.append(Part("prose", body))
    return parts


# Who speaks in a relayed message ("Customer:", "Patient:", "Dominika:"), not a tool's own label.
_PERSON = re.compile(r"([A-Z][a-z]{1,20}(?: [A-Z][a-z]{1,20})?):[ \t]+(?=[^\s{\[|<])(?=\S+ \S+ \S+)")
_DATA_LABELS = frozenset("error warning warn result results status topic output response note info summary title "
                         "source total found none exception traceback success ok failed failure fatal usage id".split())


def _users_words(body: str) -> tuple[str, str]:
    """An observation and, after its last blank line, what the user typed beside it ("so if it
    sits till monday what are we looking at?"): a short paragraph that talks, not data."""
    head, blank, tail = body.rpartition("\n\n")
    tail = tail.strip()
    if not blank or not tail or len(tail) > 400 or tail[:1] in " \t|{[<-#" or not _TALK.match(tail):
        return body, ""
    return head.rstrip(), tail


# How a person's turn starts (a question, a go-ahead, a change of mind), unlike a tool's output.
_TALK = re.compile(
    r"(?:ok|okay|thanks|thank you|thx|ty|great|nice|cool|perfect|yes|yep|yeah|no|nope|nah|hmm|hm|actually|wait|also|and|"
    r"so|but|can|could|would|will|should|is|are|do|does|did|what|why|how|when|where|which|who|please|pls|i|i'm|i'll|"
    r"we|let's|lets|go|don't|dont|sounds|sure|right|fine|got it|hold on|btw)\b[^|{}]*$",
    re.IGNORECASE | re.DOTALL,
)


def _call(body: str) -> tuple[str, str]:
    first = body.split("\n", 1)[0].strip().strip("`")
    match = _NAME.match(first)
    if match is None:
        return "", ""
    name, rest = match.group(0), first[match.end():].strip()
    if rest[:1] in "[(" and rest:
        closing = "]" if rest[0] == "[" else ")"
        rest = rest[1:].removesuffix(closing) if rest.endswith(closing) else rest[1:]
    elif rest[:1] == ":":
        rest = rest[1:]
    return name, rest.strip().strip("\"'")
