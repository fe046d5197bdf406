"""Tokens saved per session: what the cloud would have billed for the turns a local
model answered. Kept in memory for the response header, bounded so that a flood of
sessions can't grow it without limit (oldest sessions are forgotten first)."""

from __future__ import annotations

from collections import OrderedDict

from trooper.conversation import Conversation, Response, ResponseBuilder
from trooper.signals.tokens import estimate_conversation


class SavingsLedger:
    def __init__(self, max_sessions: int = 100_000) -> None:
        self._totals: OrderedDict[str, int] = OrderedDict()
        self._max = max_sessions

    def total(self, session: str) -> int:
        return self._totals.get(session, 0)

    def add(self, session: str, tokens: int) -> int:
        total = self._totals.pop(session, 0) + tokens
        self._totals[session] = total
        if len(self._totals) > self._max:
            self._totals.popitem(last=False)
        return total


def billable_tokens(conversation: Conversation, answer: Response | ResponseBuilder | None) -> int:
    """The cloud's bill for this turn: the whole conversation in, the answer out."""
    output = 0
    if isinstance(answer, Response):
        output = answer.usage.output_tokens
    elif isinstance(answer, ResponseBuilder):
        output = answer.usage.output_tokens
    return estimate_conversation(conversation) + output
