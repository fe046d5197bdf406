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

import re
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


MAX_ITEMS = 8
MAX_STEPS = 50

# --- sentences and clauses ---

# A sentence ends at . ! or ? followed by a space (so "4.2.11", "0.3%" and file names stay
# whole), or at a line break.
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?]+(?=[^\s.!?]))+[.!?]*")
_BULLET = re.compile(r"^(?:[-*•>]+\s+|#+\s+)+")
_CLAUSE_BREAK = re.compile(r";\s+|,\s+(?=(?:so|but|and then|which means|while|though)\b)|\s+[—–]\s+")
_MARKUP = str.maketrans("", "", "*_`")

# --- what the rules look for ---

_DONE_VERBS = (
    r"added|applied|archived|assigned|backed up|booked|built|bumped|cancell?ed|cleaned up|closed|committed|completed|"
    r"configured|converted|created|deleted|deployed|disabled|drafted|emailed|enabled|exported|filed|finished|fixed|"
    r"generated|granted|imported|installed|invited|issued|launched|merged|migrated|moved|opened|ordered|paid|patched|"
    r"pinned|posted|provisioned|published|pushed|rebuilt|refunded|registered|released|removed|renamed|replaced|"
    r"reserved|resolved|restarted|restored|reverted|revoked|rolled back|rolled out|rotated|saved|scheduled|sent|set up|"
    r"shipped|signed|submitted|tagged|updated|upgraded|uploaded|wrote|written"
)
_MARKER = re.compile(
    r"^(?:✅|☑|✔️?|\[x\]|(?:done|complete|completed|finished|success(?:ful(?:ly)?)?)\b(?!\s+(?:by|when|before|if|once))|"
    r"(?:steps?|prs?|pull requests?|tasks?|phases?|parts?|stages?|items?|milestones?)\s*#?\s*\d+(?:\s*(?:-|–|to|and)\s*\d+)?"
    r"\s*(?:\([^)]*\)\s*)?(?:is\s+|are\s+|has been\s+|now\s+)?(?:done|complete|completed|finished|merged|deployed|shipped)\b)",
    re.IGNORECASE,
)
_PAST_FIRST = re.compile(rf"^(?:(?:i|we)(?:'ve| have)\s+|just\s+)?(?:{_DONE_VERBS})\b", re.IGNORECASE)
# "The build is uploaded", "8 groups added", "ws fixed": a short subject, then a participle.
_SUBJECT_DONE = re.compile(
    rf"^(?!(?:i|we|you|it|this|that|there|if|when|once|after|before|until|what|which|who|how|why|should|will|can)\b)"
    rf"(?:[\w`'#./()-]+\s+){{1,5}}?(?:(?:is|are|has been|have been|were|all|both|now)\s+)?(?:{_DONE_VERBS})\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(?:not|never|no longer|n't|cannot|yet to|still|until|unless|once|if|whether|would|will|should)\b",
                      re.IGNORECASE)
# Tool output is data, not a report: only an explicit completion counts there.
_TOOL_DONE = re.compile(
    r"^(?:✅|done\b|completed?\b|success(?:fully)?\b|succeeded\b|deployed\b|merged\b|published\b|released\b|shipped\b|"
    r"submitted\b|sent\b)",
    re.IGNORECASE,
)

_OPEN = re.compile(
    r"\b(?:todo|to-do|fixme|tbd|blocked|blocker|blocking|stuck|on hold|waiting (?:on|for)|still waiting|awaiting|"
    r"still (?:need|needs|has to|have to|missing|pending|open|reviewing|deciding|checking|working on)|"
    r"(?:has|have)n't (?:been \w+|\w+ed)|(?:has|have) not (?:been \w+|\w+ed)|not yet|yet to|pending|outstanding|"
    r"needs? (?:approval|access|sign-?off|a decision|confirmation|review|to be (?:approved|confirmed|signed|reviewed|decided))|"
    r"need (?:access|approval|sign-?off|to (?:confirm|check|decide|find out|figure out|get|ask|wait|hear))|"
    r"open question|unresolved|nobody has|no one has|until (?:\w+ ){0,3}(?:signs?|approves?|confirms?|repl(?:y|ies)|decides?|sends?)|"
    r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|eod|end of (?:the )?(?:day|week|month)|next week))\b",
    re.IGNORECASE,
)
_RESOLVED = re.compile(
    r"\b(?:resolved|fixed|sorted|solved|unblocked|approved|signed off|arrived|came in|is in|are in|landed|received|"
    r"merged|(?:is|are) gone|works now|working now|pass(?:es)? now|passing now|is back|are back|no longer|"
    r"confirmed|decided|repl(?:ied)|answered|granted|available now|(?:is|are) (?:done|upgraded|updated|ready))\b",
    re.IGNORECASE,
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
    re.IGNORECASE,
)
_NUMBERED = re.compile(
    r"\b(?P<unit>steps?|prs?|pull requests?|tasks?|phases?|parts?|stages?|items?|milestones?)\s*#?\s*"
    r"(?P<n>\d{1,3})(?:\s*(?:-|–|to|and)\s*(?P<m>\d{1,3}))?(?!\s*[,.]\d)(?:\s*(?:of|/)\s*(?P<total>\d{1,3}))?\b",
    re.IGNORECASE,
)
_ACTION = re.compile(
    r"\b(deploy|restart|migrat|run|rerun|roll ?back|merge|push|install|upgrad|test|build|check|verify|review|"
    r"send|email|call|schedule|back ?up|revert)\w*\b[^.!?\n]{0,60}",
    re.IGNORECASE,
)
_ENTITY = re.compile(
    r"\b(?:[A-Z][a-z]+[A-Z]\w*|[A-Z]{2,}[A-Z0-9_]*|[\w-]+\.(?:py|js|ts|go|rs|sql|yaml|yml|json|toml|md|sh|tf|java|rb|"
    r"cfg|ini|env|txt|csv)|(?:[a-z0-9-]+\.)+(?:internal|local|com|io|net|org|dev|cloud)|#\d+|v?\d+\.\d+(?:\.\d+)?)\b"
)
# A fact: a short statement tying something to a value (a number, a host, an ACRONYM, an address).
_FACT_CUE = re.compile(
    r"\b(?:is|are|was|lives? (?:at|in)|runs? on|located|host(?:ed)?|port|id|number|version|address|url|key|"
    r"name[ds]?|called|uses?)\b|[=:]"
)
_FACT_VALUE = re.compile(r"\d|[a-z0-9-]+\.[a-z]{2,}|\b[A-Z]{2,}|@")
_WORD = re.compile(r"[a-z0-9][a-z0-9#_.-]*")
_STOP = frozenset(
    "the a an to of on in for and or is are was were be been it its this that with from by at as we i you our your "
    "they their has have had do does did not no so now still need needs waiting wait done fixed resolved step steps "
    "before after until yet just all both one two".split()
)


def extract(messages: Iterable[Message], system: str = "") -> Signals:
    """The signals of a conversation, read in order so later statements win (a loop
    opened then resolved ends up resolved)."""
    reader = _Reader()
    for message in messages:
        reader.read(message)
    return reader.signals()


class _Loop:
    __slots__ = ("text", "words", "tool")

    def __init__(self, text: str, tool: str = "") -> None:
        self.text = text
        self.words = _stems(text)
        self.tool = tool  # set for a failed tool call: closes when that tool succeeds


class _Reader:
    def __init__(self) -> None:
        self.intent = ""
        self.scene = ""  # the first user sentence, when the goal comes later
        self.constraints: list[str] = []
        self.loops: list[_Loop] = []
        self.resolved: list[str] = []
        self.steps: list[str] = []
        self.numbers: dict[str, set[int]] = {}
        self.totals: list[int] = []
        self.actions: list[str] = []
        self.entities: dict[str, None] = {}
        self.facts: dict[str, None] = {}
        self.tools: dict[str, str] = {}  # tool_use id -> tool name
        self.users = 0

    # --- reading ---

    def read(self, message: Message) -> None:
        for block in message.content:
            kind = type(block)
            if kind is TextBlock:
                self._text(message.role, block.text)  # type: ignore[union-attr]
            elif kind is ToolUseBlock:
                self.tools[block.id] = block.name  # type: ignore[union-attr]
            elif kind is ToolResultBlock:
                self._tool_result(block)  # type: ignore[arg-type]

    def _text(self, role: str, text: str) -> None:
        sentences = list(_sentences(text))
        if role == "user":
            self.users += 1
            if not self.intent:
                self._intent(sentences)
        for sentence in sentences:
            plain = sentence.translate(_MARKUP)
            if role == "user" and _CONSTRAINT.search(plain) and len(sentence) < 200:
                _add_unique(self.constraints, _clean(sentence))
            step = role == "assistant" and _is_step(plain)
            if step:
                self._step(sentence, plain)
            if step or (_RESOLVED.search(plain) and not _NEGATED.search(plain)):
                self._close(plain)
            elif not plain.endswith("?"):
                for clause in _clauses(sentence):
                    if _OPEN.search(clause):
                        self._open(_clean(clause))
            if len(sentence) < 200 and _FACT_CUE.search(sentence) and _FACT_VALUE.search(sentence):
                self.facts[_clean(sentence)] = None
        if role == "assistant":
            for match in _ACTION.finditer(text):
                self.actions.append(_clean(match.group(0)))
        for entity in _ENTITY.findall(text):
            self.entities[entity] = None

    def _tool_result(self, block: ToolResultBlock) -> None:
        tool = block.name or self.tools.get(block.tool_use_id, "tool")
        body = "".join(part.text for part in block.content if type(part) is TextBlock).strip()
        first = _clean(body.splitlines()[0] if body else "")
        if block.is_error:
            self.loops = [loop for loop in self.loops if loop.tool != tool]
            self.loops.append(_Loop(f"{tool} failed: {first}"[:160], tool))
            return
        for loop in [loop for loop in self.loops if loop.tool == tool]:
            self.loops.remove(loop)
            self.resolved.append(loop.text)
        if first and _TOOL_DONE.search(first):
            self._step(first, first)

    # --- signals ---

    def _intent(self, sentences: list[str]) -> None:
        for i, sentence in enumerate(sentences):
            match = _INTENT.search(sentence)
            what = _clean(match.group("what")) if match else ""
            if not what or _VAGUE.match(what):
                what = _clean(sentence) if _IMPERATIVE.match(sentence) else ""
            if what:
                scene = _clean(sentences[0]) if i > 0 and self.users == 1 else ""
                self.intent = f"{what} — {scene}"[:200] if scene else what
                return
        if self.users == 1 and sentences:
            self.scene = _clean(sentences[0])

    def _step(self, sentence: str, plain: str) -> None:
        found = _step_numbers(plain)
        if found:
            unit, numbers, total = found
            known = self.numbers.setdefault(unit, set())
            if numbers <= known:
                return  # "Steps 1–3 complete" after each was reported
            known |= numbers
            if total:
                self.totals.append(total)
        text = _clean(_first_clause(sentence))
        if text and text not in self.steps and len(self.steps) < MAX_STEPS:
            self.steps.append(text)

    def _open(self, text: str) -> None:
        loop = _Loop(text)
        if len(loop.words) < 2 or any(_overlap(loop.words, old.words) >= max(3, len(loop.words) * 0.8) for old in self.loops):
            return
        self.loops.append(loop)

    def _close(self, sentence: str) -> None:
        """Close the open loop this statement is most about, if any."""
        words = _stems(sentence)
        best, most = None, 0
        for loop in self.loops:
            shared = _overlap(words, loop.words)
            if shared > most:
                best, most = loop, shared
        if best is not None and most >= min(2, len(best.words)):
            self.loops.remove(best)
            self.resolved.append(best.text)

    def signals(self) -> Signals:
        signals = Signals(
            intent=self.intent or self.scene,
            constraints=self.constraints[:MAX_ITEMS],
            active_entities=list(self.entities)[-12:],
            facts=list(self.facts)[-MAX_ITEMS * 2 :],
            open_loops=[loop.text for loop in self.loops][-MAX_ITEMS:],
            resolved_loops=self.resolved[-MAX_ITEMS:],
            completed_steps=self.steps,
            recent_actions=self.actions[-5:],
            resume_from=self._resume_from(),
        )
        signals.stage = _stage(signals, self.totals)
        signals.confidence = _confidence(signals)
        return signals

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


def _is_step(plain: str) -> bool:
    head = _BULLET.sub("", plain).lstrip()
    if head.endswith("?"):
        return False
    if _MARKER.match(head):
        return True
    if not (_PAST_FIRST.match(head) or _SUBJECT_DONE.match(head)):
        return False
    # "Fixed the build, but tests still fail" is not done; neither is "Added X if you agree".
    return not _NEGATED.search(_first_clause(head))


def _step_numbers(plain: str) -> tuple[str, set[int], int] | None:
    """The numbered unit a completion is about: the first "step 3", "PR #2", "steps
    1–3", "step 4 of 7" in it (later numbers are usually about what comes next)."""
    match = _NUMBERED.search(plain)
    if match is None:
        return None
    unit = match.group("unit").lower().rstrip("s")
    unit = "pr" if unit.startswith("pull request") else unit
    first = int(match.group("n"))
    last = int(match.group("m") or first)
    numbers = set(range(first, last + 1)) if 0 < last - first < 50 else {first}
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


def _first_clause(sentence: str) -> str:
    return _CLAUSE_BREAK.split(sentence, maxsplit=1)[0]


def _stems(text: str) -> set[str]:
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
    return stems


def _overlap(a: set[str], b: set[str]) -> int:
    return len(a & b)


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
    return " ".join(text.split()).strip(" -*•:,;")[:160]


def _add_unique(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)
