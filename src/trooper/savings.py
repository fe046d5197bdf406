"""Tokens saved per session: what the cloud would have billed for the turns a local
model answered, for the X-Trooper-Session-Saved header. Kept in memory, bounded so that
a flood of sessions can't grow it without limit (oldest sessions are forgotten first),
and never below what the session store knows (`floor`): the store's figure survives a
restart and, with a shared store, counts the turns other instances answered."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from trooper.conversation import Conversation, Response, ResponseBuilder
from trooper.signals.tokens import estimate_conversation


class SavingsLedger:
    def __init__(self, max_sessions: int = 100_000, floor: Callable[[str], int] | None = None) -> None:
        self._totals: OrderedDict[str, int] = OrderedDict()
        self._max = max_sessions
        self._floor = floor  # what the store knows, without waiting for it

    def total(self, session: str) -> int:
        own = self._totals.get(session, 0)
        return max(own, self._floor(session)) if self._floor is not None else own

    def add(self, session: str, tokens: int) -> int:
        total = self.total(session) + tokens
        self._totals.pop(session, None)
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
