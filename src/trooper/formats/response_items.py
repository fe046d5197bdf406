"""The output items Trooper handed to Responses API clients lately, by item id, so that an
`item_reference` to one (the Vercel AI SDK sends them for the assistant's earlier messages
when `store` is on, as it is by default) can be resolved whichever provider answers the next
turn. Items OpenAI wrote on the fast path are remembered too (as its stream or body is read).

In this process's memory and bounded: a reference to an item another worker answered, or one
older than the last MAX_ITEMS, is not found; the request then still goes to OpenAI as it is
(which keeps the items itself), and translating it is refused by name.
"""

from __future__ import annotations

from collections import OrderedDict

from trooper.conversation import TextBlock, ToolUseBlock

MAX_ITEMS = 4096

_items: OrderedDict[str, TextBlock | ToolUseBlock] = OrderedDict()


def remember(item_id: str, block: TextBlock | ToolUseBlock) -> None:
    if not item_id:
        return
    _items[item_id] = block
    _items.move_to_end(item_id)
    while len(_items) > MAX_ITEMS:
        _items.popitem(last=False)


def recall(item_id: str) -> TextBlock | ToolUseBlock | None:
    return _items.get(item_id)
