"""Signals: what an agent session is doing, read from its messages by rules.

One extractor, two uses: the compaction stage's SITREP (what a small model must know
about the middle of a long conversation) and the session view on the dashboard
(intent, open loops, completed steps). No model call; linear in the text.

How each signal is read (measured on labelled transcripts by bench/signals.py):

- intent: the user's goal clause in the first message that states one ("I want to…",
  "we need to…", "can you…", "let's…", "we're shipping…"), with the sentence that sets
  the scene when the goal comes second;
- completed steps: sentences of the assistant that report work done, the ways agents
  say it: a marker ("Completed PR #3", "✅ Step 2 done", "Done: …", "Finished …"), a
  past-tense action first ("Rolled back …", "Posted …"), or a short subject and a
  participle ("8 groups added", "The build is uploaded"); and tool results that say so;
- open loops: clauses that leave something pending ("TODO", "blocked on", "waiting
  for", "still need to", "hasn't been approved", "not yet", "by Thursday") and tool
  calls that failed; a loop closes when a later statement resolves it or reports a
  completed step about the same things, or (for a failed tool) when that tool succeeds;
- resume_from: for numbered work (step, PR, task, phase…), the first number not yet
  completed; None when the steps carry no numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import msgspec

from trooper.conversation import Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.signals.bounded import bounded
from trooper.signals.harness import without_harness


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


MAX_ITEMS = 8
MAX_STEPS = 50

# --- sentences and clauses ---

# A sentence ends at . ! or ? followed by a space (so "4.2.11", "0.3%" and file names stay
# whole), or at a line break.
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?]+(?=[^\s.!?]))+[.!?]*")
_BULLET = re.compile(r"^(?:[-*•>]+\s+|#+\s+)+")
_CLAUSE_BREAK = re.compile(r";\s+|,\s+(?=(?:so|but|and then|which means|while|though)\b)|\s+[—–]\s+")
_MARKUP = str.maketrans("’‘", "''", "*_`")

# --- what the rules look for (in lower-cased text, which Python's re matches much faster) ---

_DONE_VERBS = (
    r"added|applied|archived|assigned|backed up|booked|built|bumped|cancell?ed|cleaned up|closed|committed|completed|"
    r"configured|converted|created|deleted|deployed|disabled|drafted|emailed|enabled|exported|filed|finished|fixed|"
    r"generated|granted|imported|installed|invited|issued|launched|merged|migrated|moved|opened|ordered|paid|patched|"
    r"pinned|posted|provisioned|published|pushed|rebuilt|refunded|registered|released|removed|renamed|replaced|"
    r"reserved|resolved|restarted|restored|reverted|revoked|rolled back|rolled out|rotated|saved|scheduled|sent|set up|"
    r"shipped|signed|submitted|tagged|updated|upgraded|uploaded|wrote|written"
)
_NUMBERED_DONE = (
    r"(?:steps?|prs?|pull requests?|tasks?|phases?|parts?|stages?|items?|milestones?)\s*#?\s*\d+"
    r"(?:\s*(?:-|–|to|and)\s*\d+)?\s*(?:\([^)]*\)\s*)?(?:is\s+|are\s+|has been\s+|now\s+)?"
    r"(?:done|complete|completed|finished|merged|deployed|shipped)\b"
)
_MARKER = re.compile(
    r"^(?:✅|☑|✔️?|\[x\]|(?:done|complete|completed|finished|success(?:ful(?:ly)?)?)\b(?!\s+(?:by|when|before|if|once))|"
    + _NUMBERED_DONE + ")",
)
# Tool output is data, not a report: only an explicit completion counts there.
_TOOL_MARKER = re.compile(r"^(?:✅|☑|✔️?|\[x\]|(?:done|completed?|finished)\s*:\s*\w|" + _NUMBERED_DONE + ")")
_PAST_FIRST = re.compile(rf"^(?:(?:i|we)(?:'ve| have)\s+|just\s+)?(?:{_DONE_VERBS})\b")
# "The build is uploaded", "8 groups added", "ws fixed": a short subject, then a participle
# that ends the clause or leads into a preposition (so "use removed names" is not one).
_SUBJECT_START = (
    r"^(?!(?:i|we|you|it|this|that|there|if|when|once|after|before|until|what|which|who|how|why|should|will|can|"
    r"most|some|here)\b)(?!(?!(?:every|no|any|some)thing\b)[a-z]+ing\b)"
)
_SUBJECT_WORD = (
    r"(?!(?:is|are|was|were|be|been|has|have|had|do|does|did|can|will|would|should|could|may|might|must|what|whether|"
    r"which|how|who|where|when|if|that|only|use|uses|used|not)\b)[\w`'#./()-]+\s+"
)
_PARTICIPLE_END = (
    r"(?=\s*(?:$|[,.;:!(]|(?:as|to|in|on|for|with|and|at|from|into|under|via|by|successfully|too|again|now)\b))"
)
_SUBJECT_DONE = re.compile(
    rf"{_SUBJECT_START}(?:(?:{_SUBJECT_WORD}){{1,5}}?(?:is|are|has been|have been)\s+(?:now\s+|all\s+|successfully\s+)?"
    rf"|(?:{_SUBJECT_WORD}){{1,3}}?(?:all\s+|both\s+|now\s+)?)(?:{_DONE_VERBS}){_PARTICIPLE_END}",
)
_NEGATED = re.compile(
    r"\b(?:not|never|no longer|cannot|yet to|still|until|unless|once|if|whether|would|will|should|nobody|no one|none)\b"
    r"|n't\b",
)
_OPEN = re.compile(
    r"\b(?:todo|to-do|fixme|tbd|blocked|blocker|blocking|stuck|on hold|(?<!without )waiting (?:on|for)|still waiting|awaiting|"
    r"still (?:need|needs|has to|have to|missing|pending|open|reviewing|deciding|checking|working on)|"
    r"(?:has|have)n't (?:been \w+|\w+ed)|(?:has|have) not (?:been \w+|\w+ed)|not yet|yet to|pending|outstanding|"
    r"needs? (?:approval|access|sign-?off|a decision|confirmation|review|to be (?:approved|confirmed|signed|reviewed|decided))|"
    r"need (?:access|approval|sign-?off|to (?:confirm|check|decide|find out|figure out|ask|wait|hear))|"
    r"open question|unresolved|nobody has|no one has|until (?:\w+ ){0,3}(?:signs?|approves?|confirms?|repl(?:y|ies)|decides?|sends?)|"
    r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|eod|end of (?:the )?(?:day|week|month)|next week))\b",
)
_RESOLVED = re.compile(
    r"\b(?:resolved|fixed|sorted|solved|unblocked|approved|signed off|arrived|came in|is in|are in|landed|received|"
    r"merged|(?:is|are) gone|works now|working now|pass(?:es)? now|passing now|is back|are back|no longer|"
    r"confirmed|decided|repl(?:ied)|answered|granted|available now|(?:is|are) (?:done|upgraded|updated|ready))\b",
)
_INTENT = re.compile(
    r"\b(?:(?:i|we)(?:'d| would)? (?:want|need|would like|like|have|hope|plan) to|"
    r"(?:i'm|i am|we're|we are) (?:trying to |going to |about to |planning to |looking to )?(?=\w+ing\b)|"
    r"(?:the )?(?:goal|task|aim|objective|plan|job) (?:is|here is) to|"
    r"(?:can|could|would|will) you(?: please)?|please|help (?:me|us)(?: to)?|let's|let us)\s+(?P<what>[^?!\n]{3,})",
    re.IGNORECASE,
)
_VAGUE = re.compile(r"^(?:\w+\s+)?(?:it|this|that|them|in|up|on|me|us|there|started|going)\b[\s,.;:]*$", re.IGNORECASE)
_IMPERATIVE = re.compile(
    r"^(?:investigate|build|create|fix|migrate|deploy|add|implement|write|refactor|set up|debug|upgrade|port|move|"
    r"clean up|automate|design|review|research|find|triage|resolve|optimi[sz]e|rewrite|generate|prepare|update|"
    r"integrate|convert|install|configure|document|plan|organi[sz]e|draft|analy[sz]e|replace|get)\b",
    re.IGNORECASE,
)
_CONSTRAINT = re.compile(
    r"\b(must(?:n't| not)?|never|always|do not|don't|only|should(?:n't| not)?|without|cannot|can't|keep (?:it|the|us)|"
    r"stay on|no more than|at most|at least|make sure|required?|has to|have to|no new|not during|before the)\b",
)
_NUMBERED = re.compile(
    r"\b(?P<unit>steps?|prs?|pull requests?|tasks?|phases?|parts?|stages?|items?|milestones?)\s*#?\s*"
    r"(?P<n>\d{1,3})(?:\s*(?:-|–|to|and)\s*(?P<m>\d{1,3}))?(?!\s*[,.]\d)(?:\s*(?:of|/)\s*(?P<total>\d{1,3}))?\b",
)
_ACTION = re.compile(
    r"\b(deploy|restart|migrat|run|rerun|roll ?back|merge|push|install|upgrad|test|build|check|verify|review|"
    r"send|email|call|schedule|back ?up|revert)\w*\b[^.!?\n]{0,60}",
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
_WORD = re.compile(r"[a-z0-9][a-z0-9#_.-]*")
_STOP = frozenset(
    "the a an to of on in for and or is are was were be been it its this that with from by at as we i you our your "
    "they their has have had do does did not no so now still need needs waiting wait done fixed resolved step steps "
    "before after until yet just all both one two he she him her his them me my mine us can can't won't i'm we're "
    "you're they're it's that's there here then than also too very over under into about via per out off up down "
    "what which who when where how why if but".split()
)


def extract(messages: Iterable[Message], system: str = "") -> Signals:
    """The signals of a conversation, read in order so later statements win (a loop
    opened then resolved ends up resolved)."""
    reader = SignalReader()
    for message in messages:
        reader.read(message)
    return reader.signals()


# --- one message on its own (cached: agents resend every earlier message each turn) ---


class Event(msgspec.Struct, frozen=True):
    """Something a message states, in the order stated: a completed step, a resolution,
    an open loop, or a tool call's outcome."""

    kind: Literal["step", "resolved", "open", "tool_error", "tool_ok"]
    text: str
    words: frozenset[str] = frozenset()
    unit: str = ""  # steps: the numbered unit (step, pr, task...) and its numbers
    numbers: tuple[int, ...] = ()
    total: int = 0
    tool: str = ""  # tool events: the tool's name when the result carries it
    tool_id: str = ""


class Observed(msgspec.Struct, frozen=True):
    """What one message says, independent of the rest."""

    intent: str = ""
    constraints: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    facts: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    tool_uses: tuple[tuple[str, str], ...] = ()  # (id, name)


_CACHE: OrderedDict[bytes, Observed] = OrderedDict()
_CACHE_SIZE = 50_000
_ENCODE = msgspec.json.Encoder().encode


# How much of a long answer is read: its first two thirds and last third, where agents say
# what they did and what is left; the middle is mostly code, logs or prose the signals
# don't use. Reading costs ~0.4 µs a character, so a 100 KB answer would otherwise hold
# the interpreter for 40 ms. Other texts (a user's turn, a tool's result) get a wider window.
ANSWER_WINDOW = 3000
TEXT_WINDOW = 6000


def observe(message: Message) -> Observed:
    key = message.role.encode() + hashlib.blake2b(_ENCODE(message.content), digest_size=16).digest()
    found = _CACHE.get(key)
    if found is None:
        found = _observe(message)
        _CACHE[key] = found
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found


def _observe(message: Message) -> Observed:
    role = message.role
    intent = ""
    constraints: list[str] = []
    events: list[Event] = []
    facts: dict[str, None] = {}
    actions: list[str] = []
    entities: dict[str, None] = {}
    tool_uses: list[tuple[str, str]] = []
    for block in message.content:
        kind = type(block)
        if kind is ToolUseBlock:
            tool_uses.append((block.id, block.name))  # type: ignore[union-attr]
            continue
        if kind is ToolResultBlock:
            events.extend(_tool_events(block))  # type: ignore[arg-type]
            if block.is_error:  # type: ignore[union-attr]
                facts.update(dict.fromkeys(_facts(bounded(_result_text(block), TEXT_WINDOW))))  # type: ignore[arg-type]
            continue
        if kind is not TextBlock:
            continue
        text = without_harness(block.text)  # type: ignore[union-attr]
        if not text:
            continue
        text = bounded(text, ANSWER_WINDOW if role == "assistant" else TEXT_WINDOW)
        sentences = list(_sentences(text))
        if role == "user" and not intent and len(text.split()) >= 4:
            intent = _intent(sentences)
        for sentence in sentences:
            low = sentence.translate(_MARKUP).lower()
            if role == "user" and len(sentence) < 200 and _CONSTRAINT.search(low):
                _add_unique(constraints, _clean(sentence))
            if role == "assistant" and _is_step(low):
                unit, numbers, total = _step_numbers(low) or ("", (), 0)
                events.append(Event("step", _clean(_first_clause(sentence)), _stems(low), unit, numbers, total))
            elif _RESOLVED.search(low) and not _NEGATED.search(low):
                events.append(Event("resolved", sentence, _stems(low)))
            elif not low.endswith("?"):
                for clause in _clauses(sentence):
                    if _OPEN.search(clause.translate(_MARKUP).lower()):
                        events.append(Event("open", _clean(clause), _stems(clause)))
        facts.update(dict.fromkeys(_facts(text)))
        if role == "assistant":
            low = text.lower()
            if len(low) == len(text):  # spans of the lower-cased text fit the original
                actions.extend(_clean(text[m.start() : m.end()]) for m in _ACTION.finditer(low))
        entities.update(dict.fromkeys(_ENTITY.findall(text)))
    return Observed(intent, tuple(constraints), tuple(events), tuple(facts), tuple(actions), tuple(entities),
                    tuple(tool_uses))


def _tool_events(block: ToolResultBlock) -> list[Event]:
    body = bounded(_result_text(block), TEXT_WINDOW).strip()
    first = _clean(body.splitlines()[0] if body else "")
    if block.is_error:
        return [Event("tool_error", first, tool=block.name, tool_id=block.tool_use_id)]
    events = [Event("tool_ok", first, tool=block.name, tool_id=block.tool_use_id)]
    low = first.lower()
    if first and _TOOL_MARKER.match(low):  # tool output is data: only an explicit completion counts
        unit, numbers, total = _step_numbers(low) or ("", (), 0)
        events.append(Event("step", first, _stems(low), unit, numbers, total))
    return events


def _result_text(block: ToolResultBlock) -> str:
    return without_harness("".join(part.text for part in block.content if type(part) is TextBlock))


def _intent(sentences: list[str]) -> str:
    """The goal a user message states, with the sentence that sets the scene when the
    goal comes later; else its first sentence."""
    for i, sentence in enumerate(sentences):
        match = _INTENT.search(sentence)
        what = _clean(match.group("what")) if match else ""
        if not what or _VAGUE.match(what):
            what = _clean(sentence) if _IMPERATIVE.match(sentence) else ""
        if what:
            what = what.rstrip(".!")
            return f"{what} — {_clean(sentences[0]).rstrip('.!')}"[:200] if i > 0 else what
    return _clean(sentences[0]).rstrip(".!") if sentences else ""


def _facts(text: str) -> list[str]:
    """The sentences that hold an identifier worth keeping verbatim."""
    return [_clean(_sentence_around(text, m.start(), m.end())) for m in _IDENTIFIER.finditer(text)]


# --- the conversation, message by message ---


class _Loop:
    __slots__ = ("text", "words", "tool")

    def __init__(self, text: str, words: frozenset[str], tool: str = "") -> None:
        self.text = text
        self.words = words
        self.tool = tool  # set for a failed tool call: closes when that tool succeeds


class SignalReader:
    """`extract`, one message at a time: a long session's signals are kept up to date by
    reading only what each turn adds. What it holds is bounded, however long the
    session."""

    def __init__(self) -> None:
        self.intent = ""
        self.constraints: list[str] = []
        self.loops: list[_Loop] = []
        self.resolved: list[str] = []
        self.steps: list[str] = []
        self.numbers: dict[str, set[int]] = {}
        self.totals: list[int] = []
        self.actions: list[str] = []
        self.entities: dict[str, None] = {}
        self.facts: dict[str, None] = {}
        self.tools: dict[str, str] = {}  # tool_use id -> tool name, for the results that follow

    def read(self, message: Message) -> None:
        seen = observe(message)
        if seen.intent and not self.intent:
            self.intent = seen.intent
        for constraint in seen.constraints:
            _add_unique(self.constraints, constraint)
        self.tools.update(seen.tool_uses)
        for event in seen.events:
            if event.kind == "step":
                self._step(event)
                self._close(event.words, share=0.5)
            elif event.kind == "resolved":
                self._close(event.words, share=0.34)
            elif event.kind == "open":
                self._open(event.text, event.words)
            else:
                self._tool(event)
        self.facts.update(dict.fromkeys(seen.facts))
        self.actions.extend(seen.actions)
        self.entities.update(dict.fromkeys(seen.entities))
        self._trim()

    def signals(self) -> Signals:
        signals = Signals(
            intent=self.intent,
            constraints=self.constraints[:MAX_ITEMS],
            active_entities=list(self.entities)[-12:],
            facts=list(self.facts)[-MAX_ITEMS * 2 :],
            open_loops=[loop.text for loop in self.loops][-MAX_ITEMS:],
            resolved_loops=self.resolved[-MAX_ITEMS:],
            completed_steps=list(self.steps),
            recent_actions=self.actions[-5:],
            resume_from=self._resume_from(),
        )
        signals.stage = _stage(signals, self.totals)
        signals.confidence = _confidence(signals)
        return signals

    def _step(self, event: Event) -> None:
        if event.unit:
            known = self.numbers.setdefault(event.unit, set())
            if known.issuperset(event.numbers):
                return  # "Steps 1–3 complete" after each was reported
            known.update(event.numbers)
            if event.total:
                self.totals.append(event.total)
        if event.text and event.text not in self.steps:
            self.steps.append(event.text)

    def _tool(self, event: Event) -> None:
        tool = event.tool or self.tools.get(event.tool_id, "tool")
        if event.kind == "tool_error":
            self.loops = [loop for loop in self.loops if loop.tool != tool]
            text = f"{tool} failed: {event.text}"[:160]
            self.loops.append(_Loop(text, _stems(text), tool))
            return
        for loop in [loop for loop in self.loops if loop.tool == tool]:
            self.loops.remove(loop)
            self.resolved.append(loop.text)

    def _open(self, text: str, words: frozenset[str]) -> None:
        if len(words) < 2 or any(len(words & old.words) >= max(3, len(words) * 0.8) for old in self.loops):
            return
        self.loops.append(_Loop(text, words))

    def _close(self, words: frozenset[str], share: float) -> None:
        """Close the open loop a statement is most about, if they share enough words:
        at least two, and `share` of the shorter of the two."""
        best, most = None, 0
        for loop in self.loops:
            shared = len(words & loop.words)
            if shared > most:
                best, most = loop, shared
        if best is not None and most >= max(min(2, len(best.words)), round(share * min(len(words), len(best.words)))):
            self.loops.remove(best)
            self.resolved.append(best.text)

    def _trim(self) -> None:
        """Keep what is held bounded: old items give way to new ones."""
        for items, limit in ((self.loops, 4 * MAX_ITEMS), (self.resolved, MAX_ITEMS), (self.actions, 5),
                             (self.steps, MAX_STEPS)):
            del items[: max(0, len(items) - limit)]
        del self.constraints[MAX_ITEMS:]  # the first ones stated are kept
        for table, limit in ((self.entities, 12), (self.facts, 2 * MAX_ITEMS), (self.tools, 256)):
            while len(table) > limit:
                del table[next(iter(table))]

    def _resume_from(self) -> int | None:
        """The first number not yet done, counting from the first one done, in the
        unit most steps are numbered in (steps, PRs, tasks…)."""
        if not self.numbers:
            return None
        done = max(self.numbers.values(), key=len)
        n = min(done)
        while n in done:
            n += 1
        return n


def _is_step(low: str) -> bool:
    head = _BULLET.sub("", low).lstrip()
    if head.endswith("?") or len(head.split()) < 2:
        return False
    if _MARKER.match(head):
        return True
    if not (_PAST_FIRST.match(head) or _SUBJECT_DONE.match(head)):
        return False
    # "Fixed the build, but tests still fail" is not done; neither is "Added X if you agree".
    return not _NEGATED.search(head)


def _step_numbers(low: str) -> tuple[str, tuple[int, ...], int] | None:
    """The numbered unit a completion is about: the first "step 3", "PR #2", "steps
    1–3", "step 4 of 7" in it (later numbers are usually about what comes next)."""
    match = _NUMBERED.search(low)
    if match is None:
        return None
    unit = match.group("unit").lower().rstrip("s")
    unit = "pr" if unit.startswith("pull request") else unit
    first = int(match.group("n"))
    last = int(match.group("m") or first)
    numbers = tuple(range(first, last + 1)) if 0 < last - first < 50 else (first,)
    return unit, numbers, int(match.group("total") or 0)


def _sentences(text: str) -> Iterable[str]:
    for match in _SENTENCE.finditer(text):
        sentence = _BULLET.sub("", match.group(0).strip())
        if len(sentence) > 3:
            yield sentence


def _clauses(sentence: str) -> list[str]:
    if len(sentence) <= 100:
        return [sentence]
    return [clause for clause in _CLAUSE_BREAK.split(sentence) if len(clause) > 3]


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding text[start:end] (a decimal point or a path is not an end),
    at most 240 characters of it. Both searches are bounded: a long text without sentence
    ends (a log, a table) costs a constant per match, not the rest of the text."""
    begin = 0
    for match in _SENTENCE_END.finditer(text, max(0, start - 300), start):
        begin = match.end()
    after = _SENTENCE_END.search(text, end, end + 300)
    return text[begin : after.end() if after else min(len(text), end + 300)].strip()[:240]


def _first_clause(sentence: str) -> str:
    return _CLAUSE_BREAK.split(sentence, maxsplit=1)[0]


def _stems(text: str) -> frozenset[str]:
    """Content words, crudely stemmed, so "dump"/"dumped" and "review"/"reviewing" meet."""
    stems = set()
    for word in _WORD.findall(text.lower()):
        word = word.strip(".-")
        if word in _STOP or len(word) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        stems.add(word)
    return frozenset(stems)


def _stage(signals: Signals, totals: list[int]) -> str:
    if any(re.search(r"blocked|stuck|waiting|on hold", loop, re.I) for loop in signals.open_loops):
        return "blocked"
    if totals and signals.resume_from is not None and signals.resume_from > max(totals):
        return "done"
    if signals.completed_steps or signals.recent_actions:
        return "in_progress"
    return "starting"


def _confidence(signals: Signals) -> float:
    found = sum(bool(x) for x in (signals.intent, signals.constraints, signals.active_entities,
                                  signals.open_loops or signals.resolved_loops, signals.completed_steps))
    return round(found / 5, 2)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" -*•:,;").removesuffix(".")[:160]


def _add_unique(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)
