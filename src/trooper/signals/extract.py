"""Signals: what an agent session is doing, read from its messages by rules.

One extractor, two uses: the compaction stage's SITREP (what a small model must know
about the middle of a long conversation) and the session view on the dashboard
(intent, open loops, completed steps). No model call; linear in the text.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from trooper.conversation import Message, TextBlock, ToolResultBlock, ToolUseBlock


class Signals(msgspec.Struct):
    intent: str = ""
    stage: str = "starting"  # starting | in_progress | blocked | done
    constraints: list[str] = msgspec.field(default_factory=list)
    active_entities: list[str] = msgspec.field(default_factory=list)
    facts: list[str] = msgspec.field(default_factory=list)
    open_loops: list[str] = msgspec.field(default_factory=list)
    resolved_loops: list[str] = msgspec.field(default_factory=list)
    completed_steps: list[str] = msgspec.field(default_factory=list)
    recent_actions: list[str] = msgspec.field(default_factory=list)
    resume_from: int | None = None
    confidence: float = 0.0


# --- what to look for ---

_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+[.!?]?")
_INTENT = re.compile(
    r"\b(?:i(?:'m| am)|we(?:'re| are)|i want to|we want to|i need to|we need to|help me|please|let's|goal is to|"
    r"task is to|trying to|working on)\s+(?P<what>(?:build|creat|fix|migrat|deploy|add|implement|writ|refactor|"
    r"set(?:ting)? up|debug|investigat|analy[sz]|upgrad|port|mov|clean|automat|design|test|review|research|"
    r"find|triag|resolv|optimi[sz]|rewrit|generat|prepar|updat|integrat|convert|instal|configur|document)\w*[^.!?\n]{0,90})",
    re.IGNORECASE,
)
_CONSTRAINT = re.compile(
    r"\b(must(?:n't| not)?|never|always|do not|don't|only|should(?:n't| not)|without|cannot|can't|keep (?:it|the|us)|"
    r"stay on|no more than|at most|at least|make sure|required?|has to|have to)\b",
    re.IGNORECASE,
)
_OPEN = re.compile(
    r"\b(todo|to-do|blocked|blocker|waiting (?:on|for)|still need(?:s)? to|still waiting|pending|not yet|"
    r"need(?:s)? to (?:be )?(?:fix|resolv|check|confirm|figure)|open question|unresolved|stuck|missing|"
    r"failing|fails|failed|broken|can't|cannot|unable to|haven't|hasn't)\b",
    re.IGNORECASE,
)
_RESOLVED = re.compile(
    r"\b(resolved|fixed|unblocked|got (?:the|it)|received|arrived|approved|works now|working now|passes now|"
    r"is done|are done|done now|no longer|closed|merged|shipped|sorted)\b",
    re.IGNORECASE,
)
_COMPLETED = re.compile(
    r"(?:^|\n|[.!]\s+|✅\s*)(?P<step>(?:✅\s*)?(?:completed|finished|done:|done with|merged|deployed|shipped|"
    r"fixed|migrated|published|released|created|implemented|added|set up|step \d+\s*(?:is\s*)?(?:done|complete[d]?|"
    r"finished))[^\n.!]{0,100})",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"\b(?:step|pr|task|phase|part|stage|item)\s*#?\s*(\d{1,3})\b", re.IGNORECASE)
_OF_TOTAL = re.compile(r"\b(\d{1,3})\s*(?:of|/)\s*(\d{1,3})\b")
_ACTION = re.compile(
    r"\b(deploy|restart|migrat|run|rerun|roll ?back|merge|push|install|upgrad|test|build|check|verify|review|"
    r"send|email|call|schedule|back ?up|revert)\w*\b[^.!?\n]{0,60}",
    re.IGNORECASE,
)
_ENTITY = re.compile(
    r"\b(?:[A-Z][a-z]+[A-Z]\w*|[A-Z]{2,}[A-Z0-9_]*|[\w-]+\.(?:py|js|ts|go|rs|sql|yaml|yml|json|toml|md|sh|tf|java|rb|"
    r"cfg|ini|env|txt|csv)|(?:[a-z0-9-]+\.)+(?:internal|local|com|io|net|org|dev|cloud)|#\d+|v?\d+\.\d+(?:\.\d+)?)\b"
)
# Identifiers that make a sentence a fact worth keeping: ticket ids, hosts, URLs, paths,
# addresses, versions, people's names, dates.
_IDENTIFIER = re.compile(
    r"\b[A-Z][A-Z0-9]+-\d+\b|https?://[^\s)>\]]+|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|"
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:internal|local|svc|com|io|net|org|dev|cloud|ai)\b|(?:/[\w.-]+){2,}|"
    r"\b[\w.+-]+@[\w-]+\.[\w.]+|\b\d+\.\d+(?:\.\d+)+\b|\b(?:Dr\.|Mr\.|Ms\.)?\s?[A-Z][a-z]+ [A-Z][a-z]{2,}\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}\b|\b\d{1,2}:\d{2}\b"
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")

MAX_ITEMS = 8


class Observed(msgspec.Struct, frozen=True):
    """What one message says, independent of the rest: cached, since every turn of an
    agent conversation resends all the earlier messages unchanged."""

    intent: str = ""
    constraints: tuple[str, ...] = ()
    marks: tuple[tuple[str, str], ...] = ()  # ("open" | "resolved", sentence), in order
    facts: tuple[str, ...] = ()
    completed: tuple[str, ...] = ()
    step_numbers: tuple[int, ...] = ()
    actions: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()


_CACHE: OrderedDict[bytes, Observed] = OrderedDict()
_CACHE_SIZE = 50_000
_ENCODE = msgspec.json.Encoder().encode


def observe(message: Message) -> Observed:
    key = message.role.encode() + hashlib.blake2b(_ENCODE(message.content), digest_size=16).digest()
    found = _CACHE.get(key)
    if found is None:
        found = _observe(message)
        _CACHE[key] = found
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


def _observe(message: Message) -> Observed:
    intent = ""
    constraints: list[str] = []
    marks: list[tuple[str, str]] = []
    facts: dict[str, None] = {}
    completed: list[str] = []
    numbers: list[int] = []
    actions: list[str] = []
    entities: dict[str, None] = {}
    for text, kind in _texts(message):
        if kind == "tool_result":
            continue  # bulk output: its errors count (tool_error), the rest is noise here
        if message.role == "user" and kind == "text":
            match = _INTENT.search(text)
            intent = intent or (_clean(match.group("what")) if match else "")
            for match in _CONSTRAINT.finditer(text):
                _add_unique(constraints, _clean(_sentence_around(text, match.start(), match.end())))
        if kind != "tool_use":
            # Loops open and close in the order they are stated.
            found = [(m.start(), m.end(), "open") for m in _OPEN.finditer(text)]
            if kind != "tool_error":
                found += [(m.start(), m.end(), "resolved") for m in _RESOLVED.finditer(text)]
            elif not found:
                found = [(0, min(len(text), 1), "open")]
            for begin, finish, mark in sorted(found):
                sentence = _clean(_sentence_around(text, begin, finish))
                if not marks or marks[-1] != (mark, sentence):
                    marks.append((mark, sentence))
            for match in _IDENTIFIER.finditer(text):
                facts[_clean(_sentence_around(text, match.start(), match.end()))] = None
        if message.role == "assistant" and kind == "text":
            for match in _COMPLETED.finditer(text):
                completed.append(_clean(match.group("step")))
                numbers.extend(int(n) for n in _NUMBERED.findall(match.group("step")))
            for match in _ACTION.finditer(text):
                actions.append(_clean(match.group(0)))
        for entity in _ENTITY.findall(text):
            entities[entity] = None
    return Observed(intent, tuple(constraints), tuple(marks), tuple(facts), tuple(completed), tuple(numbers),
                    tuple(actions), tuple(entities))


def extract(messages: Iterable[Message], system: str = "") -> Signals:
    """The signals of a conversation, read in order so later statements win (a loop
    opened then resolved ends up resolved)."""
    signals = Signals()
    open_loops: dict[str, str] = {}
    resolved: list[str] = []
    completed: list[str] = []
    step_numbers: list[int] = []
    entities: dict[str, None] = {}
    facts: dict[str, None] = {}
    actions: list[str] = []
    first_user = True
    for message in messages:
        seen = observe(message)
        if message.role == "user" and any(type(b) is TextBlock for b in message.content):
            if first_user and not seen.intent:
                signals.intent = _clean(_first_sentence(message.text()))
            elif not signals.intent:
                signals.intent = seen.intent
            if first_user and seen.intent:
                signals.intent = seen.intent
            first_user = False
        for constraint in seen.constraints:
            _add_unique(signals.constraints, constraint)
        for mark, sentence in seen.marks:
            if mark == "resolved":
                closed = _close_loop(open_loops, sentence)
                if closed:
                    resolved.append(closed)
            elif not _RESOLVED.search(sentence):
                key = _loop_key(sentence)
                if key and key not in open_loops:
                    open_loops[key] = sentence
        facts.update(dict.fromkeys(seen.facts))
        completed.extend(seen.completed)
        step_numbers.extend(seen.step_numbers)
        actions.extend(seen.actions)
        entities.update(dict.fromkeys(seen.entities))

    signals.open_loops = list(open_loops.values())[-MAX_ITEMS:]
    signals.resolved_loops = resolved[-MAX_ITEMS:]
    signals.completed_steps = _dedupe(completed)
    signals.recent_actions = actions[-5:]
    signals.active_entities = list(entities)[-12:]
    signals.facts = list(facts)[-MAX_ITEMS * 2 :]
    signals.constraints = signals.constraints[:MAX_ITEMS]
    if step_numbers:
        signals.resume_from = max(step_numbers) + 1
    elif completed:
        signals.resume_from = len(signals.completed_steps) + 1
    signals.stage = _stage(signals)
    signals.confidence = _confidence(signals)
    return signals


def _texts(message: Message) -> Iterable[tuple[str, str]]:
    for block in message.content:
        kind = type(block)
        if kind is TextBlock:
            yield block.text, "text"  # type: ignore[union-attr]
        elif kind is ToolResultBlock:
            body = "".join(b.text for b in block.content if type(b) is TextBlock)  # type: ignore[union-attr]
            yield body, "tool_error" if block.is_error else "tool_result"  # type: ignore[union-attr]
        elif kind is ToolUseBlock:
            yield f"{block.name} {block.input}", "tool_use"  # type: ignore[union-attr]


def _sentences(text: str) -> Iterable[str]:
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        if len(sentence) > 3:
            yield sentence


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding text[start:end] (a decimal point or a path is not an end)."""
    begin = 0
    for match in _SENTENCE_END.finditer(text, max(0, start - 300), start):
        begin = match.end()
    after = _SENTENCE_END.search(text, end)
    return text[begin : after.end() if after else len(text)].strip()[:240]


def _first_sentence(text: str) -> str:
    return next(iter(_sentences(text)), text)[:120]


_STOP = frozenset("the a an to of on for in and or is are was be we i it this that with still need needs waiting".split())


def _loop_key(sentence: str) -> str:
    words = [w for w in re.findall(r"[a-z0-9#_.-]+", sentence.lower()) if w not in _STOP]
    return " ".join(words[:6])


def _close_loop(open_loops: dict[str, str], sentence: str) -> str | None:
    words = set(re.findall(r"[a-z0-9#_.-]+", sentence.lower())) - _STOP
    best, overlap = None, 0
    for key in open_loops:
        shared = len(words & set(key.split()))
        if shared > overlap:
            best, overlap = key, shared
    if best is None or overlap < 1:
        return None
    return open_loops.pop(best)


def _stage(signals: Signals) -> str:
    if signals.open_loops and any(re.search(r"blocked|stuck|waiting", loop, re.I) for loop in signals.open_loops):
        return "blocked"
    if signals.completed_steps or signals.recent_actions:
        return "in_progress"
    return "starting"


def _confidence(signals: Signals) -> float:
    found = sum(bool(x) for x in (signals.intent, signals.constraints, signals.active_entities,
                                  signals.open_loops or signals.resolved_loops, signals.completed_steps))
    return round(found / 5, 2)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" -*•:,;")[:160]


def _add_unique(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
