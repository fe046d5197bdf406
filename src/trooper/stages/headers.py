"""headers: say what Trooper did, in `X-Trooper-*` response headers, before the first
byte of the answer (so streams carry them too)."""

from __future__ import annotations

import msgspec

from trooper.pipeline import Exchange, StageBase
from trooper.savings import billable_tokens

CONTEXT_KEPT = "context ✓"


class Headers(StageBase):
    name = "headers"
    phase = "response"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        # Add X-Trooper-Summary (the one-line story of the request).
        summary: bool = True

    async def run(self, exchange: Exchange) -> None:
        headers = exchange.response_headers
        if exchange.session_id:
            headers["x-trooper-session"] = exchange.session_id
        fallen = exchange.fallen_past()
        headers["x-trooper-fallback-count"] = str(len(fallen))
        provider = exchange.provider
        if provider is None:
            return
        reasons = [reason for _, reason in fallen]
        headers["x-trooper-provider"] = provider.name
        # One local tier standing in for another is still a simple turn kept local.
        stand_in = exchange.decision == "simple turn" and provider.local
        headers["x-trooper-decision"] = decision(exchange.decision, provider.name, [] if stand_in else reasons)
        if provider.local and exchange.conversation is not None and exchange.session_id:
            self._count_savings(exchange, headers)
        if fallen:
            headers["x-trooper-fallback"] = exchange.model
        if exchange.degraded:
            headers["x-trooper-degraded"] = ", ".join(exchange.degraded)
        if self.options.summary:
            tried = [name for name, _ in fallen]
            fitted = exchange.fitted()
            context = fitted.context() if fitted is not None else CONTEXT_KEPT
            headers["x-trooper-summary"] = summary(exchange.decision, tried, provider.name, reasons, context, exchange.degraded)


    def _count_savings(self, exchange: Exchange, headers: dict[str, str]) -> None:
        """A local model answered: the session saved what the cloud would have billed.
        The header shows the total so far; the ledger is credited when the answer is
        complete (a stream's output is only known then)."""
        conversation = exchange.conversation
        assert conversation is not None
        ledger = self.runtime.savings
        shown = ledger.total(exchange.session_id) + billable_tokens(conversation, exchange.answer)
        headers["x-trooper-session-saved"] = f"{shown} tokens"

        def credit(done: Exchange, error: BaseException | None) -> None:
            if error is None:
                ledger.add(done.session_id, billable_tokens(conversation, done.answer))

        exchange.on_finish(credit)


def decision(how: str, provider: str, reasons: list[str]) -> str:
    """`ollama (fallback: credit_balance)`, `claude (direct)`, `ollama (forced_local)`,
    `ollama (simple turn) | cloud skipped`."""
    if reasons:
        return f"{provider} (fallback: {reasons[-1]})"
    if how == "simple turn":
        return f"{provider} (simple turn) | cloud skipped"
    return f"{provider} ({how or 'direct'})"


def summary(
    how: str, tried: list[str], provider: str, reasons: list[str], context: str = "context ✓",
    degraded: tuple[str, ...] = (),
) -> str:
    """`claude (direct) ✓`, `claude → ollama (credit_balance) | context ✓`, or
    `claude → ollama (rate_limit) | context ~ (tools trimmed)`.

    "context ✓": the provider that answered was given the whole request, or a compacted
    one that fits its window and kept anchor, SITREP and tail, losing at most harness
    text; "context ~ (...)" names what gave way (compaction.Compacted.context).
    "degraded (no_tools)": a tier without tool calling answered, as the operator allows."""
    if not tried:
        line = f"{provider} ({how or 'direct'}) ✓"
        if context != CONTEXT_KEPT:
            line += f" | {context}"
    else:
        line = f"{' → '.join([*tried, provider])} ({', '.join(reasons)}) | {context}"
    if degraded:
        line += f" | degraded ({', '.join(degraded)})"
    return line
