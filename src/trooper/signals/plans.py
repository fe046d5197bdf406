"""Plans: the numbered or bulleted list of steps a user or an agent lays out.

A plan is what `resume_from` counts against. A list is a plan when most of its items start
with something to do ("Create the RMA", "Step 2: migrate the users table", "Emailing the
customer"); a list of findings, options or things already done is not. A list headed "next
steps" or "still to do" after a plan exists is what is left, not a new plan. Items may carry
their own marks (`✅`, `[x]`, `~~struck~~`, "(done)").
"""

from __future__ import annotations

import re
from typing import NamedTuple

from trooper.signals.actions import CHANGE_VERBS, CHECK_VERBS, READ_VERBS

# "1.", "1)", "(1)", "1:", "1/", "a)", "-", "*", "[ ]", also as a markdown heading or in bold ("### 1. Check
# the logs", "**2. Restart the worker**", "**3.** Verify")
_ITEM = re.compile(r"([ \t]*)(?:#{1,4}[ \t]+)?(?:\*\*|__)?(?:\(?(\d{1,2})(?:[.):]|/(?!\d))|\(?[a-h]\)|[-*•+]|"
                   r"(?:[-*]\s+)?\[[ xX✓]\])(?:\*\*|__)?[ \t]+(\S.*)")
_STEP_LINE = re.compile(r"([ \t]*)(?:\*\*|#+\s*)?(?:step|phase|stage)[ \t]*(\d{1,2})\b(?:\*\*)?[ \t]*[:.)—–-]", re.I)
_LEAD = re.compile(r"^(?:\*\*[^*]{1,80}\*\*\s*[:—–-]?\s*|(?:step|phase|stage)\s*\d{1,2}\s*[:.)—–-]\s*|"
                   r"(?:first|then|next|finally|and|also|lastly|after that),?\s+)+", re.I)
_DONE_MARK = re.compile(r"✅|✔|✓|☑|\[[xX✓]\]|~~|\((?:already )?(?:done|completed?|finished)\b[^)]{0,60}\)|[—–-]\s*(?:done|completed?)\b|"
                        r":\s*(?:done|completed?)\b|\[(?:done|completed?|finished)\]", re.IGNORECASE)
_REMAINING = re.compile(r"\b(?:next steps?|remaining|left to do|still to do|to-?do|follow-?ups?|open items|"
                        r"what'?s left|outstanding|pending)\b", re.I)
_OPTIONS = re.compile(r"\b(?:options?|alternatives?|either|choices|you could|we could|approaches|which (?:one|would))\b",
                      re.I)
_NOT_PLAN_HEAD = re.compile(r"\b(?:summary|recap|what i did|done so far|findings|results?|here'?s what (?:i|we) "
                            r"(?:did|found|changed)|changes made|completed)\b", re.I)
_FENCE = "```"
# "[x] restart the worker", "[in progress] verify the queue": the box or tag is a mark, not words
_BOX = re.compile(r"^\s*\[(?:[ xX✓]|done|completed?|finished|in[ -]progress|todo|to do|pending|wip|blocked|next)\]\s*",
                  re.IGNORECASE)
# A head that says the list is a plan: its items count as steps whatever they start with.
_SAYS_PLAN = re.compile(r"\b(?:plan|steps?|here'?s what (?:i'?ll|we'?ll|i will)|i'?ll|to-?do)\s*:?\s*$|\bplan\b", re.I)
# An inline plan: "Plan: 1) check visas, 2) hold flights, 3) block rooms".
_INLINE = re.compile(r"(?<![\w.])([1-9])[.)]\s+")
# Possessive: backtracking between the runs of spaces around '#' was quadratic in their length.
_UNIT = re.compile(r"\s*+(steps?|phases?|stages?|prs?|pull requests?|tasks?|parts?|milestones?)\s*+#?\s*+\d{1,2}\b", re.I)

EXTRA_VERBS = frozenset(
    "investigate confirm identify review prepare implement refactor document fix wire port split extract benchmark "
    "measure collect gather pick choose decide ask wait call contact coordinate announce reproduce bisect profile "
    "clean tidy outline design plan research compare pack arrange buy verify run inspect backfill rebuild rerun "
    "re-run dump load export keep make do take use try ensure double-check recheck draft reply respond triage "
    "walk go follow write check test deploy monitor move convert translate download share track collect note "
    "double handle cover add remove create set hand propose flag estimate shortlist book reserve pull "
    "answer bill chase compile credit debit dedupe deduplicate deprovision drain evaluate filter finalise finalize "
    "format group increase inform invoice lower normalise normalize offboard onboard print quote raise reconcile "
    "reduce resend retrain roll score sort sum summarise summarize tell text train unpause".split()
)
PLAN_VERBS = CHANGE_VERBS | CHECK_VERBS | READ_VERBS | EXTRA_VERBS


class Plan(NamedTuple):
    items: tuple[str, ...]
    marked: tuple[bool, ...]  # the item carries a done mark
    remaining: bool  # headed "next steps", "still to do": what is left, not a new plan
    unit: str = "step"  # what its items are numbered as when they say so ("PR #1 – …": "pr")
    # it reads as steps (most items start with something to do, or its head says it is a plan), not only
    # as a list in the user's words: a list of rules or questions does not replace a plan under way
    steps: bool = True
    headed: bool = False  # its head says it is a plan ("Plan:", "Revised plan", "here's what I'll do")


def plans(text: str, user: bool = False) -> list[Plan]:
    """The plans a message lays out, in order (usually none or one). A list in the user's
    own words is the work they ask for, whatever its items start with ("include it in…",
    "lifetime budget 12k"); an assistant's list is a plan only when it reads as one."""
    found: list[Plan] = []
    if ")" in text or ". " in text:
        found.extend(_inline(text, user))
    if "\n" not in text:
        return found
    lines = text.splitlines()
    in_fence = False
    run: list[tuple[str, str]] = []  # (indent, item text)
    head = ""
    previous = ""
    number = 0  # the run's last item number, when its items are numbered
    gap = False  # a numbered run met a line of prose: the next number carries it on, anything else ends it
    for line in lines:
        if line.lstrip().startswith(_FENCE):
            in_fence = not in_fence
            _close(run, head, found, user)
            run = []
            continue
        if in_fence:
            continue
        match = _STEP_LINE.match(line) or _ITEM.match(line)
        if match is not None:
            indent = match.group(1).expandtabs(4)
            item = line[match.end():].strip() if match.re is _STEP_LINE else match.group(3).strip()
            if match.re is _STEP_LINE:
                item = item or line.strip()
            counted = int(match.group(2)) if match.group(2) else 0
            if run and (0 < counted <= number or (gap and counted != number + 1)) and len(indent) <= len(run[0][0]):
                # the numbering starts again ("1.…6." then "Step 1." as the work begins): a new list
                _close(run, head, found, user)
                run = []
            gap = False
            number = counted
            if not run:
                head = previous
                run.append((indent, item))
            elif len(indent) <= len(run[0][0]):
                run.append((indent, item))
            continue
        if not line.strip():
            continue
        if run and line[:1] in (" ", "\t"):
            continue  # an item's continuation
        if run and number:  # what an item says under it, unindented: its numbering may go on below
            gap = True
            previous = line
            continue
        _close(run, head, found, user)
        run = []
        previous = line
    _close(run, head, found, user)
    return found


def _inline(text: str, user: bool = False) -> list[Plan]:
    """Plans written in a line: "1) enrich them, 2) put them in the CRM, 3) add …"."""
    found = []
    for line in text.splitlines():
        marks = list(_INLINE.finditer(line))
        numbers = [int(m.group(1)) for m in marks]
        if len(marks) < 2 or numbers != list(range(1, len(marks) + 1)):
            continue
        items = []
        for mark, following in zip(marks, [*marks[1:], None]):
            item = line[mark.end(): following.start() if following else len(line)]
            if following is None:
                item = re.split(r"(?<=[a-z0-9)])[.!?](?:\s|$)", item, maxsplit=1)[0]
            items.append(item.strip().rstrip(",;").removesuffix(" and").removesuffix(" then").strip())
        head = line[: marks[0].start()]
        steps = bool(_SAYS_PLAN.search(head)) or sum(_is_action(i) for i in items) * 2 >= len(items) + 1
        if items and (user or steps):
            # numbered inline with ")" is how people write steps in a line; an assistant's, when it reads as one
            # (not "1) February's own charges…, 2) January's bill…": a breakdown)
            found.append(Plan(tuple(_clean(item) for item in items), tuple(bool(_DONE_MARK.search(i)) for i in items),
                              bool(_REMAINING.search(head)), steps=steps, headed=bool(_SAYS_PLAN.search(head))))
    return found


def _close(run: list[tuple[str, str]], head: str, found: list[Plan], user: bool = False) -> None:
    if len(run) < (2 if user else 3):
        return
    items = [text for _, text in run]
    if _OPTIONS.search(head) or _NOT_PLAN_HEAD.search(head) or sum(text.rstrip().endswith("?") for text in items) > 1:
        return
    units = [_UNIT.match(text.replace("**", "")) for text in items]
    unit = units[0].group(1).lower().rstrip("s") if all(units) else "step"  # type: ignore[union-attr]  # all matched
    steps = all(units) or bool(_SAYS_PLAN.search(head)) or sum(_is_action(text) for text in items) * 2 >= len(items) + 1
    if not (user or steps):
        return
    found.append(Plan(tuple(_clean(text) for text in items), tuple(bool(_DONE_MARK.search(t)) for t in items),
                      bool(_REMAINING.search(head)), "pr" if unit.startswith("pull") else unit, steps,
                      bool(_SAYS_PLAN.search(head))))


def _is_action(item: str) -> bool:
    text = _LEAD.sub("", _BOX.sub("", item.replace("**", "").replace("✅", "").replace("~~", ""))).lstrip("[]xX ✓:").lower()
    word = text.split(" ", 1)[0].strip(",.:;") if text else ""
    if word in PLAN_VERBS:
        return True
    if word.endswith("ing") and len(word) > 5:
        return word[:-3] in PLAN_VERBS or word[:-3] + "e" in PLAN_VERBS or word[:-4] in PLAN_VERBS
    return False


def _clean(item: str) -> str:
    return " ".join(_BOX.sub("", item.replace("**", "").replace("~~", "")).split())[:160]
