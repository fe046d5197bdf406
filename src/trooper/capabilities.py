"""What a provider can do (tool calling, images, its window, prefill) and what a request
needs of it. A tier that lacks what a request needs is not asked as if nothing were
missing: failover skips it with a reason token, and the client hears why.

- `no_tools`: the request defines tools (and doesn't forbid them), the tier can't call them;
- `no_images`: the user's latest turn holds an image, the tier can't see it;
- `too_long`: what must be kept verbatim (the latest turn, the last tool result) doesn't
  fit the tier's window even with everything else cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from trooper.conversation import Conversation, ImageBlock, ToolResultBlock

if TYPE_CHECKING:
    from trooper.pipeline import Exchange
    from trooper.providers.base import Provider

# Skips a degraded answer may override (the tier answers, and the headers say what it lacked).
DEGRADABLE = frozenset({"no_tools", "no_images"})
SKIPS = DEGRADABLE | {"too_long"}


class Capabilities(msgspec.Struct, frozen=True):
    tools: bool = True
    images: bool = True
    window: int | None = None  # tokens in (prompt and answer); None: a cloud model's own
    prefill: bool = False  # continues a trailing assistant message


class Unmet(msgspec.Struct, frozen=True):
    reason: str
    detail: str


def needs_tools(conversation: Conversation) -> bool:
    choice = conversation.tool_choice
    return bool(conversation.tools) and (choice is None or choice.mode != "none")


def needs_images(conversation: Conversation) -> bool:
    """An image in the user's latest turn (older ones can be left behind)."""
    for message in reversed(conversation.messages):
        if message.role != "user":
            continue
        for block in message.content:
            if type(block) is ImageBlock:
                return True
            if type(block) is ToolResultBlock and any(type(b) is ImageBlock for b in block.content):
                return True
        return False
    return False


def unmet(exchange: Exchange, provider: Provider, conversation: Conversation, degraded: bool = False) -> Unmet | None:
    """Why `provider` can't serve this request as asked, or None. `degraded`: the operator
    accepts an answer without the missing tool calling or images."""
    capabilities = provider.capabilities
    if not degraded:
        if not capabilities.tools and needs_tools(conversation):
            count = len(conversation.tools)
            return Unmet("no_tools", f"{provider.name} can't call tools and the request defines {count}")
        if not capabilities.images and needs_images(conversation):
            return Unmet("no_images", f"{provider.name} can't see images and the latest turn holds one")
    window = capabilities.window
    if window is not None and exchange.compactor is not None:
        fitted = exchange.compactor.result(conversation, window)
        if not fitted.fits:
            return Unmet(
                "too_long",
                f"the turns kept verbatim need ~{fitted.tokens_after} tokens; {provider.name}'s window leaves {fitted.budget}",
            )
    return None
