"""Signals: what an agent session is doing, read from its messages by rules.

One extractor, two uses: the compaction stage's SITREP (what a small model must know
about the middle of a long conversation) and the session view on the dashboard
(intent, open loops, completed steps). No model call; linear in the text.

Structure first, prose second (measured by bench/signals.py on the labelled sessions in
tests/data/, dev and blind held-out):

- completed steps: a tool call that changes something and whose result reports success,
  named from the call and the result (`created refund RF-8812`, `opened PR #1415`,
  `restarted nginx on web-2`; signals/actions.py), for tool-calling agents, Claude Code's
  Bash/Edit/Write and ReAct text agents alike (signals/react.py); then what the assistant
  says it finished ("Completed PR #3", "✅ Step 2 done", "Rolled back …"), unless a failed
  call it has not retried successfully contradicts it;
- plans: a numbered or bulleted list of things to do, in a user or assistant turn, or a
  todo-list tool's items (signals/plans.py); the newest plan is what `resume_from` counts
  against, and a step that does a plan item is named with its number (`step 2: …`);
- open loops: a failed call that changes or checks something, until the same tool
  succeeds; a call whose result is waiting (pending approval), until a later result with
  the same identifier says otherwise; a question the assistant asked, until the user
  answers; and clauses that leave something pending ("blocked on", "waiting for", "hasn't
  been approved"), until a later statement resolves them or a step about the same things
  is done. One loop per thing, however often it is mentioned;
- intent: the user's task in their own words (never the system prompt, a harness's
  injected reminders (signals/harness.py), tool output or small talk), replaced when the
  user redirects the work ("actually, forget the refund, just cancel the order").
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import msgspec

from trooper.conversation import Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.signals import actions, react
from trooper.signals.actions import Call, Outcome
from trooper.signals.bounded import bounded, has_long_run
from trooper.signals.harness import reminded_todos, without_harness
from trooper.signals.plans import PLAN_VERBS, Plan, plans


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
    plan: list[str] = msgspec.field(default_factory=list)  # the newest plan's steps, in order


MAX_ITEMS = 8
MAX_STEPS = 50
# What the dashboard shows: the intent as one line, each loop and step as one list entry.
INTENT_LENGTH = 300
ITEM_LENGTH = 240
_GLOSS = " — "  # how a name and what the agent said of it are joined


def shown(text: str, limit: int) -> str:
    """`text` as shown: a gloss said twice once, and at most `limit` characters, cut at a
    word with an ellipsis."""
    if _GLOSS in text:
        seen: set[str] = set()
        kept = []
        for part in text.split(_GLOSS):
            key = part.strip().lower()
            if key not in seen:
                seen.add(key)
                kept.append(part)
        text = _GLOSS.join(kept)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-…") + "…"

# --- sentences and clauses ---

# A sentence ends at . ! or ? followed by a space (so "4.2.11", "0.3%" and file names stay
# whole), or at a line break.
_STOPS = re.compile(r"[.!?]+|\n")
_ABBREVIATION = re.compile(r"(?:^|(?<=[\s(]))(?:Dr|Mr|Mrs|Ms|Mx|Prof|St|vs|approx|e\.g|i\.e|[A-Z])$")
_BULLET = re.compile(r"^(?:[-*•>]+\s+|#+\s+|\d{1,2}[.)]\s+|\[[ xX]\]\s+)+")
# Possessive, and a run of spaces is tried from its start only (what `(?<!\s)` says): each
# character is looked at a bounded number of times, so no run makes the split quadratic.
_CLAUSE_BREAK = re.compile(r";\s++|,\s++(?=(?:so|but|and then|which means|while|though)\b)|(?<!\s)\s++[—–]\s++")
_MARKUP = str.maketrans("’‘", "''", "*_`")
_CODE_MARKS = str.maketrans("’‘", "''", "*`")  # markup around a name, keeping the underscores inside it (ch_r2m8_0616)

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
    r"(?:(?:steps?|prs?|pull requests?|tasks?|phases?|parts?|stages?|items?|milestones?)\s*#?\s*\d+"
    r"(?:\s*(?:-|–|to|and|,)\s*(?:steps?\s*)?\d+){0,6}|(?:the\s+)?first\s+(?:two|three|four|five|six|[2-9])\s+steps)"
    r"\s*(?:\([^)]*\)\s*)?(?:is\s+|are\s+|has been\s+|have been\s+|now\s+)?"
    r"(?:(?:done|complete|completed|finished|merged|deployed|shipped)\b|✅|✔|☑)"  # "Step 2 ✅", "the first two steps are done"
)
_FIRST_STEPS = re.compile(r"\bfirst\s+(two|three|four|five|six|[2-9])\s+steps\b")
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_MARKER = re.compile(
    r"^(?:✅|☑|✔️?|\[x\]|(?:done|complete|completed|finished|success(?:ful(?:ly)?)?)\b(?!\s+(?:by|when|before|if|once))|"
    + _NUMBERED_DONE + ")",
)
# Tool output is data, not a report: only an explicit completion counts there.
_TOOL_MARKER = re.compile(r"^(?:✅|☑|✔️?|\[x\]|(?:done|completed?|finished)\s*:\s*\w|" + _NUMBERED_DONE + ")")
_PAST_FIRST = re.compile(rf"^(?:(?:i|we)(?:'ve| have)\s+|just\s+)?(?:{_DONE_VERBS})\b")
# A result that names the record it made and what became of it: "Transfer request TR-4471 submitted.",
# "Claim CL-90412 opened", "Bug BUG-4412 filed, priority P2".
_RECORD_DONE = re.compile(
    rf"^([a-z][a-z]+(?: [a-z][a-z]+){{0,3}}) (#?[a-z][a-z0-9]*-[a-z0-9-]*\d[a-z0-9-]*|#\d+) "
    rf"(?:has been |have been |was |were |is )?({_DONE_VERBS}|approved|confirmed|logged|placed|processed|queued|recorded)\b"
)
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
    r"|n't\b|'ll\b",
)
# "TODO: rotate the DBA password" is one; "there's even a `TODO cap this`" mentions one. "I couldn't open
# the PR: the token lacks permission" is a failed attempt told in words; "I couldn't find another booking" a lookup.
_OPEN = re.compile(
    r"^(?:todo|to-do|fixme|tbd)\b|\b(?:(?:todo|to-do|fixme|tbd)(?= *:)|blocked(?= *(?:on|by|until|because|pending|waiting|:))|blocker|(?:is|are|'s) blocking|stuck|on hold|(?<!without )waiting (?:on|for)|still waiting|awaiting|"
    r"hold(?:ing)? (?:\w+ ){0,5}until|held (?:for|until|pending)|under review|in review|(?:needs?|has|have) to be \w+ed|"
    r"still (?:need|needs|has to|have to|missing|pending|open|reviewing|deciding|checking|working on)|"
    r"(?:has|have)n't (?:been \w+|\w+ed)|(?:has|have) not (?:been \w+|\w+ed)|not yet|yet to|pending|outstanding|"
    r"needs? (?:approval|access|sign-?off|a decision|confirmation|review|to be (?:approved|confirmed|signed|reviewed|decided))|"
    r"(?:needs?|requires?|goes to|sent to|waits? for|for) (?:\w+ ){0,4}(?:approval|sign-?off|review)|until (?:she|he|they|someone) approves?|"
    r"need (?:access|approval|sign-?off|to (?:confirm|check|decide|find out|figure out|ask|wait|hear))|"
    r"(?:i|we) (?:couldn't|could not|wasn't able to|was unable to|weren't able to|were unable to) (?!find|see|locate|spot|tell|reproduce|help)\w+|open question|unresolved|nobody has|no one has|until (?:\w+ ){0,3}(?:(?:has|have) (?:\w+ed|signed off)|signs?|approves?|confirms?|repl(?:y|ies)|decides?|sends?|reviews?)|"
    r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|eod|end of (?:the )?(?:day|week|month)|next week))\b",
)
# Someone away until a time: "kwame's out till 11", "she's in a workshop till 3", "he's on a flight
# until tomorrow morning", "I am out of the office until Monday 16 March".
_AWAY = re.compile(
    r"(?:\b(?P<who>[a-z][a-z-]+)(?:'s| is)|\b(?:he|she|they|i)(?:'s|'re| is| are| am))\s+(?:now\s+|still\s+)?"
    r"(?:out(?! of stock)|off|away|ooo|offline|travell?ing|on (?:leave|holiday|vacation|pto|a flight|a plane|the road)|"
    r"in (?:a |the )?(?:meeting|workshop|training|review|standup|class|surgery)|at (?:the )?[a-z]+(?: site| office)?|"
    r"out of (?:the )?office)\b[^.;!?]{0,30}?\b(?:till|until|til)\b"
)
# Someone back at a time, the same fact told from its end: "sam's on in ~20 min", "Hanna is back tomorrow",
# "he's free friday morning".
_BACK = re.compile(
    r"(?:\b(?P<who>[a-z][a-z-]+)(?:'s| is| will be)|\b(?:he|she|they)(?:'s|'re| is| are| will be))\s+(?:back|on|free)\s+"
    r"(?:in\s+~?\d|at\s+\d|tomorrow|tonight|after\s+\w+|(?:on\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
)
_WAIT = re.compile(r"\b(?:wait|await|pending|approv|sign|review|until|hold|held|blocked)")
# "I haven't touched those", "I haven't emailed AP": what the agent left alone, not something pending
# (unless it says it is still to come: "I haven't confirmed the date yet").
# "Waiting for the CI run on that branch" beside the call that waits: the agent's own next step.
# The user holding work back: "hold off on partman too", "no hold it, dont route until the setback is sorted",
# "don't email Henrik yet, not until DE02 is in", "let's wait for the signed plan".
_HOLD = re.compile(r"\bhold (?:off|it|that|this|them|those)\b|\b(?:don'?t|dont|do not) (?:\w+ ){1,5}?(?:yet|until|till)\b|"
                   r"\bnot (?:until|till)\b|\b(?:let'?s|we'?ll|can|should) wait (?:until|till|for)\b|"
                   r"\b(?:leave|skip|park|pause) (?:\w+ ){1,3}?(?:for now|alone for now)\b")
# A question the user takes back in the same breath: "can you slack it to Dana? actually no, never mind, she'll wait".
_WITHDRAWN = re.compile(r"^\W*(?:(?:actually|wait|hmm|oh|no|nah)\W+)*(?:never ?mind|scratch that|forget (?:it|that)|ignore that)\b")
_ASIDE = re.compile(r"\W*(?:also|btw|by the way|one thing|one more|oh|ps|unrelated|separately|anyway|and another)\b")  # not why
_HOLD_END = re.compile(r"\b(?:until|till|yet|before|since|because|first|for now|alone)\b")  # what is held ends there
_HELD = "held:"  # the key of a loop for a plan step the user held back
_NARRATED_WAIT = re.compile(r"^(?:now |still )?(?:waiting (?:for|on)|let me wait|i'll wait|wait(?:ing)? a (?:bit|minute|moment))\b")
_PARENTHESES = re.compile(r"\(([^()]{3,200})\)")
# "but anything over 2,000 miles needs supervisor approval", "Policy needs a photo within 24 hours": a
# rule about any case, not something this session left open.
_GENERAL_RULE = re.compile(r"^(?:but |and |so |note:? )?(?:anything|any (?:\w+ )?(?:over|above|under|more than)|every|all \w+ (?:over|above)|"
                           r"(?:the )?polic(?:y|ies)|(?:the )?rules?)\b")
# "Which do you prefer?", "Anything else for now?": a question that names nothing the user could take on.
_SMALL_QUESTION = re.compile(r"^\W*(?:\S+\s+){0,4}\S+\?$")
_RESTRAINT = re.compile(r"^(?:but |and |so )?(?:i|we) (?:haven't|have not) (?!.*\b(?:yet|still)\b)[^,;]*$")
_ANSWERED = re.compile(r"\b(?:approved|signed off|arrived|came in|is in|are in|landed|received|confirmed|decided|"
                       r"repl(?:ied)|answered|granted|available now)\b")
_RESOLVED = re.compile(
    r"\b(?:resolved|fixed|sorted|solved|unblocked|approved|signed off|arrived|came in|is in|are in|landed|received|"
    r"merged|(?:is|are) gone|works now|working now|pass(?:es)? now|passing now|is back|are back|no longer|"
    r"confirmed|decided|repl(?:ied)|answered|granted|available now|(?:is|are) (?:done|upgraded|updated|ready))\b",
)
_INTENT = re.compile(
    r"\b(?:(?:i|we)(?:'d| would)? (?:want|need|would like|like|have|hope|plan) (?:you to|to)|"
    r"(?:i'm|i am|we're|we are) (?:trying to |going to |about to |planning to |looking to )?(?=\w+ing\b)|"
    r"(?:the )?(?:goal|task|aim|objective|plan|job) (?:is|here is) to|"
    r"(?:can|could|would|will) you(?: please)?|please|help (?:me|us)(?: to)?|let's|let us)\s+(?P<what>[^?!\n]{3,})",
    re.IGNORECASE,
)
_POINTING = re.compile(r"\b(?:it|them|this|that|these|those)\b")
_VAGUE = re.compile(r"^(?:\w+\s+)?(?:it|this|that|them|in|up|on|me|us|there|started|going|around|into it|into this)\b[\s,.;:]*$",
                    re.IGNORECASE)
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
    r"(?P<n>\d{1,3})(?:\s*(?:-|–|to|and)\s*(?:steps?\s*)?(?P<m>\d{1,3}))?(?!\s*[,.]\d)(?:\s*(?:of|/)\s*(?P<total>\d{1,3}))?\b",
)
# More numbers after "steps 1", listed up to an "and": ", 2, 3 and 5".
# (Possessive: with backtracking into each run of spaces, it was cubic in a run's length.)
_LISTED = re.compile(r"(?:\s*+,\s*+\d{1,3}+\b(?![.,]\d))*+\s*+,?\s*+(?:and|&)\s*+\d{1,3}\b(?![.,]\d)")
_ACTION = re.compile(
    r"\b(deploy|restart|migrat|run|rerun|roll ?back|merge|push|install|upgrad|test|build|check|verify|review|"
    r"send|email|call|schedule|back ?up|revert)\w*\b[^.!?\n]{0,60}",
)
_ENTITY = re.compile(
    r"\b(?:[A-Z][a-z]{1,40}[A-Z]\w{0,40}|[A-Z]{2,}[A-Z0-9_]{0,40}|[\w-]{1,80}\.(?:py|js|ts|go|rs|sql|yaml|yml|json|"
    r"toml|md|sh|tf|java|rb|cfg|ini|env|txt|csv)|(?:[a-z0-9-]{1,63}\.){1,6}(?:internal|local|com|io|net|org|dev|cloud)|"
    r"#\d+|v?\d+\.\d+(?:\.\d+)?)\b"
)
# Identifiers that make a sentence a fact worth keeping: ticket ids, hosts, URLs, paths,
# addresses, versions, people's names, dates.
_IDENTIFIER = re.compile(
    r"\b[A-Z][A-Z0-9]+-\d+\b|https?://[^\s)>\]]+|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|"
    r"\b[\w-]{1,63}(?:\.[\w-]{1,63}){0,6}\.(?:internal|local|svc|com|io|net|org|dev|cloud|ai)\b|(?:/[\w.-]{1,80}){2,12}|"
    r"\b[\w.+-]{1,64}@[\w-]{1,63}\.[\w.]{1,63}|\b\d{1,6}\.\d{1,6}(?:\.\d{1,6}){1,4}\b|\b(?:Dr\.|Mr\.|Ms\.)?\s?[A-Z][a-z]+ [A-Z][a-z]{2,}\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}\b|\b\d{1,2}:\d{2}\b"
)
_LOOKING = re.compile(r"(?:(?:step|phase)\s*\d+\s*[:.)-]\s*)?(?:look|get|check|search|find|review|verify|confirm|inspect|"
                      r"read|list|identify|investigate|research|pull up|fetch|query|locate|test|run the tests|audit|"
                      r"calc|calculate|compute|estimate|compare|analy[sz]e|work out|figure out|pull|gather|collect|"
                      r"reproduce|diagnose|evaluate|assess|determine|go through|triage)\b")
# A claim that says what was done, beyond "Step 2 done".
_TOLD = re.compile(r"[:—–-]\s*\w+\W+\w+")
# The user taking an item on: "I'll push and tag it", "I will open the PR myself", "let me check with Sam first",
# "I need to ask our plan admin whether …".
_HANDOFF = re.compile(
    r"\b(?:i'll|i will|i'm going to|i am going to|i'll be|let me(?: first)?|i need to|i have to|i've got to|i gotta)\s+(?:do the |handle the |take care of the )?"
    r"(?=(?:cut|push|tag|open|review|check|handle|book|add|ask|send|merge|deploy|release|write|upload|ping|call|talk|"
    r"chase|sort|update|file|submit|pay|sign|approve|decide|confirm|test|run|look|get|bring|pick|print|email)\b)"
)
# The user putting something off to a later time or taking it on themselves, whatever the verb: "I'll do it
# properly tomorrow with the DBA folks", "we'll look at the memory thing tomorrow", "I'll close INC-20931 once
# carrier B confirms", "I'll render on my mac later".
_DEFERRED = re.compile(
    r"\b(?:i'll|i will|we'll|we will)\s+(?!be\b|need\b|have\b)"
    r"(?=[^?]*?\b(?:tomorrow|later|next week|after (?:lunch|the|my|our)|myself|ourselves|tonight|"
    r"(?:on|by|this|next) (?:mon|tues|wednes|thurs|fri|satur|sun)day|this (?:afternoon|evening)|in the morning|"
    r"first thing|once|when (?:\w+ )?(?:is|are|gets?|comes?|confirms?|approves?|says?|sends?|repl(?:y|ies))\b)[^?]*$)"
)
# The agent handing the user something to do: "You'll need to take it in the incident console", "you'd have
# to check with Aiko yourself", "Please forward DRF-3390 v2 to Amara".
_HANDED = re.compile(
    r"^(?:so |and |but |then |otherwise |for now,? )?(?:you(?:'ll| will|'d| would)? (?:need|have) to|you must|"
    r"please (?=(?:forward|send|call|email|sign|upload|ask|contact|reply|ring|phone|post|share|pass)\b))\s*"
)
# Someone else taking the next move, in the original case (a name is capitalised): "he's going to email the
# revised site plan this afternoon", "Communications will handle it", "Kwame will need to pick it up from the
# review queue", "the analytics team will need to pull those", "Marcus has to click approve".
_COMMIT = (r"(?:send|email|call|phone|ring|sign|approve|review|confirm|check|handle|do it|do that|click|ping|fix|refresh|"
           r"rebuild|deliver|reply|decide|upload|post|follow up|get back|add|pull|search|file|book|release|update)")
# The move, then who makes it, read back from just before it (searching for the mover first tried every
# position of every clause: 9 µs a clause; this is under 2).
_MOVE = re.compile(
    r"(?:(?:'s|'re| is| are) going to " + _COMMIT + r"|(?:'s|'re| is| are) (?:sending|handling|fixing|looking into|"
    r"working on|reviewing)|(?: will|'ll) (?:(?:need|have) to (?!be\b)\w+|" + _COMMIT + r")|"
    r" (?:needs|has) to (?!be\b)\w+)\b"
)
_MOVER = re.compile(
    r"(?:\b(?P<pronoun>(?i:he|she|they|someone|somebody))|(?<![\w'])(?!(?:This|That|These|Those|It|Its|There|Here|We|You|I|"
    r"Everything|Nothing|Step|Which|What|Who|Each|Both|All|Any|Some|One|Once|When|If|Then|So|And|But|Also|Note|Next|Now|"
    r"Yes|No|Ok|Okay)\b)[A-Z][a-z]{2,}(?: [A-Z][a-z]+)?|\b(?i:the|our|their|your|his|her) (?:\w+ )?(?i:team|admin|manager|"
    r"owner|vendor|lead|engineer|accountant|builder|technician|broker|supervisor|office|department|desk|dba|folks))$"
)


def _others_move(clause: str) -> bool:
    """Someone else taking the next move: "he's going to email the revised site plan this afternoon",
    "Communications will handle it", "Kwame will need to pick it up from the review queue", "the analytics
    team will need to pull those", "Marcus has to click approve". A pronoun's move is a commitment only
    ("she'll send", "he's going to email"), not a need ("she needs to know")."""
    if "ll " not in clause and "s to " not in clause and "ing" not in clause:  # no move told: most clauses
        return False
    if len(clause.split()) < 5 or clause.lstrip().lower().startswith(("if ", "when ", "unless ")):
        return False  # "she'll ping" names nothing; "if the warehouse finds anything, they'll email you" may never be
    for move in _MOVE.finditer(clause):
        mover = _MOVER.search(clause, 0, move.start())
        if mover is not None and not (mover.group("pronoun") and (move.group(0).startswith((" needs", " has"))
                                                                 or " need to" in move.group(0) or " have to" in move.group(0))):
            return True
    return False


_CAPITALISED = re.compile(r"\b[A-Z][a-z]{2,20}\b")
_YOURSELF = re.compile(r"\s+yourself\b", re.IGNORECASE)
# An identifier an agent repeats when it talks about an item: RMA-55120, JE-2318, q_5f21, #612,
# a hash, an address. A letter and a digit both, so words and plain numbers are not ones.
_ID = re.compile(r"(?<![\w@.-])(?:[A-Za-z][A-Za-z0-9]{0,11}[-_]?\d[A-Za-z0-9]{0,20}(?:[-_][A-Za-z0-9]{1,20}){0,3}|"
                 r"#\d{2,7})(?![\w@-])")
GLOSSED_LENGTH = 320
_BARE_CLAIM = 2  # words at most of a claim of done that names no work ("Fixed", "Statistics rebuilt"; "8 groups added" does)
# What starts the next piece of work or acknowledges, not a report of results: "Running the
# tests", "Now the model", "Will do", "Understood: …".
_ANNOUNCING = re.compile(r"(?:now|next|then|first|let me|let's|i'll|i will|i'm going|i am going|going to|will do|"
                         r"understood|ok|okay|sure|got it|right|on it|"
                         r"(?!(?:no|every|some|any)thing\b)\w{2,}ing\b(?!\s+(?:is|was|are|were|has|had)\b))\b",
                         re.IGNORECASE)
REPORT_LENGTH = 200  # of what the agent says of a plan step's results
STEP_ENTRY_LENGTH = 480  # a finished plan step, its work and what the agent said of it
_CLAIMED = "though the agent said"
_FINAL_ANSWER = "answered: "  # a text agent's final answer, as a step
_PART_OF = " for "  # "quarantine messages ML-7741 failed for 3 of 47: …": the part of a batch that failed
_WHOLE = re.compile(r"\b(?:all|every|each|both|none (?:failed|left))\b")  # a claim of the whole of a batch
_OVERCLAIMED = "unfinished"  # the key of a loop for an item a change left a draft and the agent called done
# A result's state for what a change made that is short of done: {"status": "draft - needs EHS sign-off"},
# status=queued, "state": "unsent".
_UNFINISHED = re.compile(r"\b(?:status|state)\b\W{0,4}((?:draft|queued|unsent|not sent|not submitted)\b[^\"\n,;}]{0,40})",
                         re.IGNORECASE)
# What the agent says of an item when it calls it finished: sent, submitted, ready, live, gone out.
_FINISHED = re.compile(r"\b(?:sent|submitted|issued|ready|live|active|published|posted|released|approved|signed|"
                       r"gone out|went out|on (?:its|their) way|in place|placed|all set)\b")
_UNFINISHED_SAID = re.compile(r"\b(?:draft|drafts|queued|unsent|pending|await|awaiting|waiting|needs?|once|until|if|whether|not)\b|n't\b")
_PART = "part:"  # the key of a loop for the part of a batch that failed
_STEP_NAMED = re.compile(r"^step (\d{1,2})\b")
# "Step 2: parcel 044-231-17 is R-1, the rear setback fails": the agent reporting a plan step by its number.
# A file the agent names, by its name: `sections/intro.tex` → intro.tex.
_FILE_NAME = re.compile(r"(?<![\w.-])(?:[\w.-]+/)*([\w-]+\.(?:py|js|jsx|ts|tsx|go|rs|rb|java|kt|sql|yaml|yml|json|toml|md|"
                        r"sh|tf|cfg|ini|conf|env|txt|csv|tex|html|css|scss|vue|mjml|xml|lock|php|c|h|cpp|swift))\b")
_COMPACT = re.compile(r",(?=[\"\[{\w-])")
_SHELL_JOIN = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_RUNS_SCRIPT = re.compile(r"(?:cd \S+ && )?(?:python3?|node|ruby|make|npm|yarn|pnpm|npx|bash|sh|\./|uv run|poetry run)\b")
_VERIFIES = re.compile(r"test|lint|typecheck|tsc|mypy|ruff|eslint|vet|clippy|flake8|pyright|check|validate|verify")
_PRODUCED = re.compile(r"(?im)^[^\n]{0,80}\b(?:written to|wrote|saved(?: to)?|report(?: is)? at|output written on|"
                       r"created|generated|exported|rendered|built|queued)\b[^\n]{0,80}(?:/|\.\w{2,4}\b)[^\n]{0,60}$")
_PASSED = re.compile(r"\b(\d+) passed\b")
_LINTERS = ("lint", "typecheck", "tsc", "mypy", "ruff", "eslint", "vet", "clippy", "flake8", "pyright")
_STEP_REPORT = re.compile(r"^step\s*#?(\d{1,2})\s*(?:[:—–]|-\s)\s*(?=\S)")
_TICKET = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d{2,}(?:-[A-Z0-9]{1,12}){0,3}\b|(?<![\w#])#\d{2,7}\b")  # all its parts: INC-2026-0318
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_WORD = re.compile(r"[a-z0-9][a-z0-9#_.-]*")
_STOP = frozenset(
    "the a an to of on in for and or is are was were be been it its this that with from by at as we i you our your "
    "they their has have had do does did not no so now still need needs waiting wait done fixed resolved step steps "
    "before after until yet just all both one two he she him her his them me my mine us can can't won't i'm we're "
    "you're they're it's that's there here then than also too very over under into about via per out off up down "
    "what which who when where how why if but".split()
)


_MOVING_ON = re.compile(
    r"\b(?:moving (?:on )?to|on to|onto|starting(?: on)?|start(?:ing)? with|now(?: for| on)?|next(?: up)?[:,]?|"
    r"proceeding (?:to|with)|continuing (?:to|with)|beginning|let'?s do|time for|up next[:,]?) "
    r"(?:with )?(?:the )?(?:step|phase|stage|task)\s*#?(\d{1,2})\b"
)
_PLAN_UNIT = re.compile(r"step|phase|stage|task")  # _MOVING_ON needs one of them: most sentences have none
_ALL_DONE = re.compile(r"\ball (?:the )?(?:\w+ )?(?:steps|items|tasks)(?: on the (?:plan|list))? (?:are|have been) "
                       r"(?:now )?(?:done|complete|completed|finished)\b")
# A test runner's summary: "5 passed in 1.41s", "Tests: 53 passed, 53 total", "test result: ok.", "ok  pkg/x 0.2s".
_RUN_PASSED = re.compile(r"\b\d+ (?:passed|passing)\b|^test result: ok\b|^ok\s+\S+\s+\d", re.MULTILINE)
_RUN_FAILED = re.compile(r"\b[1-9]\d* (?:failed|failing|errors?)\b|\bFAIL(?:ED)?\b|^not ok\b", re.MULTILINE)
_CHECKS_PASS = re.compile(
    r"\b(?:tests?|suite|specs?|ci|build|checks?|pipeline)\b[^.;!?]{0,40}?\b(?:pass|passes|passed|passing|green|"
    r"succeeds?|succeeded)\b"
)
_TO_USER = re.compile(
    r"\b(?:you|your|shall i|should i|can i|may i|want me|ok to|okay to|confirm|prefer|which|would you|do you|"
    r"is it ok|is that ok|are you|let me know)\b"
)
_PERMISSION = re.compile(
    r"\b(?:shall i|should i|can i|may i|want me to|ok to|okay to|go ahead|proceed|confirm|approve|is it ok|"
    r"is that ok|do you want|would you like me)\b"
)
_APPROVAL_WORDS = re.compile(
    r"^(?:y|yes|yep|yeah|yup|sure|ok|okay|go|go ahead|do it|please do|proceed|approved?|confirmed?|sounds good|"
    r"lgtm|ship it|that'?s fine|fine|correct|right|perfect|great|go for it)\b"
)
_ASKING_APPROVAL = re.compile(r"\b(?:approv|confirm|go-ahead|go ahead|sign-?off|permission|ok to|okay to|proceed)")
_REDIRECT = re.compile(
    r"^\W*(?:(?:oh|ok|okay|wait|hmm|no|sorry|hey)\W+)?(?:actually|instead)\b|"
    r"\b(?:change of plans?|scratch that|never ?mind|(?<!n't )(?<!not )forget (?!to\b)\w+|scrap \w+|new plan|"
    r"different (?:task|plan)|let'?s not|on second thought|hold off on|don'?t bother|(?:stop|drop) the)\b|"
    r"^\W*(?:(?:ok|okay|fine|alright|hmm|ugh|meh)\W+)*just \w+.{0,60}\bthen\W*$",
    re.IGNORECASE,
)
# A redirect that replaces the task, not one that pauses or trims part of it ("hold off on the
# backfill", "never mind, she'll wait", "actually don't delete them").
_REPLACES = re.compile(
    r"\b(?:change of plans?|new plan|different (?:task|plan)|scratch (?:that|the|it|this)|scrap (?:that|the|it|this)|"
    r"forget (?:it|that|about|the|my|this)|instead|just \w+.{0,60}\bthen\W*$)",
    re.IGNORECASE,
)
_REDIRECT_DROP = re.compile(
    r"^(?:actually|wait|no|ok|okay|hmm|sorry|oh|change of plans?|scratch that|never ?mind|on second thought|new plan)"
    r"\b[\s,.:;!—–-]*",
    re.IGNORECASE,
)
_CANCELLED_CLAUSE = re.compile(
    r"^(?:forget|never ?mind|scratch|scrap|don'?t|do not|no need|skip|drop|leave|hold off|instead of|rather than|"
    r"stop)\b", re.IGNORECASE,
)
_SMALL_TALK = re.compile(
    r"^(?:hi|hello|hey|heya|yo|good (?:morning|afternoon|evening)|thanks|thank you|cheers|how are you|how'?s it going|"
    r"hope|happy|nice|great|cool|ok|okay|morning)\b",
    re.IGNORECASE,
)
_GREETING = re.compile(r"^(?:hi|hello|hey|heya|yo|good (?:morning|afternoon|evening)|morning)\b(?:\s+(?:there|all|team|"
                       r"folks|again|everyone|[A-Z][a-z]+))?[\s.!?,:;-]*", re.IGNORECASE)
# A text agent's labels on a turn with no call ("Thought: …", "Answer: …"): not words it says.
_TEXT_AGENT_LABEL = re.compile(r"^[ \t]*(?:thought|(?:final )?answer)[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
# A user's sentence that changes a detail of the task rather than stating a new one.
_CORRECTION = re.compile(r"\b(?:now,? not|not \w+ anymore|instead of|should (?:be|have been)|rather than|"
                         r"change (?:it|that|them) to|make it|moved (?:\w+ ){0,3}to|do \d+\b)")
_TASK_LABEL = re.compile(r"^[ \t]*(?:question|task|request|goal|user)[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)


def extract(messages: Iterable[Message], system: str = "") -> Signals:
    """The signals of a conversation, read in order so later statements win (a loop
    opened then resolved ends up resolved). The system prompt is never the task."""
    reader = SignalReader()
    for message in messages:
        reader.read(message)
    return reader.signals()


# --- one message on its own (cached: agents resend every earlier message each turn) ---


class Event(msgspec.Struct, frozen=True):
    """Something a message states or does, in order: a completed step, a resolution, an
    open loop, a question to the user, a plan, a tool call, or a tool result."""

    kind: Literal["step", "resolved", "open", "question", "moving", "plan", "todo", "call", "result", "reply",
                  "asks", "away", "names", "checks_pass", "said", "report", "all_done", "awaits", "hold"]
    text: str = ""
    words: frozenset[str] = frozenset()
    unit: str = ""  # steps: the numbered unit (step, pr, task...) and its numbers
    numbers: tuple[int, ...] = ()
    total: int = 0
    tool_id: str = ""  # calls and results: the call's id ("" for a text agent's, matched in order)
    call: Call | None = None
    results: tuple[Outcome, Outcome] | None = None  # read as a lookup's, and as a change's
    plan: Plan | None = None
    todo: tuple[tuple[str, str], ...] = ()
    tool: str = ""
    named: tuple[tuple[str, str], ...] = ()  # names: what an identifier is ("pr", "PR #318"), as the agent wrote it


class Observed(msgspec.Struct, frozen=True):
    """What one message says, independent of the rest."""

    intent: str = ""
    goal: bool = False  # the intent states a goal ("please add…", "can you…"), not just the user's first words
    redirect: bool = False
    constraints: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    facts: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    last: str = ""  # an assistant's last sentence: what the user's next turn answers
    first: str = ""  # an assistant's first sentences: what it makes of the results before them
    numbered: bool = False  # it reports a plan step by number ("Step 2: …")
    correction: str = ""  # a user's sentence that changes a detail of the task ("its 55 people now not 40")
    asks: tuple[str, ...] = ()  # a user's asks to change something, as done ("added a usage line to the README")
    # a later turn's request, as people add to a task once it is under way ("yes refund both", "she wants the
    # rebill", "can we waive the late fee", "I want compensation"): what it asks for and what it says around it
    request: str = ""


_CACHE: OrderedDict[bytes, Observed] = OrderedDict()
# ~1.2 KB a message (tracemalloc, bench/soak.py's messages): 50,000 held 61 MB and grew RSS
# for the first ten minutes of a soak; 10,000 still covers every active session's history.
_CACHE_SIZE = 10_000
_ENCODE = msgspec.json.Encoder().encode


# How much of a long answer is read: its first two thirds and last third, where agents say
# what they did and what is left; the middle is mostly code, logs or prose the signals
# don't use. Reading costs ~0.4 µs a character, so a 100 KB answer would otherwise hold
# the interpreter for 40 ms. Every text is read through signals/bounded.py's window.
ANSWER_WINDOW = 3000
# How much of a user turn is read: a pasted log or file says less about the task than its words.
USER_WINDOW = 8000
# How much of a tool result is kept for naming and judging it.
RESULT_WINDOW = 4000


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


class _Reading:
    """What `_observe` gathers from one message's blocks."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.intent = ""
        self.goal = False
        self.redirect = False
        self.correction = ""
        self.asks: tuple[str, ...] = ()
        self.request = ""
        self.constraints: list[str] = []
        self.events: list[Event] = []
        self.facts: dict[str, None] = {}
        self.actions: list[str] = []
        self.entities: dict[str, None] = {}
        self.said = ""  # the last prose sentence, announcing the next tool call
        self.first = ""  # the first prose sentences

    def prose(self, text: str, questions: bool) -> None:
        role = self.role
        text = bounded(text, ANSWER_WINDOW if role == "assistant" else USER_WINDOW)
        sentences = list(_sentences(text))
        if role == "user":
            words = without_harness(text)
            if words:
                self.events.append(Event("reply", " ".join(words[:200].split())))
                question = next((s for s in sentences if _asks(s)), "")
                spoken = " ".join(words.split())
                asks = spoken[max(0, spoken.find(" ".join(question.split()))):] if question else ""  # not the "ok thanks" before it
                if len(asks.split()) >= 3 and not _WITHDRAWN.search(asks.partition("?")[2].lower()):
                    self.events.append(Event("asks", shown(asks, 200)))
            if not self.asks:
                self.asks = _asks_to_change(sentences)
            if not self.intent and len(text.split()) >= 4:
                self.intent, self.goal = _intent(sentences)
                self.redirect = any(_REDIRECT.search(sentence) for sentence in sentences)  # "… actually just do X"
                if not self.goal:
                    self.correction = next((_clean(s).rstrip(".!") for s in sentences if _CORRECTION.search(s.lower())), "")
                    self.request = _request(sentences)
        asked: list[str] = []
        last_id = ""
        reports: list[Event] = []
        for index, sentence in enumerate(sentences):
            low = sentence.translate(_MARKUP).lower()
            named = _TICKET.findall(sentence)
            if role == "user" and len(sentence) < 200 and _CONSTRAINT.search(low):
                _add_unique(self.constraints, _clean(sentence))
            if role == "user":
                handoff = _HANDOFF.search(low)
                deferred = handoff is None and (handoff := _DEFERRED.search(low)) is not None
                if handoff is not None:  # "I'll cut the release tomorrow": the user's own open loop
                    rest = _clean(sentence[handoff.end():])
                    said = f"user will {rest}"
                    before = _clean(_ASK_LEAD.sub("", sentence[: handoff.start()]))
                    if deferred and len(before.split()) >= 2 and _POINTING.search(" ".join(rest.split()[:3]).lower()):
                        said = f"{before}: {said}"  # "nah leave alerting, I'll do it tomorrow": what "it" is
                    needs = not handoff.group(0).startswith("i'")  # "let me check with Sam", "I need to ask HR"
                    self.events.append(Event("open", said[:200], _stems(said), unit="handoff",
                                             tool="deferred" if deferred else "needs" if needs else ""))
                elif "hold" in low or "until" in low or "yet" in low or "wait" in low or "for now" in low:  # cheap to rule out
                    if _HOLD.search(low) and not _OPEN.search(low):  # "don't email Henrik yet, not until DE02 is in"
                        held = _clean(sentence)
                        # "don't post in slack yet", "hold it, dont route until …": what is held
                        what = " ".join(_HOLD_END.split(_ASK_CLAUSES.split(low[found.start():], 1)[0], 1)[0]
                                        for found in _HOLD.finditer(low))
                        reason = sentences[index + 1] if index + 1 < len(sentences) else ""
                        if reason and len(reason) < 140 and not reason.rstrip().endswith("?") and not _ASIDE.match(reason.lower()):
                            held = f"{held}; {_clean(reason)}"  # why, said next: "I want Marcus to look at it first"
                        self.events.append(Event("hold", held, _stems(held.lower()), unit=what))
            claimed = role == "assistant" and _is_step(low)
            aside = ""
            if role == "assistant" and not claimed and "(" in low and _OPEN.search(low):
                # "I've sent Dana a secure message (address change needs a branch visit, credit pending
                # APR-7731)": the claim is the sentence without its aside; what is open is in the aside
                main = _PARENTHESES.sub("", sentence)
                if _OPEN.search(main.lower()) is None and _is_step(main.lower()):
                    claimed, aside = True, " ".join(_PARENTHESES.findall(sentence))
                    sentence, low = main, main.translate(_MARKUP).lower()
            if claimed:
                unit, numbers, total = _step_numbers(low) or ("", (), 0)
                named_words = _stems(sentence.translate(_CODE_MARKS).lower()) if "_" in sentence else _stems(low)
                self.events.append(Event("step", _clean(_first_clause(sentence)), named_words, unit, numbers, total))
            elif ("til" in low and (away := _AWAY.search(low)) is not None) or (  # till, until, til: cheap to rule out
                    ("back " in low or "on in " in low or "free " in low) and (away := _BACK.search(low)) is not None):
                # "kwame's out till 11 btw": the wait on him lasts at least that long
                self.events.append(Event("away", _clean(sentence), _stems(low), unit=_stem(away.group("who") or "")))
            elif _RESOLVED.search(low) and not _NEGATED.search(low) and not _OPEN.search(low):
                self.events.append(Event("resolved", sentence, _stems(low)))
            elif low.endswith("?") or (role == "user" and _asks(sentence)):
                if questions and role == "assistant" and _TO_USER.search(low):
                    asked.append(_clean(sentence).rstrip("?") + "?")
            else:
                for clause in _clauses(sentence):
                    said_low = clause.translate(_MARKUP).lower()
                    handed = _HANDED.match(clause.lower().replace("’", "'")) if role == "assistant" else None
                    opens = handed or _OPEN.search(said_low)
                    # someone else's move, said beside a call, is what the call is about: its result says the wait
                    if (opens or (questions and _others_move(clause.replace("’", "'")))) and not _RESTRAINT.search(said_low) and \
                            not _GENERAL_RULE.match(said_low) and \
                            not (role == "assistant" and not questions and _NARRATED_WAIT.match(said_low)):
                        # "Claim EXP-7731 is submitted. It goes to Lena for approval": the loop is EXP-7731's
                        said = _handed_over(clause, handed) if handed else _clean(clause)
                        said = said if named or not last_id else f"{said} ({last_id})"
                        self.events.append(Event("open", said, _stems(said), unit="" if opens else "others"))
            for clause in aside.split(", "):
                if _OPEN.search(clause.lower()):
                    self.events.append(Event("open", _clean(clause), _stems(clause)))
            if named:
                last_id = named[-1]
                if role == "assistant":
                    pairs = _named_things(sentence)
                    if pairs:
                        self.events.append(Event("names", named=pairs))
            if role == "assistant" and _CHECKS_PASS.search(low) and not _NEGATED.search(low):
                self.events.append(Event("checks_pass", _clean(sentence)))
            if role == "assistant":
                ids = _ids_in(sentence)
                if ids:  # "A-90111 → tomorrow 10:15, Dr. Levin": what the agent says of an item it named
                    handed = _HANDED.match(sentence.lower().replace("’", "'"))  # said as the loop it opens says it
                    about = _handed_over(sentence, handed) if handed else _clean(sentence)
                    self.events.append(Event("said", about, ids, unit="claim" if claimed else ""))
                files = frozenset(_stem(found.lower()) for found in _FILE_NAME.findall(sentence)) if "." in sentence else frozenset()
                if files:  # "fixed the cite keys in `sections/intro.tex`": what the agent says of a file it changed
                    self.events.append(Event("said", _clean(sentence), files, unit="file"))
                report = _STEP_REPORT.match(low)
                if report is not None:
                    report_text = _clean(sentence)
                    for following in sentences[index + 1 : index + 4]:  # "Step 1: incomplete. Two problems: …"
                        if len(report_text) >= 120 or _STEP_NAMED.match(following.lower()) or _ANNOUNCING.match(following) \
                                or following.rstrip().endswith("?"):
                            break
                        report_text = f"{report_text}; {_clean(following)}"
                    reports.append(Event("report", report_text[:REPORT_LENGTH], _stems(report_text), numbers=(int(report.group(1)),)))
                done_all = _ALL_DONE.search(low) if "all " in low else None
                if done_all and not _NEGATED.search(low[: done_all.end()]):
                    self.events.append(Event("all_done"))  # "All five steps are done for loyal and new"
                moving = _MOVING_ON.search(low) if _PLAN_UNIT.search(low) else None
                if moving and not _NEGATED.search(low[: moving.start()]):
                    self.events.append(Event("moving", numbers=(int(moving.group(1)),)))
        laid_out = plans(text, user=role == "user")
        if not laid_out:  # "Step 1: …, Step 2: …" laying out a plan is not a report on one
            self.events.extend(reports)
        for plan in laid_out:  # after the sentences: a list of what is left is not closed by the line above it
            self.events.append(Event("plan", plan=plan))
        if asked:
            text_asked = " ".join(asked[-2:])
            self.events.append(Event("question", text_asked[:200], _stems(text_asked),
                                     unit="approval" if _PERMISSION.search(text_asked.lower()) else ""))
        if sentences:
            self.said = sentences[-1]
            if not self.first:
                # (a second sentence heading a step of its own, "Step 2: trace it.", says nothing of these results)
                told = [_clean(x) for i, x in enumerate(sentences[:2]) if not x.rstrip().endswith("?")
                        and not _ANNOUNCING.match(x) and not (i and _STEP_REPORT.match(x.translate(_MARKUP).lower().lstrip()))]
                self.first = "; ".join(t for t in told if t)[:REPORT_LENGTH]
        self.facts.update(dict.fromkeys(_facts(text)))
        if role == "assistant":
            low = text.lower()
            if len(low) == len(text):  # spans of the lower-cased text fit the original
                self.actions.extend(_clean(text[m.start() : m.end()]) for m in _ACTION.finditer(low))
        self.entities.update(dict.fromkeys(_ENTITY.findall(text)))

    def answered(self, text: str) -> None:
        """A text agent's final answer is the deliverable the user asked for."""
        first = next(iter(_sentences(text)), "")
        if first:
            self.events.append(Event("step", _clean(f"{_FINAL_ANSWER}{first}"), _stems(first)))

    def call(self, tool_id: str, name: str, arguments: object) -> None:
        described = actions.describe(name, arguments)
        if described.kind == "plan":
            self.events.append(Event("todo", tool_id=tool_id, todo=tuple(actions.todos(arguments))))
            return
        announced = _announcement(self.said)
        self.events.append(Event("call", announced, tool_id=tool_id, call=described, tool=name))
        if described.kind == "change" and isinstance(arguments, dict) and _OUTBOUND.search(name) and not _DRAFT.search(name):
            awaited = _outbound_ask(name, arguments)
            if awaited is not None:  # a message that asks its recipient for something: their reply is awaited
                self.events.append(Event("awaits", awaited[1], _stems(awaited[1]), tool_id=tool_id, unit=awaited[0]))

    def result(self, tool_id: str, text: str, is_error: bool, name: str = "") -> None:
        text = without_harness(text)
        if len(text) > 2 * RESULT_WINDOW:
            text = f"{text[:RESULT_WINDOW]}\n\n{text[-RESULT_WINDOW:]}"
        if has_long_run(text):  # compact JSON is one long "word": spaced, it keeps all its ids
            text = _COMPACT.sub(", ", text)
        text = bounded(text, RESULT_WINDOW)
        read = actions.outcome(text, is_error, "read")
        change = actions.outcome(text, is_error, "change")
        self.events.append(Event("result", tool_id=tool_id, results=(read, change), tool=name))
        summary = text[-600:]
        if not is_error and _RUN_PASSED.search(summary) and not _RUN_FAILED.search(summary):
            self.events.append(Event("checks_pass", unit="run"))  # a test run passed, whatever command ran it
        if is_error or change.status != "ok":
            self.facts.update(dict.fromkeys(_facts(text[:1000])))

    def observed(self) -> Observed:
        return Observed(self.intent, self.goal, self.redirect, tuple(self.constraints), tuple(self.events), tuple(self.facts),
                        tuple(self.actions), tuple(self.entities), _clean(self.said)[:160] if self.role == "assistant" else "",
                        self.first if self.role == "assistant" else "", any(event.kind == "report" for event in self.events),
                        self.correction, self.asks, self.request)


def _observe(message: Message) -> Observed:
    reading = _Reading(message.role)
    has_calls = any(type(block) is ToolUseBlock for block in message.content)
    for block in message.content:
        if type(block) is ToolUseBlock:
            reading.call(block.id, block.name, block.input)
        elif type(block) is ToolResultBlock:
            reading.result(block.tool_use_id, _result_text(block), block.is_error, block.name)
        elif type(block) is TextBlock:
            text = block.text
            if message.role == "user":
                todos = reminded_todos(text)
                if todos:  # the agent's todo list as the harness restates it: ticked as the agent left it
                    reading.events.append(Event("todo", todo=tuple(actions.todos({"todos": todos}))))
                text = without_harness(text)
                if not text:
                    continue
            if react.is_trace(text):
                _read_trace(reading, text)
            else:
                if message.role == "user":
                    text = _task_text(text)
                elif "ought:" in text or "nswer:" in text:
                    text = _TEXT_AGENT_LABEL.sub("", text)  # "Thought: Steps 1, 2, 3 and 5 are done."
                reading.prose(text, questions=not has_calls)
    return reading.observed()


# A text agent's turn holds one call or a few; a turn with hundreds is read at its ends.
MAX_TRACE_PARTS = 64
# And so is a long one before it is parsed: parsing reads every line (a 1 MB turn of calls
# took 195 ms, where prose is read through its window).
TRACE_WINDOW = 32_000


def _read_trace(reading: _Reading, text: str) -> None:
    if len(text) > TRACE_WINDOW:
        text = f"{text[: TRACE_WINDOW * 2 // 3]}\n{text[-(TRACE_WINDOW // 3):]}"
    parts = react.parse(text)
    if len(parts) > MAX_TRACE_PARTS:
        parts = parts[: MAX_TRACE_PARTS // 2] + parts[-MAX_TRACE_PARTS // 2 :]
    has_action = any(part.kind == "action" for part in parts)
    for part in parts:
        if part.kind == "action":
            if part.name.lower() in ("finish", "final_answer", "answer", "respond", "reply"):
                if part.name.lower() not in ("respond", "reply"):  # a reply is the conversation, not its deliverable
                    reading.answered(part.text)
                reading.prose(part.text, questions=True)
            else:
                reading.call("", part.name, part.text)
        elif part.kind == "observation":
            reading.result("", part.text, False)
        elif part.kind == "answer":
            reading.answered(part.text)
            reading.prose(part.text, questions=True)
        else:
            prose = part.text if reading.role == "assistant" else _task_text(part.text)
            reading.prose(prose, questions=not has_action)


def _handed_over(said: str, handed: re.Match[str]) -> str:
    """"You'll need to take it in the incident console" as the user's to do: "user to take it in the incident
    console"."""
    return f"user to {_clean(_YOURSELF.sub('', said[handed.end():]))}"


def _task_text(text: str) -> str:
    """A user turn's own request: after a `Question:` / `Task:` label when a text agent's
    prompt carries one (the instructions around it are the harness's)."""
    last = None
    for label in _TASK_LABEL.finditer(text):
        last = label
    return text[last.end():].strip() if last is not None and last.end() < len(text) else text


def _announcement(sentence: str) -> str:
    """What the assistant said it was about to do, as a step's gloss: "Now let me add the
    rate limiter:" → "add the rate limiter"."""
    said = _clean(sentence).rstrip(":.")
    said = re.sub(r"^(?:now,?\s+|next,?\s+|first,?\s+|then,?\s+|ok(?:ay)?,?\s+|great,?\s+)*"
                  r"(?:let me|let's|i'll|i will|i'm going to|going to|i need to|we need to)\s+", "", said, flags=re.I)
    return said[:100] if 3 <= len(said.split()) <= 16 and not said.endswith("?") else ""


# What comes before the ask itself in a user's clause: thanks, fillers, "can you".
_ASK_LEAD = re.compile(r"^(?:(?:ok(?:ay)?|ty|thanks|thank you|great|perfect|cool|good|nice|yes|yep|yeah|sure|oh|also|and|"
                       r"then|now|last thing|one more thing|one more|next|so|please|pls|plz|actually|btw|right|alright|"
                       r"fine|ugh|hmm+|can you|could you|would you|will you|you can|go ahead and|just)\b[\s,.!:;-]*)+",
                       re.IGNORECASE)
_ASK_TAIL = re.compile(r"(?:[\s,]*\b(?:pls|please|plz|thanks|thx|ty|too|as well|yes|then|for now|now|asap|first))*[\s.!]*$",
                       re.IGNORECASE)
# Not an ask to change a thing it names: a negation, "make sure", "leave it", "change of plan", "fix it".
_NOT_ASKED = re.compile(r"\b(?:not|don't|dont|never|no|without)\b|^(?:make sure|leave|left|keep)\b|^\w+ of\b|"
                        r"^\w+ (?:it|them|this|that|these|those|him|her|all her|all his|all their)\b")
_ASK_CLAUSES = re.compile(r"[,;]\s++|\s++[—–]\s++")


def _asks_to_change(sentences: list[str]) -> tuple[str, ...]:
    """What a user's turn asks to have changed, each as it reads once done ("ty. last thing,
    add a usage line for the script to the README pls" → "added a usage line for the script to
    the README"; "restart nginx on web-2 and open a PR with the fix" → two): the first clause
    that opens with a verb that changes something, cut where "and" starts another such ask."""
    for sentence in sentences[:6]:
        if sentence.rstrip().endswith("?") and not _INTENT.search(sentence):
            continue
        for clause in _ASK_CLAUSES.split(sentence[:300]):
            parts: list[str] = []
            for part in _ASK_AND.split(_ASK_LEAD.sub("", clause.strip()).rstrip("?")):
                verb = part.split(" ", 1)[0].lower()
                if parts and not (verb in actions.CHANGE_VERBS or verb == "fix"):
                    parts[-1] = f"{parts[-1]} and {part}"  # "add X and Y": one ask
                else:
                    parts.append(part)
            asks = []
            for part in parts:
                asked = _ASK_TAIL.sub("", part)
                verb = asked.split(" ", 1)[0].lower()
                if (verb in actions.CHANGE_VERBS or verb == "fix") and len(asked.split()) >= 3 \
                        and not _NOT_ASKED.search(asked.lower()):
                    asks.append(_done_wording(asked)[:REQUEST_LENGTH])
            if asks:
                return tuple(asks)
    return ()


_ASK_AND = re.compile(r"\s+(?:and then|and|then)\s+")
REQUEST_LENGTH = 120


def _result_text(block: ToolResultBlock) -> str:
    return "".join(part.text for part in block.content if type(part) is TextBlock)


def _intent(sentences: list[str]) -> tuple[str, bool]:
    """The goal a user message states, with the sentence that sets the scene when the
    goal comes later and the one that details it when it follows; else its first two
    sentences that are neither a greeting nor a bare "can you help?". A log or a trace pasted in the turn
    comes after the user's own words about it."""
    pasted = [s for s in sentences if _PASTED.match(s)]
    if len(pasted) >= 2:
        sentences = [s for s in sentences if not _PASTED.match(s)] + pasted
    for i, sentence in enumerate(sentences):
        match = _INTENT.search(sentence)
        what = _clean(match.group("what"), INTENT_LENGTH) if match else ""
        asked = match is not None  # the goal is what the ask asks for, after the words before it
        if not what or _VAGUE.match(what):
            what, asked = _clean(sentence, INTENT_LENGTH) if _IMPERATIVE.match(sentence) else "", False
        elif len(what.split()) <= 5 and _POINTING.search(what.lower()) and len(sentence) > len(what) + 12:
            what, asked = _clean(sentence, INTENT_LENGTH), False  # "…and the build spits out citation warnings, please make them go away"
        if what and (match is None and _HEADER.match(sentence) or sentence.rstrip().endswith(":")
                     and (" " not in what or _LEAD_IN.match(sentence))):
            break  # "plan:", "Plan: 1) check visas, 2) …", "here's what I need you to do:" heads a list and names no
            # task: the turn reads in its own order
        if what:
            # the goal first, then the rest of what the user said about it, in their words
            # what the work is before the rules it must keep to (those are the constraints too), save what a goal
            # that points back ("can you fix that too") points at: the sentence before it, whatever it says
            before = i - 1 if _POINTS_BACK.search(" ".join(what.lower().split()[:3])) else -1
            about = [(j == before or not _CONSTRAINT.search(r.translate(_MARKUP).lower()), r)
                     for j, r in ((j, _clean(_GREETING.sub("", s)).rstrip(".!")) for j, s in enumerate(sentences) if j != i)
                     if r and not _SMALL_TALK.match(_spoken(r) or r) and not _bare_request(r) and not _asks_again(r)]
            rest = [r for work, r in about if work] + [r for work, r in about if not work]
            # what the sentence says before its ask: the ticket it is for ("for REQ-3317 (senior backend eng) we need to
            # get onsites booked") or the scene ("I have a new analyst joining my team and I want to make sure …")
            lead = _LEAD_JOIN.sub("", _spoken(sentence[:match.start()])).strip(" ,;:—-") if match and asked else ""
            if _TICKET.search(lead) and not _TICKET.search(what) or len(lead.split()) >= 4 and not _SMALL_TALK.match(lead) \
                    and not _LEAD_WHEN.match(lead):
                rest.insert(0, _clean(lead))
            return shown(_compact(" — ".join([what.rstrip(".!"), *rest])), STATED_LENGTH), True
    told = [rest for rest in (_GREETING.sub("", s) for s in sentences)
            if rest and not (_SMALL_TALK.match(rest) and len(rest.split()) < 8) and not _bare_request(rest)]
    if not told or (len(" ".join(told).split()) <= 12 and _CHAT.search(" ".join(told).lower())):
        return "", False  # "hey benefitsbot, how's it going": no task yet
    said = [(_compact(_clean(s)).rstrip(".!"), s.rstrip().endswith("?")) for s in told]
    return shown(" ".join(f"{s}{'' if asked else '.'}" for s, asked in said if s), STATED_LENGTH).rstrip("."), False


_LEAD_WHEN = re.compile(r"(?:while|if|when|whenever|until|once|before|after|as soon as|in the meantime|meanwhile|"
                        r"yes|yeah|ok|okay|sure|no|nope|also)\b", re.IGNORECASE)  # a condition or an answer, not a scene
_LEAD_JOIN = re.compile(r"[\s,;:—-]*\b(?:and|so|but|which is why|because of that)\s*$", re.IGNORECASE)
# What a user's turn states of the task, before the line is fitted to INTENT_LENGTH by what each part says.
STATED_LENGTH = 4 * INTENT_LENGTH
# A line of a pasted log, trace or shell session: a timestamp, a level, a stack frame, an exception, a prompt.
_PASTED = re.compile(r"^\s*(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\d\d:\d\d:\d\d|\[[\w :.-]{1,30}\]|(?:INFO|WARN|WARNING|ERROR|DEBUG|"
                     r"FATAL|CRITICAL|TRACE)\b|at [\w.$<>]+\(|File \"|Traceback|[\w.]*(?:Error|Exception)\b[:(]|[$#>] |>>> |"
                     r"[{}\[\]]\s*$|\"\w+\":|\S*[(\[]\S*$)")  # a line of code with no space in it: "main()", 'row["id"]'
ADDED_LENGTH = 160  # of a later instruction, added to the task
MAX_ADDED = 6  # later instructions kept
WAS_LENGTH = INTENT_LENGTH  # of the task a redirect replaced
_CHAT = re.compile(r"\b(?:how'?s it going|how are you|how was your|how'?s your|hope you|hope your|is this the|are you (?:a|the)|"
                   r"what'?s up|long week|mondays?|lol|haha)\b")


# How a later turn asks for more once the task is under way: someone wants a thing or the user needs one (what
# someone else needs is a requirement of the task, as "she needs the Finnish keyboard layout"), "can we …",
# or a bare action verb after a yes or an "also".
_LATER_REQUEST = re.compile(
    r"\b(?:(?:i|we)(?:'d| would)? (?:want|need|would like|'d like)|(?:she|he|they)(?:'d| would)? (?:wants|would like|'d like)) "
    r"(?=(?:a|an|the|my|her|his|their|our)\b)|"
    r"\b(?:can|could) (?:we|she|he|they)(?: please)?\s|\b(?:i|we|she|he|they)(?:'d| would) rather\s|"
    # what someone else asks for, relayed: "she says run it at 70% until saturday", "he said to hold the order"
    r"\b(?:says|said)(?: to)? (?!(?:it|its|that|this|the|a|an|she|he|they|we|i|you|there|so|no|yes|ok|not|if|hi|hello)\b)"
    r"[a-z]+ (?:it|them|this|that|these|those|the|a|an|her|his|their|our|my|all|both)\b|"
    r"^(?:(?:yes|yeah|yep|ok|okay|sure|also|and|then|so|one more(?: thing)?|pls|please)\W+)*"
    r"(?:refund|cancel|book|rebook|send|email|waive|accept|pay|return|order|remove|delete|schedule|reset|renew|extend|"
    r"transfer|submit|file|claim|escalate|restore|rotate|revert|roll back|go with|switch|swap|reissue|resend|"
    r"fix|add|move|update|create|check|draft|get|halt|pause|stop|hold(?! on\b)|approve|release|resubmit|reply|issue|grant|"
    r"revoke|assign|invite|merge|open|close|publish|ship|upload|post|apply)\b",
    re.IGNORECASE,
)


def _compact(said: str) -> str:
    """What the user said, as a line about the task keeps it: a link by the last part of its address
    (the file or page it names), without the words that carry only a mood ("lol", "ugh", "honestly")
    or only acknowledge ("yes, she says…"), and without the bare lead-ins said between the parts
    ("can you", "here's the list", "plan:")."""
    kept = []
    for part in said.split(" — "):
        if "://" in part:
            part = _LINK.sub(r"\1", part)
        part = _FILLER.sub("", _LABEL.sub("", part))
        part = _ACKNOWLEDGED.sub("", part) or part
        part = _SPACE_BEFORE_STOP.sub(r"\1", part).strip(" ,;")
        if part.strip(" .!?:") and not _LEAD_IN.match(part):
            kept.append(part)
    return " — ".join(kept)


_HEADER = re.compile(r"^\W*\w+\s*:")  # a word and a colon: what heads a list
_LINK = re.compile(r"https?://(?:[^\s/)>\]]+/)*([^\s/)>\]]+)/?")
_FILLER = re.compile(r"(?<![\w-])(?:lol|lmao|haha|ugh+|tbh|honestly)\b,?\s*", re.IGNORECASE)
_LABEL = re.compile(r"^(?:context|background|fyi|some context|for context)\s*:\s*", re.IGNORECASE)  # what heads the scene
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
# An answer's opening that only acknowledges ("yes, she says…", "ok so pick up a day later", "perfect thanks. now…").
_ACKNOWLEDGED = re.compile(r"^(?:(?:yes|yeah|yep|yup|ok|okay|oh|ah|hmm+|perfect|great|cool|nice|alright|sure|thanks|"
                           r"thank you|ty|thx|pls|please)\b[\s,.!:]*)+(?=\w+ \w)", re.IGNORECASE)
_LEAD_IN = re.compile(r"^\W*(?:(?:can|could|would|will) (?:you|we)|(?:i|we) (?:need|want)|here'?s (?:the|my) \w+|"
                      r"(?:here'?s |here is |this is )?what (?:i|we) (?:need|want)(?: you)?(?: to do)?(?: from you)?|"
                      r"here'?s how (?:i|we)(?:'d| would) like to (?:go about|do|approach|tackle) (?:it|this)|roughly|"
                      r"let'?s go|(?:the |my |our |new )?(?:rules|steps|plan)|do this in order|(?:a )?(?:few|couple of) things"
                      r"(?: today)?|wait|perfect|oh (?:no|ok)|ugh wait)\W*$", re.IGNORECASE)


# Where a line about the task parts: between the goal and what was said about it, and between sentences.
_PART_BREAK = re.compile(r" — |(?<=[.!?]) ++(?=\S)")
# A part that asks for the work: someone wants or needs it, an ask to the agent, a bare order, or a question.
_ASKING = re.compile(r"\b(?:(?:i|we)(?:'d| would|'m| am|'re| are)? (?:want|need|like|have to|must|trying to|looking to)|please|pls|"
                     r"let'?s|(?:can|could|would|will) (?:you|we)|help (?:me|us)|make sure|(?:goal|task|aim|job) is)\b")
# Courtesy said anywhere in a part (lower-cased): thanks, an apology, a wish.
_COURTESY = re.compile(r"\b(?:thanks|thank you|appreciated?|grateful|sorry (?:for|to|about|if)|no rush|hope (?:you|your|this|that|"
                       r"all|everything)|have a (?:good|great|nice|lovely)|you'?(?:re| are| have been) (?:a star|the best|amazing))\b")
# A name a part is about: a word with a digit, an underscore, a dot or capitals inside it.
_NAMED = re.compile(r"\d|_|\w\.\w|[a-z][A-Z]|[A-Z]{2}")


def _parts(line: str) -> list[tuple[str, str]]:
    """A line about the task as its parts, each with the break that came before it."""
    parts: list[tuple[str, str]] = []
    start, before = 0, ""
    for brk in _PART_BREAK.finditer(line):
        parts.append((before, line[start:brk.start()]))
        start, before = brk.end(), brk.group()
    parts.append((before, line[start:]))
    return parts


def _spoken(part: str) -> str:
    """A part of the task's line without the greeting or acknowledgement it opens with."""
    return _ACKNOWLEDGED.sub("", _GREETING.sub("", part)).strip()


def _courtesy(part: str) -> bool:
    """Thanks, a wish, a greeting or chat: what a line about the task does without first."""
    said = _spoken(part)
    low = said.lower()
    return not said or (_SMALL_TALK.match(said) is not None or _CHAT.search(low) is not None and len(said.split()) <= 12
                        or _COURTESY.search(low) is not None and not _NAMED.search(said)) and not _ASKING.search(low)


def _scene(part: str) -> int:
    """A part of the task's line by its mood: 0 when it asks, orders, sets a rule or asks a question (what the user
    wants done), else a scene told: 2 when it names a thing or an id, 1 when it names nothing ("we had an outage
    last night")."""
    said = _spoken(part)
    low = said.lower()
    first = _ASK_LEAD.sub("", said).split(" ", 1)[0].lower()
    if _ASKING.search(low) or _IMPERATIVE.match(said) or first in actions.CHANGE_VERBS or said.endswith("?") \
            or _USER_QUESTION.match(said) or _CONSTRAINT.search(low):
        return 0
    return 2 if _NAMED.search(said) else 1


# What a scene told can do without when the line is long: an aside that names nothing, and a clause of why
# or of what followed ("…, so the box is stuck", "…, which means…") that names nothing either.
_BRACKETED_ASIDE = re.compile(r"\s*\([^()]{0,120}\)")
_AFTERTHOUGHT = re.compile(r",\s+(?:so|but|which|because|since|though|although|while)\b|\s+(?:because|since|although|though)\s")


def _fitted(units: list[tuple[str, list[tuple[str, str]], str]], limit: int) -> str:
    """The task's line within `limit`, kept by what each part says rather than where it stands: each unit
    (the first turn's task, what a redirect replaced, each later ask) keeps its first part, the goal or the
    ask. Courtesy and chat give way first, then a later turn's scene that names nothing, then the scenes are
    said shorter (without an aside or a clause of why that names nothing); what still does not fit is cut at
    a word. The parts that ask, order, rule or question stay, and everything stays in its order."""
    parts = [list(unit[1]) for unit in units]
    length = sum(len(lead) + len(tail) + sum(len(brk) + len(part) for brk, part in said)
                 for (lead, _, tail), said in zip(units, parts))
    # the latest first: a unit's scene comes after its ask
    order = [(u, p) for u in range(len(units) - 1, -1, -1) for p in range(len(parts[u]) - 1, 0, -1) if parts[u][p][1]]
    for u, p in order:
        if length <= limit:
            break
        if _courtesy(parts[u][p][1]):
            length -= sum(map(len, parts[u][p]))
            parts[u][p] = (parts[u][p][0], "")
    scenes: dict[tuple[int, int], int] = {}
    for u, p in order:
        if length <= limit:
            break
        if u > 0 and parts[u][p][1] and scenes.setdefault((u, p), _scene(parts[u][p][1])) == 1:
            length -= sum(map(len, parts[u][p]))
            parts[u][p] = (parts[u][p][0], "")
    for u, p in order:
        if length <= limit:
            break
        said = parts[u][p][1]
        told = _BRACKETED_ASIDE.sub(lambda aside: aside.group() if _NAMED.search(aside.group()) else "", said)
        head = _AFTERTHOUGHT.split(told, 1)[0]
        told = head if not _NAMED.search(told[len(head):]) else told
        if told != said and scenes.setdefault((u, p), _scene(said)):
            parts[u][p] = (parts[u][p][0], told)
            length -= len(said) - len(told)
    line = []
    for (lead, _, tail), unit in zip(units, parts):
        kept = [(brk, part) for brk, part in unit if part]
        if kept:
            line.append(lead + kept[0][1] + "".join(brk + part for brk, part in kept[1:]) + tail)
    return shown("".join(line), limit)


def _request(sentences: list[str]) -> str:
    """A later turn's request and what it says around it ("yes refund both — that's ridiculous
    about the fees"), or "" when it asks for nothing. A question ("can she pay in two parts?")
    is the agent's to answer, not more work."""
    for i, sentence in enumerate(sentences):
        asked = _LATER_REQUEST.search(sentence.strip())
        if asked and not sentence.rstrip().endswith("?"):
            # the ask first, then what the sentence told before it ("honestly the client just told me they
            # don't want to fight it, they'd rather accept the code" → "they'd rather accept the code — …")
            said = sentence.strip()
            cut = max(said.rfind(", ", 0, asked.start()), said.rfind(" — ", 0, asked.start()))
            lead = _clean(said[:cut]) if cut > 0 else ""
            rest = [lead, *(_clean(s).rstrip(".!") for j, s in enumerate(sentences) if j != i)]
            rest = [r for r in rest if r and not _SMALL_TALK.match(r) and not _bare_request(r)]
            return _compact(" — ".join([_clean(said[cut:].lstrip(" ,—") if cut > 0 else said).rstrip(".!"), *rest]))
    return ""


def _asks_again(sentence: str) -> bool:
    """"Can you set that up?", "could you sort it out": an ask that only points back at the goal said beside it."""
    match = _INTENT.search(sentence)
    return match is not None and _DO_AGAIN.match(match.group("what").strip(" .!?")) is not None


_DO_AGAIN = re.compile(r"(?:set|sort|sort out|do|handle|take care of|deal with|make|get) (?:it|this|that|them|these|those|all "
                       r"(?:of )?(?:it|this|that))(?: up| out| happen| done| sorted| going)?(?: for (?:me|us))?$", re.IGNORECASE)


def _bare_request(sentence: str) -> bool:
    """"Can you dig in?", "Could you help?": a request that names no task."""
    match = _INTENT.search(sentence)
    return match is not None and _VAGUE.match(_clean(match.group("what"))) is not None


MAX_WORK_NAMES = 32
# Tools whose name says how the agent works or talks, not what the work is: an editor, a shell, a message.
_TOOLING = frozenset("edit multiedit write file patch str replace notebook bash shell sh run exec execute python terminal "
                     "computer command script reply respond message messages email mail sms text notify notification "
                     "note notes comment chat call ask approval todo todos task tasks draft".split())


def _work_named(work: dict[str, int], task: str) -> str:
    """The change the agent made most (the first of those made as often), in its tool's words
    ("rebook_segment" → "rebook segment"), among tools whose name opens with a verb that changes
    something; "" when the task already names what it does (create_refund for "refund the order")."""
    named = {tool: words for tool in work
             if (words := actions.name_words(tool)) and words[0] in actions.CHANGE_VERBS and len(words) <= 3
             and not _TOOLING.intersection(words)}
    if not named:
        return ""
    tool = max(named, key=work.__getitem__)  # the first of the most made: dicts keep their order
    said = [word for word in named[tool] if word not in _BARE_VERBS]
    return "" if _stems(" ".join(said)) <= _stems(task.lower()) else " ".join(named[tool])


# Verbs that say only that something changed: what changed names the work.
_BARE_VERBS = frozenset("create add update set make do put start new".split())


def _redirected(sentences: list[str]) -> str:
    """The new task in a redirecting turn, without what it cancels, the reasons told before it or
    a question: "QA just told me they're done. Actually, forget the refund, just cancel the order"
    → "just cancel the order"."""
    told: list[list[str]] = []
    for sentence in sentences:
        if sentence.rstrip().endswith("?") and not _INTENT.search(sentence):
            continue  # "if we return it in Lisbon instead, does that drop the fee?": the agent's to answer
        kept = []
        for clause in re.split(r"[,;]\s++|(?<!\s)\s++[—–-]\s++", _REDIRECT_DROP.sub("", sentence)):  # as _CLAUSE_BREAK
            clause = _REDIRECT_DROP.sub("", clause.strip())
            if clause and not _CANCELLED_CLAUSE.match(_ASK_LEAD.sub("", clause)):
                kept.append(clause)
        if kept:
            told.append(kept)
    first = 0
    while first < len(told) - 1 and _news(told[first][0]):
        first += 1  # "good timing, Oskar just came over. he's seen fp_9ab3e before": why, not what
    if first and _POINTS_BACK.search(" ".join(told[first][0].lower().split()[:5])):
        first -= 1  # "the Brightwater renewal is more urgent. pull up where that stands": what it points at
    said = ", ".join(clause.rstrip(".!") for clauses in told[first:] for clause in clauses).replace(":, ", ": ")
    return shown(_compact(" ".join(said.split())), REDIRECT_LENGTH).strip(" -*•:,;")


REDIRECT_LENGTH = 240
_POINTS_BACK = re.compile(r"\b(?:it|them|this|that|these|those)\b(?!')")


def _news(clause: str) -> bool:
    return (_TOLD_NEWS.match(clause) is not None or _TOLD_NEWS.match(_ASK_LEAD.sub("", clause)) is not None) \
        and _WANTS.search(clause) is None  # "they want 3 bed townhouses now" is the task


_WANTS = re.compile(r"\b(?:wants?|needs?|would like|'d like|asks? for|asked for)\b", re.IGNORECASE)
# A clause that tells news or a reason, before the new task: it opens with a person or a pronoun as
# its subject ("QA just told me…", "that's a whole project", "I just realised…") or with the news
# itself ("just got a call", "good timing", "hold on"). ("my section is only about PBAs" is the task's scope.)
_TOLD_NEWS = re.compile(
    r"^(?:(?:i|we|he|she|they|it|that|this|there|you)(?:'\w+)?|good (?:timing|question|news|catch)|"
    r"hold on|yeah no|just (?:got|heard|talked|spoke|came|found|realised|realized|saw|learned)|"
    r"[A-Z][\w-]*(?: \([^)]{1,40}\))? (?:just|already|is|was|has|had|says|said|told|wants|thinks))\b",
    re.IGNORECASE,
)


# A user's question, typed as people type it: often without a question mark ("will the tech team call
# me or text", "she's asking can biscuit still have his carprofen").
_USER_QUESTION = re.compile(
    r"^(?:(?:ok(?:ay)?|thanks|thank you|perfect|great|cool|also|and|so|oh|hm+|wait|but|last thing|one more thing)\W+)*"
    r"(?:(?:can|could|will|would|should|shall|do|does|did|is|are|was|were|has|have)\s+(?:i|we|you|he|she|they|it|there)\b|"
    r"(?:can|could|will|would|should|does|did|is|are|was|were|has|have)\s+(?:that|this|these|those|my|our|your|the|a|an|"
    r"his|her|their|\w+'s)\b|(?:what|what's|whats|which|who|when|where|why|how)\b)|"
    r"\b(?:(?:she|he|they)(?:'s|'re| is| are) asking|(?:wants|want) to know|(?:i'm|i am|we're) wondering)\b",
    re.IGNORECASE,
)


def _asks(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or _USER_QUESTION.search(sentence) is not None


def _facts(text: str) -> list[str]:
    """The sentences that hold an identifier worth keeping verbatim."""
    return [_clean(_sentence_around(text, m.start(), m.end())) for m in _IDENTIFIER.finditer(text)]


# --- the conversation, message by message ---


class _Loop:
    __slots__ = ("text", "words", "key", "ids", "asked", "step", "command", "turn", "checked")

    def __init__(self, text: str, words: frozenset[str], key: str = "", ids: tuple[str, ...] = (),
                 asked: str = "") -> None:
        self.text = text
        self.words = words
        self.key = key  # a failed call's tool: closes when that tool succeeds
        self.ids = ids  # a waiting call's identifiers: closes when a later result about them is not waiting
        self.asked = asked  # "question" / "approval": the assistant asked the user; closes on their reply
        self.step = 0  # the plan step the work was at when it opened (0: no plan)
        self.command = ""  # a failed shell command, as run: the same command passing in a later chain closes it
        self.turn = 0  # a failed call's: the assistant turn that made it (calls made together are not retries)
        self.checked = False  # a failed call's: it was a check (a test run), not the work itself


class _Step:
    __slots__ = ("number", "text", "done", "touched", "words", "looks", "verb", "looked", "said", "tools")

    def __init__(self, number: int, text: str, done: bool) -> None:
        self.number = number
        self.text = text
        self.looked: list[str] = []  # the lookups that did it, with what they named ("got award KAF-2025-117")
        self.said: list[str] = []  # what the agent said of its results ("sbc-02 pins the old CA bundle")
        self.done = done
        self.touched = done  # some of its work is done
        self.tools: set[str] = set()  # the tools whose calls did its work (their keys)
        self.words = _stems(text)
        self.looks = _LOOKING.match(text.lower().lstrip("*`_ ")) is not None  # a lookup or a check finishes it
        head = _stems(text.split(" ", 1)[0]) if text else frozenset()
        self.verb = next(iter(head)) if len(head) == 1 else ""


class SignalReader:
    """`extract`, one message at a time: a long session's signals are kept up to date by
    reading only what each turn adds. What it holds is bounded, however long the
    session."""

    def __init__(self) -> None:
        self.intent = ""  # the task as the user stated it (or as a redirect replaced it)
        self.added: list[str] = []  # what later turns added to it, in order
        self.chatting = False  # the intent so far is the user's chat, not yet a task
        self.was = ""  # the task a redirect replaced
        self.work: dict[str, int] = {}  # the calls that change something, by what their tool's name says they do
        self.constraints: list[str] = []
        self.loops: list[_Loop] = []
        self.resolved: list[str] = []
        self.steps: list[str] = []
        self.step_words: list[frozenset[str]] = []
        self.step_items: list[int] = []  # the plan step each piece of work belongs to, 0 for none
        self.step_asks: list[str] = []  # what the user had asked for that the work did ("" for none)
        self.numbers: dict[str, set[int]] = {}
        self.totals: list[int] = []
        self.plan: list[_Step] = []
        self.plan_unit = "step"
        self.plan_reads = True  # the plan reads as steps, not only as a list in the user's words
        self.working_on = 0  # a todo list's item in progress: the work done now is that step
        self.ticked = False  # the plan is a todo list the agent ticks: its own record of what is done
        self.actions: list[str] = []
        self.entities: dict[str, None] = {}
        self.facts: dict[str, None] = {}
        # call id -> the call, what the assistant said of it, and the assistant turn that made it (calls made
        # together are siblings, not retries)
        self.calls: dict[str, tuple[Call, str, int]] = {}
        self.text_calls: list[tuple[Call, str, int]] = []  # a text agent's calls, answered in order (turn 0)
        self.turns = 0  # assistant turns read
        self.edited: set[str] = set()  # files changed since the user last spoke
        self.file_steps: dict[str, int] = {}  # a changed file -> the step that first changed it
        # the edits made since then that serve one purpose, as one step: its index, its name, its files
        self.edit_run: tuple[int, str, tuple[str, ...], str] = (-1, "", (), "")
        self.asking = ""  # the user's question that no answer has followed yet
        self.raised: list[_Loop] = []  # the loops opened since the user last spoke
        self.awaiting: dict[str, Event] = {}  # call id -> the reply a message asks for, opened once it is sent
        self.names: dict[str, str] = {}  # "pr" -> "PR #318": the identifier the agent last gave a thing
        self.called = False  # a tool call has done some of the work
        self.last_said = ""  # the assistant's last sentence so far: what the user answers
        self.reported = 0  # the plan step the latest results were work on: the agent's next words report it
        self.unreported: list[int] = []  # steps recorded since the assistant last spoke
        self.answered = False  # a call was answered since the assistant last spoke
        self.fresh = -1  # the last step a tool call recorded since the assistant last spoke, numbered or not
        self.last_work = -1  # the last step a tool call recorded since the user last spoke: what a passing check verifies
        self.last_edited = False  # that step changed files
        self.batch: tuple[str, int] = ("", -1)  # the tool and the step of the calls answered since it last spoke
        self.failed: list[_Loop] = []  # failures since the assistant last spoke
        # what a change left short of done ({"status": "draft"}), by identifier: its state and the call's label
        self.unfinished: dict[str, tuple[str, str]] = {}
        self.asks: list[str] = []  # what the user last asked to have changed, in order, until changes do it

    def read(self, message: Message) -> None:
        seen = observe(message)
        if message.role == "assistant":
            self.turns += 1
        tasking = message.role == "user" and not self.intent  # "I need to file my expenses" here is the task itself
        spoke = message.role == "user" and any(event.kind == "reply" for event in seen.events)  # the user's own words
        if spoke:
            self.asks = list(seen.asks)  # the user spoke: what they ask now, or nothing to name work by
        at_work = 0  # the plan step the results the agent now speaks of were work on, before its words tick the list
        if message.role == "assistant":
            # its words answer the user's question, or a change does what it asked ("could you also add a gift
            # message?"); a call that only looks the answer up has not answered it yet
            if seen.last or any(event.kind == "call" and event.call is not None and event.call.kind != "read"
                                for event in seen.events):
                self.asking = ""
            if seen.first and self.plan and (self.reported or self.answered):
                at_work = self.reported or self._current_step()
        if seen.intent or seen.redirect:  # "ugh. ok just refund it then" is all acknowledgement but its redirect
            if not self.intent or (self.chatting and (seen.goal or seen.request)):
                # the first words that ask for something are the task; chat before them ("hope you had a great
                # weekend, mine was busy…") is not
                self.intent, self.added = seen.request if self.intent and not seen.goal else seen.intent, []
                self.chatting = not seen.goal and _SMALL_TALK.match(seen.intent) is not None and \
                    _CHAT.search(seen.intent.lower()) is not None
            elif seen.redirect:
                self._redirect(message)
            elif seen.goal:
                self._add_to_task(seen.intent)  # a later instruction adds to the task ("also open a PR")
            elif seen.request:
                self._add_to_task(seen.request)
            elif seen.correction:
                # a detail of the task changed: "its 55 people now not 40", "they should be in section B"
                self._add_to_task(seen.correction)
        for constraint in seen.constraints:
            _add_unique(self.constraints, constraint)
        away: list[Event] = []
        for event in seen.events:
            kind = event.kind
            if kind == "result":  # the most frequent two first
                self._result(event)
            elif kind == "call":
                self._call(event)
            elif kind == "step":
                self._prose_step(event)
            elif kind == "resolved":
                self._close(event.words, share=0.34, evidence=True, answered=_ANSWERED.search(event.text.lower()) is not None)
            elif kind == "open":
                if event.unit == "handoff" and event.tool in ("needs", "deferred") and tasking:
                    # the task's own terms ("NEVER run terraform apply, I'll do that myself"), not work put off
                    pass
                elif event.unit == "handoff" and self._taken_on(event):
                    pass
                elif event.unit == "handoff" and (raised := [loop for loop in self.raised if loop in self.loops]):
                    # "ugh, my token again, I'll sort it after lunch": what the user takes on is what
                    # the agent had just left open (its newest loop since the user last spoke)
                    raised[-1].text = _glossed(raised[-1].text, event.text)
                    raised[-1].words = raised[-1].words | event.words
                elif event.unit == "handoff" and self.last_said and not _SMALL_QUESTION.match(self.last_said):
                    # "I'll ping them": what the user takes on is what the agent had just raised
                    text = f"{event.text} — re: {self.last_said}"[:GLOSSED_LENGTH]
                    self._open(_Loop(text, event.words | _stems(self.last_said)))
                elif event.unit != "others" or not self._held_by(event.text, event.words):
                    self._open(_Loop(event.text, event.words))
            elif kind == "question":
                self._ask(event)
            elif kind == "reply":
                self._reply(event.text)
            elif kind == "asks":
                self.asking = self._identified(event.text)
            elif kind == "away":
                away.append(event)  # once the message's own loops are open: "Grete's out till Monday. hold off on partman"
            elif kind == "hold":
                if not tasking:  # the first message's "don't deploy until QA signs off" is the task's terms
                    self._hold(event)
            elif kind == "names":
                self.names.update(event.named)
            elif kind == "checks_pass":
                self._checks_passed(event.text, ran=event.unit == "run")
            elif kind == "said":
                self._said(event)
            elif kind == "report":
                self._step_report(event)
            elif kind == "all_done":
                for step in self.plan:
                    step.done = True
            elif kind == "moving":
                self._moving_on(event.numbers[0])
            elif kind == "plan":
                self._plan(event.plan, message.role == "user")  # type: ignore[arg-type]  # a plan event carries one
            elif kind == "todo":
                self._todo(event.todo)
            elif kind == "awaits":
                self.awaiting[event.tool_id] = event
        for event in away:
            self._away(event)
        if message.role == "assistant" and seen.last:
            self.last_said = seen.last
        elif spoke:
            self.raised = []
        if 0 < at_work <= len(self.plan) and not (seen.numbered and (_STEP_REPORT.match(seen.first.lower()) or any(
                event.kind == "report" and event.numbers[0] == at_work for event in seen.events))):
            # what the agent makes of a plan step's results names that step (the one at work, unless a call named
            # it); "Step 2: …" says which step itself, and heading the next step ("Booking matches. Step 2: trace
            # it.") leaves the words before it to the step at work
            step = self.plan[at_work - 1]
            if len(step.said) < 2 and seen.first not in step.said:
                step.said.append(seen.first)
        if message.role == "assistant" and seen.first and self.unreported:
            report = _stems(seen.first) - _GENERIC
            for index in self.unreported:  # a piece of work, then what the agent says of it
                if index >= len(self.steps) or seen.first.lower() in self.steps[index].lower() \
                        or len(self.steps[index]) >= GLOSSED_LENGTH:
                    continue
                if len(self.unreported) > 1 and len(report & self.step_words[index]) < 2:
                    continue  # of several, only those the report is about
                self._gloss_step(index, seen.first, _stems(seen.first))
        if message.role == "assistant" and seen.first and len(self.failed) == 1 and self.failed[0] in self.loops:
            failure = self.failed[0]  # "NL-40222 was refused: the carrier wants the pre-notification first"
            whole = failure.key.startswith(_PART) and _PART_OF in failure.text and _WHOLE.search(seen.first.lower()) \
                and not _NEGATED.search(seen.first.lower())  # "All 47 messages are quarantined" after 44 of 47 were
            if _CLAIMED not in failure.text:
                failure.text = _claimed(failure.text, _first_clause(seen.first)) if whole else _glossed(failure.text, seen.first)
                failure.words = failure.words | _stems(seen.first)
        if message.role == "assistant":
            self.reported = 0
            self.unreported = []
            self.fresh = -1
            self.answered = False
            self.batch = ("", -1)
            self.failed = []
        self.facts.update(dict.fromkeys(seen.facts))
        self.actions.extend(seen.actions)
        self.entities.update(dict.fromkeys(seen.entities))
        self._trim()

    def signals(self) -> Signals:
        resume_from = self._resume_from()
        open_loops = self._open_loops(resume_from) + ([_unanswered(self.asking)] if self.asking else [])
        signals = Signals(
            intent=shown(self._task(), INTENT_LENGTH),
            constraints=self.constraints[:MAX_ITEMS],
            active_entities=list(self.entities)[-12:],
            facts=list(self.facts)[-MAX_ITEMS * 2 :],
            open_loops=[shown(loop, ITEM_LENGTH) for loop in open_loops[-MAX_ITEMS:]],
            resolved_loops=self.resolved[-MAX_ITEMS:],
            completed_steps=[shown(step, ITEM_LENGTH) for step in self._completed()],
            recent_actions=self.actions[-5:],
            resume_from=resume_from,
            plan=[step.text for step in self.plan],
        )
        signals.stage = _stage(signals, self.totals + ([len(self.plan)] if self.plan else []))
        signals.confidence = _confidence(signals)
        return signals

    def _current_step(self) -> int:
        """The plan step the work is at: the last one begun, or the one after it once it is done."""
        begun = max((step.number for step in self.plan if step.touched or step.done), default=0)
        if begun and self.plan[begun - 1].done:
            begun += 1
        return min(max(begun, 1), len(self.plan)) if self.plan else 0

    def _open_loops(self, resume_from: int | None) -> list[str]:
        """The open loops, and the plan step the work stopped at: the first one not done, once
        begun, is unfinished business, named by its number and joined by the loop that holds it
        up (a failure or a wait met while at that step, else one about the same things); a step
        never begun is only the rest of the plan. A loop about a later step not done is named
        by that step's number ("step 5: the letter is on hold until the teardown")."""
        if not self.plan or resume_from is None or not 0 < resume_from <= len(self.plan):
            return [loop.text for loop in self.loops]
        done = self._plan_done()
        # a step the user held back and since done is over
        loops = [loop for loop in self.loops if not (loop.key.startswith(_HELD) and loop.step in done)]
        texts = [loop.text for loop in loops]
        step = self.plan[resume_from - 1]
        head = f"step {resume_from}: {step.text.rstrip('.')}"
        best, most = -1, 0
        for index, loop in enumerate(loops):
            if loop.step == resume_from and not loop.asked and (loop.key or loop.ids):
                best, most = index, 99
                break
        for index, loop in enumerate(loops):
            shared = len((loop.words & step.words) - _GENERIC)
            if shared > most and not loop.text.startswith("still to do") and not loop.key.startswith(_HELD):
                best, most = index, shared
        if best >= 0:
            if texts[best].lower().startswith(step.text.rstrip(".").lower()):  # the loop is the step's own words
                texts[best] = _headed(f"step {resume_from}: ", texts[best])
            else:
                texts[best] = _headed(f"{head}{_GLOSS}", texts[best])
        elif step.touched:
            texts.append(head)
        for index, loop in enumerate(loops):  # a loop that holds up a later step is named by that step
            if index == best or loop.asked or loop.text.startswith(("still to do", "step ")):
                continue
            number = loop.step if loop.key.startswith(_HELD) else self._step_about(loop.words, done)
            if number:
                texts[index] = _headed(f"step {number}: ", texts[index])
        return texts

    def _completed(self) -> list[str]:
        """Finished work as people list it: with a plan, one entry per finished plan step
        (its words, then the work that did it: `step 2: Create the RMA — created RMA-55120`);
        work outside the plan, or toward a step not yet finished, on its own."""
        finished = self._plan_done()
        done = {step.number: step for step in self.plan if step.number in finished}
        grouped: dict[int, list[str]] = {}
        order: list[tuple[int, str]] = []
        for text, item, asked in zip(self.steps, self.step_items, self.step_asks):
            if asked and not item:
                text = f"{asked}{_GLOSS}{text}"
            if item in done:
                if item not in grouped:
                    grouped[item] = []
                    order.append((item, ""))
                grouped[item].append(text)
            elif 0 < item <= len(self.plan) and not text.startswith("step "):
                order.append((0, f"step {item}: {text}"))  # work toward a plan step not finished: still that step's
            else:
                order.append((0, text))
        for number in sorted(set(done) - set(grouped)):
            order.append((number, ""))
            grouped[number] = []
        entries = []
        for item in sorted(grouped):  # the plan's finished steps in its order, then the other work
            head = f"step {item}: {_done_wording(done[item].text.rstrip('.'))}"
            work = ""
            for part in [*grouped[item], *done[item].looked, *done[item].said]:  # each thing said once
                told = _untold(f"{head} {work}", part)
                work = f"{work}; {told}" if work and told else work or told
            entries.append(f"{head} — {work}"[:STEP_ENTRY_LENGTH] if work else head)
        return entries + [text for item, text in order if not item]

    # --- intent ---

    def _add_to_task(self, added: str) -> None:
        if added.lower() not in self._task(whole=True).lower():
            self.added = [*self.added, added[:ADDED_LENGTH]][-MAX_ADDED:]

    def _task(self, whole: bool = False) -> str:
        """The task as one line: what the user asked, what the redirect replaced, what later turns
        added; headed by the work the agent does most for it when the user's words never name it
        ("open dispute: there are payments on my card I didn't make…")."""
        was = f" (was: {shown(self.was, WAS_LENGTH)})" if self.was else ""
        task = "".join([self.intent, was, *(f"; then: {added}" for added in self.added)])
        if whole:
            return task
        work = _work_named(self.work, task[:INTENT_LENGTH]) if self.intent else ""
        if len(task) > INTENT_LENGTH - (len(work) + 2 if work else 0):
            parts = [("", _parts(self.intent), "")] + ([(" (was: ", [("", shown(self.was, WAS_LENGTH))], ")")] if self.was else [])
            task = _fitted([*parts, *(("; then: ", _parts(added), "") for added in self.added)],
                           INTENT_LENGTH - (len(work) + 2 if work else 0))
        return f"{work}: {task}" if work else task

    def _redirect(self, message: Message) -> None:
        # Through the window as every text is: unbounded, a hostile turn ("actually, " and 100,000
        # spaces) held the interpreter for 54 s in the clause split's backtracking.
        # (blocks on lines of their own: an observation's block and the user's words after it stay apart)
        text = bounded("\n\n".join(without_harness(b.text) for b in message.content if type(b) is TextBlock), USER_WINDOW)
        if react.is_trace(text):  # the user's words beside a text agent's observation
            text = " ".join(part.text for part in react.parse(text) if part.kind == "prose")
        new = _redirected(list(_sentences(_task_text(text))))
        if len(new.split()) < 2:
            return
        if _REPLACES.search(text):
            self.was = self._task(whole=True).split(" (was: ", 1)[0]
            self.intent, self.added = new, []
            # a failure of the work the user just called off is moot: neither open nor resolved
            self.loops = [loop for loop in self.loops if not loop.key or loop.ids or loop.key.startswith("pending:")]
        else:
            # "hold off on the backfill", "actually don't delete them, rename them": the task stands, amended
            self._add_to_task(new)

    # --- steps ---

    def _add_step(self, text: str, words: frozenset[str] | None = None, item: int = 0, asked: str = "") -> None:
        """Record a piece of finished work; `item` is the plan step it belongs to (0: none),
        `asked` what the user asked for that it did."""
        words = _stems(text) if words is None else words
        if not text or text in self.steps:
            return
        self.steps.append(text)
        self.step_words.append(words)
        self.step_items.append(item)
        self.step_asks.append(asked)
        self._close(words, share=0.5)

    def _prose_step(self, event: Event) -> None:
        if event.unit:
            known = self.numbers.setdefault(event.unit, set())
            if known.issuperset(event.numbers):
                return  # "Steps 1–3 complete" after each was reported
            known.update(event.numbers)
            if event.total:
                self.totals.append(event.total)
            if event.unit in ("step", self.plan_unit) and self.plan:
                for number in event.numbers:
                    if 0 < number <= len(self.plan):
                        self.plan[number - 1].done = True
                first = event.numbers[0]
                if 0 < first <= len(self.plan):
                    if _TOLD.search(event.text.lower()):  # "✅ Step 2 done: the schema is migrated"
                        self._add_step(event.text, event.words, first)
                    return  # a bare "Step 2 done." adds nothing to step 2's own entry
        elif self._contradicted(event):
            return
        elif self._restated(event.words):
            self._gloss(event)
            return
        elif self.called and self._joined(event):
            return
        elif self.plan and not self.working_on and self.plan_unit == "step":
            item = self._plan_item(event.words, strong=False)
            if item is not None:
                item.done = True  # the assistant says it is finished
                if self._reported_fresh(event, item.number):
                    return
                self._add_step(event.text, event.words, item.number)
                return
        if not self._reported_fresh(event, 0) and len(event.text.split()) > _BARE_CLAIM:
            self._add_step(event.text, event.words)  # "Fixed.", "Draft saved.": a claim that names nothing is no step

    def _reported_fresh(self, event: Event, item: int) -> bool:
        """A claim in the agent's first words after a call recorded a step ("Added to the
        README's Scripts section") reports that step: it glosses it instead of adding one."""
        index = self.fresh
        if not 0 <= index < len(self.steps) or (item and self.step_items[index] not in (0, item)):
            return False
        self._gloss_step(index, event.text, event.words)
        if item:
            self.step_items[index] = item
        return True

    def _gloss_step(self, index: int, said: str, words: frozenset[str], limit: int = GLOSSED_LENGTH) -> None:
        """What the agent said of a recorded step, added to it once."""
        told = _untold(self.steps[index], said)
        if told:
            self.steps[index] = f"{self.steps[index]} — {told}"[:limit]
            self.step_words[index] = self.step_words[index] | words

    def _joined(self, event: Event) -> bool:
        """An agent that works through tools reports its work in prose too ("Both moved:
        8R Science is now in Lab 3"): a claim about the same things as a recorded step (two
        words in common) joins that step, the newest such, instead of becoming one more."""
        words = event.words - _GENERIC
        for index in range(len(self.steps) - 1, -1, -1):
            if len(words & self.step_words[index]) >= 2:
                self._gloss_step(index, event.text, event.words)
                return True
        return False

    def _gloss(self, event: Event) -> None:
        """A claim that repeats a recorded step's id ("Flight booked: TAP, ref TP8QZ2")
        adds its words to that step instead of becoming a second one."""
        named = _named(event.words)
        for index in range(len(self.steps) - 1, -1, -1):
            if named & self.step_words[index]:
                self._gloss_step(index, event.text, event.words, 240)
                return

    def _said(self, event: Event) -> None:
        """The agent's own sentence about an identifier a step or an open loop carries (a
        summary line, a confirmation, why it is stuck) joins that item: people name a piece of
        work by what it did to what, and the call alone rarely says both."""
        about = _STEP_NAMED.match(event.text.lower())
        for index, words in enumerate(self.step_words):
            if event.words & words and len(self.steps[index]) < GLOSSED_LENGTH \
                    and (about is None or int(about.group(1)) == self.step_items[index]):  # "Step 3: …" is step 3's
                told = _untold(self.steps[index], event.text)  # each thing said once
                if told:
                    self.steps[index] = f"{self.steps[index]} — {told}"[:GLOSSED_LENGTH]
        if self.unfinished and event.unit != "file":
            self._overclaimed(event)
        if event.unit in ("claim", "file"):
            return  # a claim of success says nothing of what is still open about the item
        for loop in self.loops:
            if not loop.asked and event.words & loop.words:
                loop.text = _glossed(loop.text, event.text)

    def _step_report(self, event: Event) -> None:
        """What the agent says of a plan step it names by number ("Step 3: fees total
        $1,846.20") is how that step's entry says what it found or did."""
        number = event.numbers[0]
        if 0 < number <= len(self.plan):
            step = self.plan[number - 1]
            if len(step.said) < 2 and event.text not in step.said:
                step.said.append(event.text)

    def _contradicted(self, event: Event) -> bool:
        """Does a failed call, not since retried successfully, share what the claim is
        about? ("Refund issued!" after create_refund failed.) Its loop then says so: the
        claim is what a reader of the agent's summary would otherwise believe. A claim that
        names another of the failure's kind is about that one ("JE-2317 posted" beside
        JE-2318's failure), and one that shares more with finished work than with the
        failure ("your address is updated" after the address update, beside a failed
        dispute) is that work's: neither is contradicted, so either can be a step."""
        words = event.words - _GENERIC
        failures = [loop for loop in self.loops if loop.key and not loop.key.startswith(_HELD) and words & loop.words]
        if not failures:
            return False
        named = _named(event.words)
        supported = max((len(words & done) for done in self.step_words), default=0)
        for loop in failures:
            batch = loop.key.startswith(_PART)
            if batch and (_PART_OF not in loop.text or not _WHOLE.search(event.text.lower())):
                continue  # the batch's own work is done: only a claim of all of it says otherwise
            shared = words & loop.words
            if (batch or len(shared) > supported) and not all(word.isdigit() for word in shared):
                failed = _named(loop.words)
                if named and not named & failed and {_kind(word) for word in named} & {_kind(word) for word in failed}:
                    continue  # another of its kind: JE-2317 beside JE-2318's failure
                if _CLAIMED not in loop.text and not loop.key.startswith("pending:"):  # a failure, not a wait
                    loop.text = _claimed(loop.text, event.text)
                return True
        return False

    def _left_unfinished(self, call: Call, result: actions.Outcome) -> None:
        """A change that went through but left what it made short of done (a purchase order
        created as a draft, a permit "draft - needs EHS sign-off", a message queued): a later
        change that leaves the same identifier otherwise finishes it."""
        state = _UNFINISHED.search(result.text[:600])
        ids = [found.lower() for found in result.ids]
        for found in ids:
            self.unfinished.pop(found, None)
        if state is not None:
            label = call.label or call.phrase or call.key.split(":", 1)[-1]
            for found in ids:
                self.unfinished[found] = (" ".join(state.group(1).split()), label)
        else:
            self.loops = [loop for loop in self.loops if not (loop.key == _OVERCLAIMED and set(loop.ids) & set(ids))]

    def _overclaimed(self, event: Event) -> None:
        """The agent saying an item is sent, ready or done ("PO-2025-0912 has been sent to
        Brightfast") when the change that made it left it a draft: the item is still open, and
        its loop says what the agent claimed."""
        named = sorted(found for found in event.words if found in self.unfinished)
        low = event.text.lower()
        if not named or not _FINISHED.search(low) or _UNFINISHED_SAID.search(low):
            return
        state, label = self.unfinished[named[0]]
        for loop in self.loops:
            if loop.key == _OVERCLAIMED and set(loop.ids) & set(named):
                return
        ids = tuple(dict.fromkeys(found.upper() for found in named))
        text = _claimed(f"{', '.join(ids[:3])} still {state}: {label}", event.text)
        self._open(_Loop(text, _stems(text), key=_OVERCLAIMED, ids=tuple(named)), dedupe=False)

    def _restated(self, words: frozenset[str]) -> bool:
        """Is this claim a step already recorded, said again (a closing summary, or "Flight
        booked: TP8QZ2" after the booking call returned TP8QZ2)?"""
        if len(words) < 2:
            return True
        named = _named(words)
        return any(len(words & old) >= max(2, 0.6 * len(words)) or named & old for old in self.step_words)

    # --- plans ---

    def _plan(self, plan: Plan, by_user: bool = False) -> None:
        if plan.remaining and (self.plan or self.steps):  # what is left once work is under way: loops
            for item, marked in zip(plan.items, plan.marked):
                if not marked:
                    self._open(_Loop(f"still to do: {item}", _stems(item)), dedupe=False)
            return
        if self.plan and self._same_plan(plan.items):
            for step, marked in zip(self.plan, plan.marked):
                step.done = step.done or marked
            return
        if self.plan and not plan.steps:
            return
        if self.plan and self.plan_reads and not by_user and not plan.headed and not self._revises(plan.items):
            return  # "two things: - don't touch prod-db - keep the old logs": rules or questions, not a new plan
        before = self.plan
        self.ticked = False
        self.plan = [_Step(n, text, marked) for n, (text, marked) in enumerate(zip(plan.items, plan.marked), 1)]
        self._carry(before)
        self.plan_unit = plan.unit
        self.plan_reads = plan.steps
        for loop in self.loops:  # the steps of the plan replaced are not this plan's
            loop.step = 0
        self.working_on = 0
        for unit, numbers in self.numbers.items():  # numbered work reported before the plan was laid out
            if unit in ("step", plan.unit):
                for number in numbers:
                    if 0 < number <= len(self.plan):
                        self.plan[number - 1].done = True
        for words in self.step_words:  # work done before the plan was laid out may be one of its steps
            self._plan_item(words, strong=True)

    def _revises(self, items: tuple[str, ...]) -> bool:
        return any(len(_stems(text) & step.words - _GENERIC) >= 2 for text in items for step in self.plan)

    def _carry(self, before: list[_Step]) -> None:
        """A plan laid out again (restated with its progress, or revised): an old step's work
        keeps what it found, and a loop met at it is held at, for the new plan's step about the
        same thing; a loop met at an old step the new plan drops is at no step of it (step 3 of
        a plan the user replaced is not the new plan's step 3)."""
        renumbered = {0: 0}
        for old in before:
            same = max(self.plan, key=lambda step: len((step.words & old.words) - _GENERIC), default=None)
            if same is None or len((same.words & old.words) - _GENERIC) < max(1, len(old.words) // 2):
                renumbered[old.number] = 0
                continue
            renumbered[old.number] = same.number
            if (old.said or old.looked) and not (same.said or same.looked):
                same.said, same.looked = old.said, old.looked
            same.tools |= old.tools
        for loop in self.loops:
            loop.step = renumbered.get(loop.step, 0)

    def _same_plan(self, items: tuple[str, ...]) -> bool:
        if len(items) != len(self.plan):
            return False  # a step added or dropped: a new plan, numbered afresh
        same = sum(len(_stems(text) & step.words) >= 0.5 * max(1, len(step.words)) for text, step in
                   zip(items, self.plan))
        return same >= 0.6 * len(self.plan)

    def _todo(self, items: tuple[tuple[str, str], ...]) -> None:
        if not items:
            return
        before = {step.text: step for step in self.plan}
        self.plan = [_Step(n, text, state == "completed") for n, (text, state) in enumerate(items, 1)]
        for step in self.plan:  # the list ticked again: what each item's work found stays with it
            if step.text in before:
                step.said, step.looked = before[step.text].said, before[step.text].looked
                step.tools = before[step.text].tools
        self.plan_unit = "step"
        self.plan_reads = True
        self.ticked = True
        self.working_on = next((n for n, (_, state) in enumerate(items, 1) if state == "in_progress"), 0)

    def _moving_on(self, number: int) -> None:
        """"Starting step 4": steps before it that were under way are finished (one that
        was never started may have been skipped, and stays open)."""
        if self.plan and 1 < number <= len(self.plan) + 1:
            for step in self.plan[: number - 1]:
                step.done = step.done or step.touched

    def _plan_item(self, words: frozenset[str], strong: bool, loose: bool = False) -> _Step | None:
        """The plan step a piece of work belongs to: the step not yet done that shares
        the most of its words with the work, if enough. The work finishes the step when
        it covers most of it; else the step is under way, and finished once the work
        moves on to a later step."""
        best, best_score = None, 0.0
        upcoming = next((step for step in self.plan if not step.done and step.words), None)
        for step in self.plan:
            if step.done or not step.words or (strong and not step.looks):
                continue
            shared = len((words & step.words) - _GENERIC)
            score = shared / len(step.words)
            enough = shared >= 2 and score >= 0.34 if strong else (shared >= 2 or (shared >= 1 and (
                len(step.words) <= 2 or step.verb in words
                or (upcoming is not None and upcoming.number <= step.number <= upcoming.number + 1))))
            if enough and score > best_score:
                best, best_score = step, score
        near = len((words & upcoming.words) - _GENERIC) if upcoming is not None else 0
        if strong and best is None and near and upcoming is not None and (upcoming.looks or (
                loose and upcoming.verb not in _CHANGING)):  # a search does not book the flight
            upcoming.done = upcoming.touched = True  # a lookup about the next step, when that step is a lookup
            return upcoming
        elif not strong and near and upcoming is not None and (best is None or (
                len((words & best.words) - _GENERIC) <= near + 1 and best_score < 2 * near / len(upcoming.words))):
            # plans are worked in order: work that shares about as much with the next step is that step, unless it
            # covers twice as much of a later one ("provisioned github" after Google: "Provision GitHub", not
            # "Provision Slack"; "saved Comparison.txt": "comparison table", not "collect quotes")
            best, best_score = upcoming, near / len(upcoming.words)
        if best is None:
            return None
        # the work covers the step: most of its words, or its verb and its object ("Book a hotel…" by book_hotel)
        covers = (best_score >= (0.4 if strong else 0.6) and len(words & best.words) >= 2) or len(best.words) == 1 \
            or (best.verb in words and len((words & best.words) - {best.verb}) >= 1) \
            or (best.verb in words and best.words - {best.verb} <= _ROLES)  # "Email the customer": whoever it went to
        if best.verb in _CHANGING and best.verb not in words:
            covers = False  # a step that changes something is finished by that change ("Send the email", not a draft)
        if strong:  # a lookup or a check finishes a step that is only that; it moves nothing on
            best.done = best.done or covers
            return best if covers else None
        for earlier in self.plan[: best.number - 1]:
            earlier.done = earlier.done or earlier.touched
        best.touched = True
        best.done = best.done or covers
        return best

    # --- tool calls and their results ---

    def _call(self, event: Event) -> None:
        assert event.call is not None
        if event.call.kind == "change" and (len(self.work) < MAX_WORK_NAMES or event.tool in self.work):
            self.work[event.tool] = self.work.get(event.tool, 0) + 1
        if event.tool_id:
            self.calls[event.tool_id] = (event.call, event.text, self.turns)
        else:
            self.text_calls.append((event.call, event.text, 0))

    def _result(self, event: Event) -> None:
        assert event.results is not None
        self.answered = True
        if event.tool_id and event.tool_id in self.calls:
            call, announced, turn = self.calls.pop(event.tool_id)
        elif not event.tool_id and self.text_calls:
            call, announced, turn = self.text_calls.pop(0)
        else:
            name = event.tool or "tool"
            call, announced, turn = actions.describe(name, {}), "", 0
        result = event.results[0] if call.kind == "read" else event.results[1]
        awaited = self.awaiting.pop(event.tool_id, None)
        if awaited is not None and result.status != "failed":
            self._await_reply(awaited)
        if result.status == "failed":
            if call.kind != "read":
                call = _failing_part(call, result.detail)
                label = call.label or call.phrase or call.key.split(":", 1)[-1] or "a tool call"
                text = f"{label} failed: {result.detail}"[:200]
                self.loops = [loop for loop in self.loops if loop.key != call.key]
                self._advance(_stems(f"{call.words} {announced}"))  # a failed try at a later step still moves on
                failure = _Loop(text, _stems(f"{call.words} {text}"), key=call.key)
                failure.turn = turn
                failure.checked = call.kind == "check"
                if ":" in call.key:
                    failure.command = _ran_part(call)
                self._open(failure, dedupe=False)
                self.failed.append(failure)
            return
        name = actions.step_name(call, result) if call.kind == "change" or result.status == "pending" else ""
        said = _clean(result.detail)
        if call.kind == "change" and said and len(said) <= 120 and not said.startswith("{") and \
                _PAST_FIRST.match(said.lower()) and (not event.tool_id or len(name.split()) <= 3) \
                and not call.key.startswith("edit:"):  # "Wrote /home/dev/…/x.py" says less than the call
            name = said  # "Added Aero 14 (L-2231) x1": the result says what was done
        elif call.kind == "change" and (record := _RECORD_DONE.match(said.lower())) is not None \
                and record.group(3) != "created":  # "Draft D-8842 created" says less than draft_email's "drafted"
            start, end = record.span(2)  # the record's id as the result spells it
            what = actions.values_of(call)  # what the call was given: "OCF-220 | 1 | Spartanburg"
            name = f"{record.group(3)} {record.group(1)} {said[start:end]}{f': {what}' if what else ''}"[:200]
        waiting = None
        if result.status == "pending":
            self._worked_around(call)  # the call went through this time: what is left is the wait
            waiting = self._pending(call, result.detail, result.ids, name)
            if call.kind != "change" or not _asks_someone(call):
                if call.kind == "change" and self.plan and waiting is not None:
                    # the plan step the awaited work is: begun, and held until the answer comes
                    words = _stems(f"{name} {call.words} {announced}")
                    number = self._advance(words) or self.working_on
                    if not number and self.plan_unit == "step":
                        item = self._plan_item(words, strong=False)
                        number = item.number if item is not None else 0
                    if 0 < number <= len(self.plan):
                        self.plan[number - 1].touched = True
                        waiting.step = number
                        if self.plan[number - 1].verb in _REQUESTING:
                            # "Raise the IT ticket": the asking was the step, done though its answer is awaited
                            self.plan[number - 1].done = True
                            self._add_step(name[:200], words, number)
                return
            # "requested approval APR-7731": the request is done, its answer is awaited
        else:
            self._succeeded(call, result, turn)
            if call.kind == "change" and result.ids:
                self._left_unfinished(call, result)
            if any(loop.command for loop in self.loops) and _SHELL_JOIN.search(call.words):
                self._chain_passed(call)
            if result.failed and call.kind == "change":  # part of a batch failed: that part is still to do
                label = actions.without(call.label or call.phrase or call.key.split(":", 1)[-1], result.done)
                done, _, asked = result.tally.partition(" of ")
                missed = f"{_PART_OF}{int(asked) - int(done)} of {asked}" if done.isdigit() and asked.isdigit() else ""
                text = f"{label} failed{missed}: {'; '.join(result.failed[:3])}"[:200]  # "… failed for 3 of 47: …"
                # keyed apart from a failed call's: the call's own work is done, so a claim of it holds no step
                failure = _Loop(text, _stems(f"{call.words} {text}"), key=f"{_PART}{call.key}")
                self._open(failure, dedupe=False)
                self.failed.append(failure)
            if call.kind == "change" and _asks_someone(call) and (
                    asked_about := result.ids or tuple(dict.fromkeys(_TICKET.findall(call.words)))[:2]):
                # the answer to a request is awaited: about what it made, else what it named ("ask approval AR-508")
                self._pending(call, "pending", asked_about, name)
            elif call.kind == "change" and result.awaited:
                # a claim filed, a case opened, whose answer is due ("decision_eta": "10 business days"), a message
                # queued: awaited
                answer = self._pending(call, result.awaited, result.ids, name)
                if answer is not None:
                    answer.step = 0  # the filing is done, its plan step too: only the answer is to come
        if call.kind == "check" and result.status == "ok" and 0 <= self.last_work < len(self.steps):
            self._checked(call, result.text)
        if result.status == "ok" and (call.kind == "check" or (call.kind == "read" and _RUNS_SCRIPT.match(call.words))) \
                and not _VERIFIES.search(call.key):
            made = _PRODUCED.search(event.results[1].text[-1500:])  # the output as a change's, kept whole
            if made is not None:  # a build or a script whose output says what it made ("report at out/recon.xlsx")
                line = made.group(0).strip()
                parts = [part for part in _SHELL_JOIN.split(call.words.split("\n", 1)[0]) if not part.startswith("cd ")]
                command = " ".join([word for word in next((part for part in parts if _RUNS_SCRIPT.match(part)),
                                                         parts[0] if parts else "").split()
                                    if word == "-m" or not (word.startswith("-") or ">" in word or "&" in word)][:4])
                call = call._replace(kind="change", phrase=f"ran {command}: {line}"[:200])
                name = actions.step_name(call, result)
        if call.kind == "change":
            if call.key.startswith("edit:"):
                if call.key in self.edited:
                    return  # more edits to a file already changed since the user last spoke: one piece of work
                self.edited.add(call.key)
                if self._edited_again(call.key, announced):
                    return
            words = _stems(f"{name} {call.words} {announced}")  # what was done, and what the agent said it was doing
            if announced and announced.lower() not in name.lower():
                name = f"{name}: {announced}"  # what the assistant said it was doing: the step's purpose
            number = self._advance(words) or self.working_on
            told = _STEP_NAMED.match(announced.lower()) if announced and self.plan else None
            if told is not None and 0 < int(told.group(1)) <= len(self.plan):  # "Step 3: add the lines"
                number = int(told.group(1))
                self._moving_on(number)
                self.plan[number - 1].touched = True
            if not number and self.plan_unit == "step":  # a plan of numbered PRs or phases is marked by its numbers
                item = self._plan_item(words, strong=False) if self.plan else None
                number = item.number if item is not None else 0
            if number and number <= len(self.plan):
                at = self.plan[number - 1]
                at.touched = True
                if len(at.tools) < 8:
                    at.tools.add(call.key)
                self.reported = number
                if waiting is not None:
                    waiting.step = number
            self.called = True
            key, index = self.batch
            if call.key.startswith("edit:") and self._joined_edit(call, announced, words, number):
                pass
            elif key == call.key and not key.startswith("edit:") and 0 <= index < len(self.steps) \
                    and self.step_items[index] == number:
                # the same tool called for several things at once: one piece of work ("created LOTO-6601 … LOTO-6605")
                name = name.removesuffix(f": {announced}") if announced else name  # said once, for the first
                self.steps[index] = f"{self.steps[index]}; {_batched(self.steps[index], name, result.ids)}"[:GLOSSED_LENGTH]
                self.step_words[index] = self.step_words[index] | words
            elif not self._restated_tool(name):
                recorded = len(self.steps)
                asked = _asked_for(self.asks.pop(0) if self.asks else "", call, name, words) if not number else ""
                self._add_step(name[:200], words, number, asked)
                if len(self.steps) > recorded:
                    self.fresh = recorded
                    if call.key.startswith("edit:"):
                        self.file_steps.setdefault(call.key, recorded)
                    if call.key.startswith("edit:") or not self.last_edited:  # a check verifies code changed before all
                        self.last_work, self.last_edited = recorded, call.key.startswith("edit:")
                    self.batch = (call.key, recorded)
                    self.edit_run = (recorded, name[:200], (call.phrase,), announced) if call.key.startswith("edit:") \
                        else (-1, "", (), "")
                    if not number:
                        self.unreported.append(recorded)
            self.actions.append(name[:120])
        elif self.plan:
            # an app's lookup ("search_products", "get_pricing") can be the step itself; reading a file is not
            loose = not call.key.startswith(_WORKSPACE_TOOLS)
            step = self._plan_item(_stems(f"{call.words} {announced}"), strong=True, loose=loose)
            if step is not None and len(step.looked) < 3 and call.phrase:
                looked = actions.step_name(call, result)
                named = {word for word in _stems(looked) if any(ch.isdigit() for ch in word)}
                if named and not named <= step.words:
                    step.looked.append(looked[:120])  # the identifiers a lookup step is about, when it does not say them
            if step is not None:
                self.reported = step.number

    def _checked(self, call: Call, output: str) -> None:
        """A passing check after a change says the change works, as people report it: "fixed
        the memory limit in values.yaml (helm lint passes)", "… so all 212 tests pass"."""
        checked = call.key.split(":", 1)[-1]
        if checked == "test" or "test" in checked.split(" ")[-1]:
            counts = _PASSED.findall(output)  # the run's summary is its last count
            note = f"{counts[-1]} tests pass" if counts else "tests pass"
        elif any(word in checked for word in _LINTERS):
            note = f"{checked} passes"
        else:
            return
        if " pass" not in self.steps[self.last_work]:
            self._gloss_step(self.last_work, note, _stems(note))

    def _edited_again(self, key: str, announced: str) -> bool:
        """A file a recorded step wrote, changed again after the user spoke (the incident note
        written, then updated as findings come in): more of the same piece of work, which says what
        the agent was adding, not a second step."""
        index = self.file_steps.get(key, -1)
        if not 0 <= index < len(self.steps):
            return False
        if announced:
            self._gloss_step(index, announced, _stems(announced))
        self.fresh = index
        return True

    def _joined_edit(self, call: Call, announced: str, words: frozenset[str], number: int) -> bool:
        """Edits to several files between two things the user says, with nothing else changed
        between them, are one piece of work ("edited bank.py, model.py and export.py (recon/bank.py,
        recon/model.py, recon/export.py): add a diff_eur field"), named by the files, what the
        edits put in and what the agent said it was doing."""
        index, base, edits, purpose = self.edit_run
        if not (0 <= index < len(self.steps)) or self.step_items[index] != number or \
                not self.steps[index].startswith(base) or (announced and announced != purpose):
            return False  # "Now figure 3: point the script at the v3 results": the agent moved on to new work
        edits = (*edits, call.phrase)
        purpose = purpose or announced
        paths = [edit.split(" ", 1)[1].split(": ", 1)[0] for edit in edits]  # "bank.py (recon/bank.py)", or a bare path
        names = [path.split(" (", 1)[0] for path in paths]
        full = [path.split(" (", 1)[1].rstrip(")") if " (" in path else path for path in paths]
        put = [edit.split(": ", 1)[1] for edit in edits if ": " in edit]
        named = f"{base.split(' ', 1)[0]} {', '.join(names[:-1])} and {names[-1]}"
        if full != names:
            named += f" ({', '.join(full)})"
        new_base = ": ".join([named, *(["; ".join(put)] if put else []), *([purpose] if purpose else [])])[:200]
        self.steps[index] = new_base + self.steps[index][len(base):]
        self.step_words[index] = self.step_words[index] | words
        self.edit_run = (index, new_base, edits, purpose)
        self.last_work, self.last_edited = index, True
        return True

    def _advance(self, words: frozenset[str]) -> int:
        """A todo list's item in progress, once work on it was done, is finished when the work
        moves on to a later item (agents do not always tick it off): the later item whose
        words the new work shares (two at least) is the one in progress now."""
        if not self.working_on or self.working_on > len(self.plan):
            return 0
        current = self.plan[self.working_on - 1]
        mine = len((words & current.words) - _GENERIC)
        best, most = None, max(1, mine)
        for step in self.plan[self.working_on:]:
            shared = len((words & step.words) - _GENERIC)
            if shared > most:
                best, most = step, shared
        if best is None:
            return 0
        current.done = current.done or current.touched
        best.touched = True
        self.working_on = best.number
        return best.number

    def _pending(self, call: Call, detail: str, ids: tuple[str, ...], name: str) -> _Loop | None:
        """A call whose answer is awaited (a refund pending approval, a request sent to
        someone): a loop until a later result about the same identifiers says otherwise."""
        key = f"pending:{call.key}:{detail}"
        for loop in self.loops:  # five bookings waiting for the same consent are one loop
            if loop.ids and loop.key == key:
                loop.ids = (*loop.ids, *ids[:1])
                loop.text = f"{', '.join(loop.ids[:4])} {detail}: {call.label}"[:200]
                loop.words = loop.words | _stems(loop.text)
                return loop
        for loop in self.loops:  # a later call about the same waiting item (checking its status) is the same loop
            if loop.ids and set(loop.ids) & set(ids):
                loop.text = _glossed(loop.text, detail)
                loop.words = loop.words | _stems(detail)
                return loop
        shown = ", ".join(ids[:2])
        text = (f"{shown} {detail}: {call.label}" if shown else f"{call.label}: {detail}")[:200]
        loop = _Loop(text, _stems(text), ids=ids or (name,))
        loop.key = key
        named = {word for word in loop.words if _ID.fullmatch(word)} if _asks_someone(call) else set()
        for failure in [old for old in self.loops if old.key and not old.ids and named & old.words
                        and not old.key.startswith(_HELD)]:
            # "issue provisional credit DSP-40217 failed: APPROVAL_REQUIRED", then approval asked for
            # DSP-40217 (someone asked to act on the failed item): the failure is what the wait is for
            self.loops.remove(failure)
            loop.text = _glossed(loop.text, failure.text.split(_GLOSS, 1)[0][:100])
            loop.words = loop.words | failure.words
        self._open(loop, dedupe=False)
        return loop if loop in self.loops else None

    def _await_reply(self, asked: Event) -> None:
        """A message sent that asks its recipient for something ("we need the 13-digit ticket
        number", "could you send the commercial invoice?") leaves their reply awaited, until
        someone says it came (a later message to them says the loop anew)."""
        key = f"pending:reply:{asked.unit}"
        self.loops = [loop for loop in self.loops if loop.key != key]
        loop = _Loop(asked.text, asked.words, key=key, ids=(asked.unit,))
        self._open(loop, dedupe=False)

    def _restated_tool(self, name: str) -> bool:
        return name in self.steps

    def _checks_passed(self, claim: str, ran: bool) -> None:
        """A test run passed (`ran`, whatever command ran it: `docker compose up -d redis && pytest`),
        or the assistant says the tests (or the build) pass. Only the run is evidence that a
        failed run is over; a claim with the last run failed is what a reader would otherwise
        believe, so the failure's loop says so."""
        for loop in [loop for loop in self.loops if loop.key.endswith((":test", "test", "tests", ":build"))]:
            if ran:
                self.loops.remove(loop)
                self.resolved.append(loop.text)
            elif _CLAIMED not in loop.text:
                loop.text = _claimed(loop.text, claim)

    def _succeeded(self, call: Call, result: Outcome, turn: int = 0) -> None:
        # a message that names a waiting item (an email listing claim CLM-300418) says nothing of its answer
        about = result.ids if not _MESSAGE_TOOL.search(call.key) else ()
        part = f"{_PART}{call.key}"
        # a call made in the same turn as the failed one is its sibling (DE02's entry failed, UK03's went
        # through), not a retry: a retry is made after the failure was seen
        for loop in [loop for loop in self.loops if (loop.key and loop.key == call.key and not (turn and loop.turn == turn)) or
                     (loop.key == part and self._covers(call, loop)) or (loop.ids and about and set(loop.ids) & set(about))]:
            self.loops.remove(loop)
            self.resolved.append(loop.text)
        if call.kind == "change":
            self._worked_around(call, turn)

    @staticmethod
    def _covers(call: Call, part: _Loop) -> bool:
        """Does a batch call that went through redo the part of an earlier batch that failed? Not
        when it names other items of the same kind (quarantining ML-8219's 6 messages says
        nothing of the 3 of ML-7741's 47 that failed)."""
        named = _named(_stems(call.words))
        failed = _named(part.words)
        return not named or bool(named & failed) or not {_kind(w) for w in named} & {_kind(w) for w in failed}

    def _chain_passed(self, call: Call) -> None:
        """A chained command that went through ran each of its parts: `terraform init && terraform plan
        -out tf.plan` passing is `terraform plan -out tf.plan` passing, so that command's failure is
        over (the same command only: `terraform init -backend=false` says nothing of the backend)."""
        ran = {" ".join(part.split()) for part in _SHELL_JOIN.split(call.words)[:8]}
        for loop in [loop for loop in self.loops if loop.command and loop.command in ran]:
            self.loops.remove(loop)
            self.resolved.append(loop.text)

    def _worked_around(self, call: Call, turn: int = 0) -> None:
        """An app's failed change is over once a change to the same kind of thing goes through
        (`amend_purchase_order` refused, then `create_purchase_order`; `transfer_deposit` refused,
        then `apply_deposit_to_final_bill`), or the same call is now only awaited; not by a call made
        beside it in the same turn, before its failure was seen."""
        things = _things(call.key)
        for loop in [loop for loop in self.loops if loop.key and not loop.ids and not (turn and loop.turn == turn) and (
                loop.key == call.key or things & _things(loop.key))]:
            self.loops.remove(loop)
            self.resolved.append(loop.text)

    # --- loops ---

    def _open(self, loop: _Loop, dedupe: bool = True) -> None:
        """One loop per thing: a new mention of an open loop replaces its wording with the
        newer one (usually the more specific) instead of adding a second loop."""
        if len(loop.words) < 2:
            return
        about = self._step_about(loop.words, {item.number for item in self.plan if item.done})
        loop.step = about or self._current_step()
        if dedupe:
            own = loop.words - _GENERIC - _STOP
            for old in self.loops:  # "The backfill stays on hold until Priya confirms", after the user held it back
                if old.key.startswith(_HELD) and (old.step == about or (not about and len(own & old.words) >= 2)):
                    old.text = _glossed(old.text, loop.text)
                    old.words = old.words | loop.words
                    return
        named = {word for word in loop.words if _ID.fullmatch(word)} if dedupe else set()
        for old in self.loops:  # one loop per thing: a later word about the same identifier joins it
            if not old.asked and named & old.words:
                old.text = _glossed(old.text, loop.text)
                old.words = old.words | loop.words
                return
        people = _people(loop.text) if dedupe else frozenset()
        for old in self.loops:  # the wait on a person, said again: "Not committed, waiting for Hamid"
            if people and not old.asked and not old.key and people & _people(old.text):
                old.text = _glossed(old.text, loop.text)
                old.words = old.words | loop.words
                return
        if dedupe:
            for old in self.raised:  # the agent telling of a call that just failed ("I couldn't open the PR: …")
                if old.key and not old.ids and old in self.loops and len(loop.words & old.words - _GENERIC) >= 2:
                    old.text = _glossed(loop.text, old.text)  # the agent's words first: they name it as people do
                    old.words = old.words | loop.words
                    return
            for old in self.loops:
                if not old.key and not old.ids and not old.asked and \
                        len(loop.words & old.words) >= max(3, 0.4 * min(len(loop.words), len(old.words))):
                    old.text, old.words = loop.text, old.words | loop.words
                    return
        self.loops.append(loop)
        self.raised.append(loop)

    def _held_by(self, text: str, words: frozenset[str]) -> bool:
        """Is someone's next move ("Cian has to consent by email") already an open loop's (HP-8821 awaiting
        secondary consent)? Two words in common, or the person it names."""
        own = words - _GENERIC
        people = frozenset(_stem(name.lower()) for name in _CAPITALISED.findall(text)) - _GENERIC
        return any(not loop.asked and (len(own & loop.words) >= 2 or people & loop.words) for loop in self.loops)

    def _taken_on(self, event: Event) -> bool:
        """"I'll ask Birgit to reopen it": the user takes on a loop already open (the failure or
        the wait the agent just reported), which says so, rather than a second loop."""
        own, said = event.words - _GENERIC, _stems(self.last_said) - _GENERIC
        # work the user puts off names its own thing ("we'll look at the memory thing tomorrow with the payments
        # team"): one word in common with a failure ("payments-api-config") does not make it that failure's
        best, most = None, (2 if event.tool == "deferred" else 1, 1)
        for loop in self.loops:  # what the user says first, then what the agent had just said
            shared = (len(own & loop.words), len((own | said) & loop.words))
            if not loop.asked and shared[0] and shared[1] >= 2 and shared > most:
                best, most = loop, shared
        if best is None:
            return False
        best.text = _glossed(best.text, event.text)
        best.words = best.words | event.words
        return True

    def _identified(self, question: str) -> str:
        """The user's question with the identifiers of what it names by its kind ("what else is
        left on the PR?" → "… (PR #318)"), as the agent last gave them."""
        if not self.names:
            return question
        low = question.lower()
        found = dict.fromkeys(self.names[word] for word in _WORD.findall(low) if word in self.names)
        told = [name for name in found if name.lower() not in low][:2]
        return f"{question} ({', '.join(told)})" if told else question

    def _away(self, event: Event) -> None:
        """Someone is away until a time: the wait on them (the loop that names them, else the
        newest wait) says so; with nothing waiting, their absence leaves nothing open."""
        waits = [loop for loop in self.loops if not loop.asked]
        named = [loop for loop in waits if event.unit and event.unit in loop.words]
        waiting = [loop for loop in waits if loop.ids or loop.key.startswith("pending:") or _WAIT.search(loop.text.lower())]
        if not (named or waiting):
            return
        target = (named or waiting)[-1]
        target.text = _glossed(target.text, event.text)
        target.words = target.words | event.words

    def _hold(self, event: Event) -> None:
        """The user holds a plan step back ("don't email Henrik yet, not until DE02 is in"): that step, and
        what holds it, is one loop until the step is done. The step is the one not done that the words
        name (a held sentence is short: one distinctive word in common will do)."""
        done = self._plan_done()
        best, most = None, 0
        own = _stems(event.unit) - _GENERIC - _STOP  # what is held: "don't email Henrik yet"
        for step in self.plan:
            shared = len(own & step.words)
            if step.number not in done and shared > most:
                best, most = step, shared
        if best is None:
            return
        for old in self.loops:  # a wait already told about that step ("Holding step 5 until Marta has looked")
            if not old.asked and not old.key and not old.ids and self._step_about(old.words, done) == best.number:
                old.text = _glossed(old.text, f"on hold: {event.text}")
                old.words = old.words | event.words
                return
        for old in self.raised:  # the step's call the user just stopped ("Email NOT sent: the user interrupted")
            if old.key and not old.ids and old.step == best.number and old in self.loops:
                old.text = _glossed(f"{best.text.rstrip('.')}{_GLOSS}on hold: {event.text}", old.text)  # why it stopped first
                old.words = old.words | event.words
                return
        key = f"{_HELD}{best.number}"
        self.loops = [loop for loop in self.loops if loop.key != key]  # the newest hold on a step stands for it
        loop = _Loop(f"{best.text.rstrip('.')}{_GLOSS}on hold: {event.text}", event.words | best.words, key=key)
        self._open(loop, dedupe=False)
        loop.step = best.number

    def _step_about(self, words: frozenset[str], done: set[int]) -> int:
        """The plan step not done that a loop is about: the one sharing the most of its words (two at least)."""
        number, most = 0, 1
        for item in self.plan:
            shared = len((words & item.words) - _GENERIC)
            if item.number not in done and shared > most:
                number, most = item.number, shared
        return number

    def _ask(self, event: Event) -> None:
        approval = event.unit == "approval"
        lead = "waiting for the user to confirm" if approval else "waiting for the user to answer"
        self.loops = [loop for loop in self.loops if not loop.asked]  # the newest question stands for them
        asked = _Loop(f"{lead}: {event.text}", event.words | _stems(lead), asked="approval" if approval else "question")
        asked.step = self._current_step()
        self.loops.append(asked)

    def _reply(self, said: str) -> None:
        """The user spoke: the assistant's questions are answered, and a yes settles what
        the assistant asked approval for."""
        self.edited.clear()
        self.edit_run = (-1, "", (), "")
        self.last_work, self.last_edited = -1, False
        self.asking = ""
        approves = _APPROVAL_WORDS.match(said.lower()) is not None
        for loop in list(self.loops):
            if loop.asked or (approves and not loop.key and not loop.ids and _ASKING_APPROVAL.search(loop.text.lower())
                              and loop.text.startswith("waiting for the user")):
                self.loops.remove(loop)
                self.resolved.append(loop.text)

    def _close(self, words: frozenset[str], share: float, evidence: bool = False, answered: bool = False) -> None:
        """Close the open loop a statement is most about, if they share enough words:
        at least two, and `share` of the shorter of the two. A failed or waiting call
        is closed only by a statement that it is resolved (`evidence`), never by a
        claim of work done around it; a wait only by one that its answer came (`answered`:
        "approved", "arrived"; not "the claim is filed, the date is fixed")."""
        best, most = None, 0
        for loop in self.loops:
            if loop.asked or ((loop.key or loop.ids) and not evidence) or (loop.ids and not answered):
                continue
            shared = len(words & loop.words)
            if shared > most:
                best, most = loop, shared
        if best is not None and most >= max(min(2, len(best.words)), round(share * min(len(words), len(best.words)))):
            self.loops.remove(best)
            self.resolved.append(best.text)

    def _trim(self) -> None:
        """Keep what is held bounded: old items give way to new ones."""
        if len(self.steps) > MAX_STEPS:
            self.unreported = []  # their indices are about to move
            self.fresh = self.last_work = -1
            self.batch = ("", -1)
        # called after every message: compare lengths first, and cut only what is over its bound
        for items, limit in ((self.steps, MAX_STEPS), (self.step_words, MAX_STEPS), (self.step_items, MAX_STEPS),
                             (self.step_asks, MAX_STEPS),
                             (self.loops, 4 * MAX_ITEMS), (self.resolved, MAX_ITEMS), (self.actions, 5),
                             (self.text_calls, 16)):
            if len(items) > limit:
                del items[:-limit]  # the newest are kept
        # the first are kept: a plan step is looked up by its number (plan[n - 1] is step n), and
        # the constraints stated first stand
        del self.plan[40:]
        del self.constraints[MAX_ITEMS:]
        for table, limit in ((self.entities, 12), (self.facts, 2 * MAX_ITEMS), (self.calls, 256)):
            while len(table) > limit:
                del table[next(iter(table))]

    def _plan_done(self) -> set[int]:
        """The plan steps finished at the end: those done, and before the last one done or
        begun, those begun or that only look something up (a lookup leaves no change to show
        for it). One never touched stays open: plans are not always worked in order."""
        done = max((step.number for step in self.plan if step.done), default=0)
        begun = max((step.number for step in self.plan if step.touched), default=0)
        # a failed call the agent then claimed as done holds the step it was made at, whatever
        # else marked that step done (a later commit): the guide's "claimed
        # but contradicted by the tool output" is not completed. On a todo list the agent ticks, a failed check
        # (a test run) is not the item's work: the agent ticked the item past it ("green apart from an unrelated
        # header assertion")
        held = {loop.step for loop in self.loops if loop.key and _CLAIMED in loop.text
                and not (self.ticked and loop.checked)}
        # work awaiting an answer (an order, a restart, a booking pending approval) is not done yet,
        # unless the step is itself the asking: a request sent, a report submitted, is done though
        # its answer is awaited
        held |= {loop.step for loop in self.loops if loop.key.startswith("pending:") and 0 < loop.step <= len(self.plan)
                 and self.plan[loop.step - 1].verb not in _REQUESTING}
        held |= self._partly_done()
        if self.ticked:  # the agent's own list says what is done; a step it left open is open
            return {step.number for step in self.plan if step.number not in held and step.done}
        return {step.number for step in self.plan if step.number not in held and (
            step.done or ((step.number <= done or step.number < begun) and (step.touched or step.looks)))}

    def _partly_done(self) -> set[int]:
        """The plan steps left partly done: a tool that did some of a step's work failed for another of its
        items, and no later call of it went through ("5 of 6 orders placed"; Jira refused beside Slack and GitHub
        disabled). Of several steps that tool worked on, the failure holds those it shares the most words with."""
        held: set[int] = set()
        for loop in self.loops:
            if not loop.key or loop.asked or loop.key.startswith(("pending:", _PART)):
                continue
            steps = [step for step in self.plan if loop.key in step.tools]
            if steps:
                shared = [len((loop.words & step.words) - _GENERIC) for step in steps]
                held.update(step.number for step, count in zip(steps, shared, strict=True) if count == max(shared))
        return held

    def _resume_from(self) -> int | None:
        """The first step of the newest plan not yet done; without a plan, the first
        number not yet done, counting from the first one done, in the unit most steps
        are numbered in (steps, PRs, tasks…)."""
        if self.plan:
            done = self._plan_done()
            return next((step.number for step in self.plan if step.number not in done), len(self.plan) + 1)
        if not self.numbers:
            return None
        done = max(self.numbers.values(), key=len)
        n = min(done)
        while n in done:
            n += 1
        return n


_WORKSPACE_TOOLS = ("bash", "shell", "sh", "ssh", "run", "read", "grep", "glob", "ls", "view", "str_replace", "edit", "cat",
                    "find", "webfetch", "websearch", "task", "notebook", "todo", "search_files", "list_files",
                    "open_file", "psql", "sql", "dbt", "warehouse", "query", "execute", "terminal", "python", "kubectl")
# Who a step's work goes to when the plan names a role, not a person or an address ("Email the customer").
_ROLES = frozenset("customer user client requester applicant team manager owner them him her recipient guest "
                   "patient tenant member caller insur candidat vendor supplier everyon".split())  # as _stem leaves them
# Words too common in agents' work to tie a claim to a failed call or a plan step.
_GENERIC = frozenset("tool call run ran file new add updat creat make set use check test done fail error "
                     "all now step user".split())


def _asked_for(ask: str, call: Call, name: str, words: frozenset[str]) -> str:
    """The first change after the user asked for one is what they asked for, and a person notes
    it so: when the ask says more than the call, is not the same act again ("opened a PR with the
    fix" for "opened PR #1415") and, for an app's tool, is about what the call acted on ("open the
    claim" names no text message; a workspace's edit or command is named by nothing else)."""
    asked = _stems(ask)
    if len(asked - words) < 2 or _stems(ask.split(" ", 1)[0]) == _stems(name.split(" ", 1)[0]):
        return ""
    return ask if call.key.startswith(_WORKSPACE_TOOLS) or (asked & words) - _GENERIC else ""


def _is_step(low: str) -> bool:
    head = _BULLET.sub("", low).lstrip()
    if head.endswith("?") or len(head.split()) < 2:
        return False
    if _MARKER.match(head):
        return True
    if _OPEN.search(head):
        return False  # "The refund is created but needs a supervisor's approval"
    if not (_PAST_FIRST.match(head) or _SUBJECT_DONE.match(head)):
        return False
    # "Fixed the build, but tests still fail" is not done; neither is "Added X if you agree".
    return not _NEGATED.search(head)


def _step_numbers(low: str) -> tuple[str, tuple[int, ...], int] | None:
    """The numbered unit a completion is about: the first "step 3", "PR #2", "steps
    1–3", "step 4 of 7" in it (later numbers are usually about what comes next)."""
    match = _NUMBERED.search(low)
    if match is None:
        first_steps = _FIRST_STEPS.search(low) if "first" in low else None
        if first_steps is None:
            return None
        count = first_steps.group(1)
        return "step", tuple(range(1, (_COUNTS.get(count) or int(count)) + 1)), 0  # "the first two steps are done"
    unit = match.group("unit").lower().rstrip("s")
    unit = "pr" if unit.startswith("pull request") else unit
    first = int(match.group("n"))
    last = int(match.group("m") or first)
    numbers = tuple(range(first, last + 1)) if 0 < last - first < 50 else (first,)
    listed = _LISTED.match(low, match.end()) if not match.group("total") else None
    if listed is not None:  # "steps 1, 2, 3 and 5 are done"
        numbers += tuple(int(n) for n in re.findall(r"\d+", listed.group(0)))
    return unit, numbers, int(match.group("total") or 0)


def _sentences(text: str) -> Iterable[str]:
    """Sentences: a run of . ! ? ends one when a space or the end follows (so "4.2.11",
    "0.3%" and file names stay whole), and so does a line break. One pass, linear."""
    start = 0
    for match in _STOPS.finditer(text):
        end = match.end()
        if match.group(0) == "\n":
            piece, start = text[start : match.start()], end
        elif end == len(text) or text[end].isspace():
            if match.group(0) == "." and _ABBREVIATION.search(text, max(0, match.start() - 7), match.start()):
                continue  # "Dr. Alvarez", "vs. last year": a title or an abbreviation, not an end
            piece, start = text[start:end], end
        else:
            continue
        sentence = _BULLET.sub("", piece.strip())
        if len(sentence) > 3:
            yield sentence
    sentence = _BULLET.sub("", text[start:].strip())
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


def _ids_in(sentence: str) -> frozenset[str]:
    return frozenset(_stem(found.lower()) for found in _ID.findall(sentence)
                     if len(found) >= 4 and any(ch.isalpha() for ch in found.lstrip("#")) or found.startswith("#"))


def _first_clause(sentence: str) -> str:
    return _CLAUSE_BREAK.split(sentence, maxsplit=1)[0]


_IRREGULAR_STEMS = {"sent": "send", "wrote": "write", "written": "write", "ran": "run", "built": "build",
                    "paid": "pay", "made": "make", "bought": "buy", "found": "search", "took": "take",
                    "held": "hold", "kept": "keep", "froze": "freeze", "reran": "rerun", "told": "tell",
                    # the same act, in the words plans and tools use for it
                    "look": "get", "lookup": "get", "looked": "get", "fetch": "get", "retrieve": "get", "pull": "get",
                    "find": "search", "email": "send", "emailed": "send", "mail": "send", "notify": "send",
                    "book": "book", "reserve": "book", "reserved": "book", "approval": "approve", "approvals": "approve"}


@functools.lru_cache(maxsize=8192)  # a session's texts are stemmed again on each of its turns: once is enough
def _stems(text: str) -> frozenset[str]:
    """Content words, crudely stemmed, so "dump"/"dumped" and "review"/"reviewing" meet."""
    stems = set()
    for word in _WORD.findall(text.lower()):
        word = word.strip(".-")
        if "-" in word or "/" in word or "_" in word or "." in word:  # RMA-40417 is an RMA; search_flights searches
            for part in re.split(r"[-/_.]", word):
                if len(part) >= 3 and part.isalpha() and part not in _STOP:
                    stems.add(_stem(part))
        if word in _STOP or len(word) < 2:
            continue
        stems.add(_stem(word))
    return frozenset(stems)


def _stem(word: str) -> str:
    word = _IRREGULAR_STEMS.get(word, word)
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    return _IRREGULAR_STEMS.get(word, word)


_MESSAGE_TOOL = re.compile(r"(?:^|[_:.\s-])(?:send|email|mail|message|notify|sms|text|reply|comment|note|post|slack|chat|"
                           r"notification|remind|reminder|watch|subscribe|follow)")


# "PR #318", "claim CLM-300418", "the INT-88410 invite": an identifier and the word for its kind.
_KIND_BEFORE = re.compile(r"\b([A-Za-z]{2,20})\s+\**(#\d{2,7}|[A-Z][A-Z0-9]{1,9}-\d[\w-]*)")
_KIND_AFTER = re.compile(r"(#\d{2,7}|\b[A-Z][A-Z0-9]{1,9}-\d[\w-]*)\**\s+([a-z]{3,20})\b")
_NOT_KINDS = _STOP | frozenset("for with and from into via per the was were is are on in at by to of as than then".split())


def _named_things(sentence: str) -> tuple[tuple[str, str], ...]:
    pairs = [(kind.lower(), f"{kind} {name}" if kind.isupper() else name) for kind, name in _KIND_BEFORE.findall(sentence)]
    pairs += [(kind, name) for name, kind in _KIND_AFTER.findall(sentence)]
    return tuple((kind, name) for kind, name in pairs if kind not in _NOT_KINDS)


_PERSON = re.compile(r"(?<=[a-z,;:(] )(?<!the )(?!(?:January|February|March|April|May|June|July|August|September|October|"
                     r"November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b)"
                     r"[A-Z][a-z]{2,20}\b(?!['’]s? (?:team|office|portal|side|system))")


@functools.lru_cache(maxsize=4096)  # a session's loop texts come round again on each of its turns
def _people(text: str) -> frozenset[str]:
    """The people a loop names (a capitalised word inside a sentence): Hamid, Gail, Priya."""
    return frozenset(_PERSON.findall(text))


def _named(words: frozenset[str]) -> set[str]:
    """The identifiers among an item's words: a letter and a digit both (je-2318, tp8qz2)."""
    return {w for w in words if len(w) >= 4 and any(ch.isdigit() for ch in w) and any(ch.isalpha() for ch in w)}


def _kind(identifier: str) -> str:
    """What kind of thing an identifier names, by its letters before the first digit: je-2317
    and je-2318 are two journal entries; jump-1 and sedr2x9qk are not two of a kind."""
    return identifier[: next((i for i, ch in enumerate(identifier) if ch.isdigit()), len(identifier))]


def _claimed(text: str, claim: str) -> str:
    """A loop with the agent's claim that contradicts it: what is not done, then what the
    agent said, the loop cut short enough that the claim still shows on the dashboard."""
    claim = claim.removeprefix(_FINAL_ANSWER)  # what the agent said, not how it was recorded
    room = ITEM_LENGTH - len(_CLAIMED) - 6 - min(len(claim), 90)
    if len(text) > room:
        text = text[:room].rsplit(" ", 1)[0].rstrip(" ,;:—-") + "…"
    return f"{text}{_GLOSS}{_CLAIMED}: {claim}"[:GLOSSED_LENGTH]


def _headed(head: str, text: str) -> str:
    """A loop named by its plan step: the step first; a claim the loop contradicts still shows, the
    failure's detail cut short to make room for both."""
    joined = f"{head}{text}"
    marker = f"{_GLOSS}{_CLAIMED}: "
    if len(joined) <= ITEM_LENGTH or marker not in joined:
        return joined[:GLOSSED_LENGTH]
    failed, claim = joined.split(marker, 1)
    return _claimed(failed.removesuffix("…"), claim)


def _glossed(text: str, gloss: str) -> str:
    """A loop's text with one more thing said of it: once, and in place of an earlier gloss it
    says again more fully (a sentence, then the two sentences it opens)."""
    low = gloss.lower()
    if not low or low in text.lower() or len(text) >= GLOSSED_LENGTH:
        return text
    head, *rest = text.split(_GLOSS)
    return _GLOSS.join([head, *(part for part in rest if part.lower() not in low), gloss])[:GLOSSED_LENGTH]


@functools.lru_cache(maxsize=1024)
def _things(key: str) -> frozenset[str]:
    """What an app's tool acts on, from its name: `amend_purchase_order` → {purchase, order}.
    Workspace tools (a shell, an editor) act on anything, so their names say nothing of it."""
    if ":" in key or key.startswith(_WORKSPACE_TOOLS):
        return frozenset()
    return frozenset(part for part in key.split("_")[1:] if len(part) >= 3) - _GENERIC - _STOP


# A tool that sends a message to someone: send_email, message_vendor, email_party, fax_prescriber.
_OUTBOUND = re.compile(r"(?:^|[_.\s-])(?:send|email|mail|message|fax|sms|text|contact)(?:$|[_.\s-])|^(?:email|message|fax|sms)", re.I)
_DRAFT = re.compile(r"draft|preview|template|post|publish|broadcast|announce", re.I)  # a post tells; it asks no one
_MESSAGE_WORDS = frozenset("send email mail message fax sms text contact notice note letter reply to".split())
_GREETED = re.compile(r"\s*(?:hi|hello|dear|hey|good (?:morning|afternoon))\s+([^,\n!]{2,40})[,!\n]", re.I)
_RECIPIENT_KEYS = ("to", "recipient", "recipients", "email", "vendor", "vendor_id", "provider", "party", "contact",
                   "member_number", "customer", "customer_id", "name")
_ASKS_FOR = re.compile(r"\?|\b(?:could|can|would) you\b|\bplease (?:send|confirm|provide|reply|advise|sign|return|approve|"
                       r"let (?:us|me) know (?:whether|if|when|which|by))|\b(?:we|i)(?:'d| would) like to ask\b|\bwe need\b", re.I)


def _outbound_ask(tool: str, arguments: dict[str, object]) -> tuple[str, str] | None:
    """Who a sent message asks for something (as its greeting names them, else its recipient, else
    whom the tool writes to: `message_broker`), and what: its subject and the sentence that asks."""
    body = next((value for key in ("body", "message", "text", "content") if isinstance(value := arguments.get(key), str)), "")
    if not body or _ASKS_FOR.search(body) is None:
        return None
    found = next((arguments[key] for key in _RECIPIENT_KEYS if arguments.get(key)), "")
    recipient = ", ".join(map(str, found[:2])) if isinstance(found, list) else str(found)
    if not recipient:
        recipient = " ".join(word for word in actions.name_words(tool) if word not in _MESSAGE_WORDS)
    if not recipient or recipient.startswith("#") or str(arguments.get("channel", "")).startswith("#"):
        return None  # a message to a channel tells; it asks no one in particular
    greeted = _GREETED.match(body)
    recipient = greeted.group(1).strip() if greeted else recipient  # "Hi Priya,": who, as the sender names them
    subject = " ".join(str(arguments.get("subject") or arguments.get("title") or "").split())
    ask = next((sentence for sentence in _sentences(body) if _ASKS_FOR.search(sentence)), "")
    ask = " ".join(ask.split())
    said = f"{subject} — {ask}" if subject and ask and ask.lower() not in subject.lower() else subject or ask
    return recipient[:60], f"waiting for {recipient[:60]} to reply: {said}"[:GLOSSED_LENGTH]


def _ran_part(call: Call) -> str:
    """The part of a shell command a failure is keyed by, as it was run."""
    tool = call.key.partition(":")[0]
    parts = _SHELL_JOIN.split(call.words)[:8]
    if len(parts) > 1:
        for part in parts:
            if part.strip() and actions.shell(part, tool).key == call.key:
                return " ".join(part.split())
    return " ".join(call.words.split())


def _failing_part(call: Call, detail: str) -> Call:
    """The part of a chained shell command that failed, when its error names it ("sed: cannot
    rename …" after `kill … && sed -i …`, "failed to push some refs" after `git commit && git push`):
    the failure is that part's, and that part succeeding later closes it."""
    tool, _, command = call.key.partition(":")
    if not command or "&&" not in call.words and ";" not in call.words:
        return call
    said = detail.lower()[:120]
    remote = _GIT_REMOTE.search(said) is not None  # "unable to access 'https://…': 403": the part that talks to the remote
    for part in _SHELL_JOIN.split(call.words)[1:8]:
        key = actions.shell(part, tool).key
        run = key.partition(":")[2]
        if run and run != command and (re.search(rf"(?:^|\b){re.escape(run.split()[-1])}\b", said) or
                                       (remote and run in ("git push", "git pull", "git fetch", "git clone"))):
            return call._replace(key=key, label=f"`{run}`")
    return call


_GIT_REMOTE = re.compile(r"unable to access|could not read from remote|authentication failed|permission to \S+ denied|"
                         r"\[rejected\]|\[remote rejected\]|returned error: [45]\d\d")


def _asks_someone(call: Call) -> bool:
    """A call that asks a person or a team for something (an approval, a review, a decision):
    `request_approval`, `escalate_to_supervisor`, `submit_claim`, `refer_case`."""
    return any(word in _ASKING_VERBS for word in re.split(r"[_:.\s-]+", call.key)) or "approval" in call.key


_ASKING_VERBS = frozenset("request requests escalate ask submit refer appeal".split())


def _batched(step: str, name: str, ids: tuple[str, ...]) -> str:
    """One more call of a batch, after the first: what it acted on and what it made ("WO-30198
    (LOTO-6602)"), once the batch is long; the words every call shares are said once."""
    new = [i for i in ids if i.lower() not in step.lower()]
    first, words = step.split(), name.split()
    shared = next((n for n, (a, b) in enumerate(zip(first, words)) if a != b), min(len(first), len(words)))
    if (len(step) + len(name) <= ITEM_LENGTH // 2 or not new) and shared < 2:
        return name
    target = " ".join(words[shared:]).split(", ", 1)[0].split(": ", 1)[0].split(" (", 1)[0][:40]
    new = [i for i in new if i not in target]
    if not new:
        return target or name  # "suspended account cus_k7d2, fraud; cus_p19x": the verb and the kind said once
    return f"{target} ({', '.join(new[:3])})" if target else ", ".join(new[:3])


def _untold(step: str, said: str) -> str:
    """The parts of what the agent said ("; "-joined sentences) that the step does not say yet."""
    low = step.lower()
    return "; ".join(part for part in said.split("; ") if part.lower() not in low)


def _done_wording(item: str) -> str:
    """A finished plan item as people report it: its leading verb in the past tense
    ("Reproduce the bug" → "reproduced the bug"); an item that does not start with a verb
    stays as it is."""
    lead = _LEAD.match(item)  # "then deal with DP-1106": the step is what follows
    if lead:
        item = item[lead.end():]
    verb, _, rest = item.partition(" ")
    low = verb.lower()
    prefix, dash, last = low.rpartition("-")  # "Re-check the loads", "Dry-run the refunds": the verb is the last part
    if dash and not (prefix.isalpha() and last.isalpha()):
        return item
    if not dash and (not verb.isalpha() or verb.isupper() and len(verb) > 1):
        return item
    # a verb the lists know, or any word that an object follows (a determiner, a pronoun, an identifier: "Redline the
    # deviations", "Exclude all TixNow orders", "enrich them", "accept DP-1102"): an imperative
    following = rest.split(" ", 1)[0]
    if not _plan_verb(last) and following.lower() not in _OBJECT_OPENERS and _ID.fullmatch(following.rstrip(",.;:")) is None:
        return item
    # and so is a known verb joined to it: "Pull the deadlines and filter to June" did both
    rest = _JOINED_VERB.sub(lambda found: f"{found.group(1)}{actions.past(found.group(2))}" if _plan_verb(found.group(2)) else
                            found.group(0), rest)
    head = f"{prefix}{dash}{actions.past(last)}" if prefix != "re" else f"re{actions.past(last)}"
    return f"{head} {rest}".strip()


_LEAD = re.compile(r"(?:and |then |and then |finally,? |next,? )(?=[a-z])", re.IGNORECASE)


_JOINED_VERB = re.compile(r"(\b(?:and then|and|then)\s+)([a-z]+[^s\W])\b(?![/'-])")  # "and tests": a noun


def _plan_verb(word: str) -> bool:
    return word in PLAN_VERBS or word in _MORE_PLAN_VERBS


# words an object opens with: a determiner or a pronoun ("Redline the deviations", "enrich them")
_OBJECT_OPENERS = frozenset("the a an all each every any our your their its this that these those both it them him her me us you".split())


# Verbs plans start with beyond the tools' own ("Break down the 502s", "Correlate with the app logs").
_MORE_PLAN_VERBS = frozenset("break correlate recompute recalculate calc determine free map point switch include filter "
                             "work diagnose reconcile trace fill rewrite summarise summarize list tally count".split())


def _unanswered(question: str) -> str:
    """The user's question no answer has followed, worded as people note one ("asks whether
    the migration reached prod"): a yes-or-no question is asked whether, any other as it is."""
    asks = "asks whether" if _YES_NO.match(question) else "asks"
    return f"the user's question is unanswered{_GLOSS}{asks}: {question}"


# a yes-or-no question's opening, after any "also", "and", "wait," before it
_YES_NO = re.compile(r"(?i)(?:(?:also|and|so|but|oh|ok|okay|wait|hmm|btw)\W+)*"
                     r"(?:did|does|do|will|would|can|could|is|are|was|were|should|has|have|had|shall|may|might"
                     r"|isn't|aren't|didn't|doesn't|won't|can't)\b")


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


def _clean(text: str, limit: int = 160) -> str:
    text = text.replace("**", "")  # markdown emphasis is not part of what was said
    return " ".join(text.split()).strip(" -*•:,;").removesuffix(".")[:limit]


def _add_unique(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)


# The verbs of plan steps, as stemmed: a step that changes something, and one whose change an
# approval gates (the order is not placed while it waits).
_CHANGING = frozenset(_stem(verb) for verb in actions.CHANGE_VERBS)
# Steps that are themselves an asking: done once sent, whatever the answer.
_REQUESTING = frozenset(_stem(verb) for verb in "request submit send email ask file upload notify apply escalate raise "
                        "forward invite message text tell contact chase remind propose offer".split())
