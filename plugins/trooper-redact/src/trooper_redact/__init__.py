"""redact: replace e-mail addresses and card-like numbers in user text before the
request leaves the machine. An example of a third-party Trooper stage."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from trooper.conversation import Message, TextBlock
from trooper.pipeline import Exchange, StageBase

PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "card": re.compile(r"\b(?:\d[ -]?){13,16}\b"),
}


class Redact(StageBase):
    name = "redact"

    class Options(msgspec.Struct, forbid_unknown_fields=True):
        patterns: list[Literal["email", "card"]] = msgspec.field(default_factory=lambda: ["email", "card"])
        replacement: str = "[redacted]"

    async def run(self, exchange: Exchange) -> None:
        conversation = exchange.conversation
        if conversation is None:
            return
        count = 0
        messages = []
        for message in conversation.messages:
            if message.role != "user":
                messages.append(message)
                continue
            blocks = []
            for block in message.content:
                if type(block) is TextBlock:
                    text, n = self._redact(block.text)
                    count += n
                    block = TextBlock(text) if n else block
                blocks.append(block)
            messages.append(Message(message.role, tuple(blocks)))
        if count:
            exchange.conversation = msgspec.structs.replace(conversation, messages=tuple(messages))
        exchange.response_headers["x-trooper-redacted"] = str(count)

    def _redact(self, text: str) -> tuple[str, int]:
        total = 0
        for name in self.options.patterns:
            text, n = PATTERNS[name].subn(self.options.replacement, text)
            total += n
        return text, total
