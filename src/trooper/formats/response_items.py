"""What Trooper handed to Responses API clients lately, so that the API's references to
earlier state resolve whichever provider answers the next turn:

- output items by item id, for an `item_reference` (the Vercel AI SDK sends them for the
  assistant's earlier messages when `store` is on, as it is by default). Items OpenAI wrote on
  the fast path are remembered too (as its stream or body is read);
- the conversations Trooper's translated answers ended, by response id, for a request's
  `previous_response_id` (unless that answer was asked with `store: false`). OpenAI's own
  answers are kept by OpenAI.

In this process's memory and bounded: a reference another worker answered, or an older one
than the last MAX_ITEMS items or MAX_RESPONSES responses, is not found; the request then still
goes to OpenAI as it is, and translating it is refused by name.
"""

from __future__ import annotations

from collections import OrderedDict

from trooper.conversation import Message, TextBlock, ToolUseBlock

MAX_ITEMS = 4096
MAX_RESPONSES = 128

_items: OrderedDict[str, TextBlock | ToolUseBlock] = OrderedDict()
_responses: OrderedDict[str, tuple[Message, ...]] = OrderedDict()


def remember(item_id: str, block: TextBlock | ToolUseBlock) -> None:
    if not item_id:
        return
    _items[item_id] = block
    _items.move_to_end(item_id)
    while len(_items) > MAX_ITEMS:
        _items.popitem(last=False)


def recall(item_id: str) -> TextBlock | ToolUseBlock | None:
    return _items.get(item_id)


def remember_response(response_id: str, messages: tuple[Message, ...]) -> None:
    """The whole conversation a response ended (its answer the last message)."""
    _responses[response_id] = messages
    _responses.move_to_end(response_id)
    while len(_responses) > MAX_RESPONSES:
        _responses.popitem(last=False)


def recall_response(response_id: str) -> tuple[Message, ...] | None:
    return _responses.get(response_id)
