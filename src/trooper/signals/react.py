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
            parts.append(Part("observation", body))
        elif label == "final answer":
            parts.append(Part("answer", body))
        elif body:
            parts.append(Part("prose", body))
    return parts


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
