"""Compaction: invariants under random conversations (hypothesis), and what it keeps of
the labelled agent conversations (regression guards for bench/compaction.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trooper.compaction import SITREP_OPEN, compact
from trooper.conversation import Conversation, Message, TextBlock, ToolResultBlock, ToolUseBlock
from trooper.formats import codec
from trooper.signals.tokens import estimate_conversation

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from compaction import long_conversation, quality  # noqa: E402

words = st.text(alphabet=st.sampled_from("abcdefghij klmnop qrstuv wxyz 0123 .,:-_/\n é中"), min_size=0, max_size=400)


@st.composite
def agent_conversations(draw) -> Conversation:  # type: ignore[no-untyped-def]
    """user/assistant turns, some assistant turns calling tools whose results follow."""
    messages = [Message("user", (TextBlock(draw(words) or "start"),))]
    for turn in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            calls = tuple(ToolUseBlock(f"toolu_{turn}_{i}", "run", {"arg": draw(words)}) for i in range(draw(st.integers(1, 2))))
            messages.append(Message("assistant", (TextBlock(draw(words)), *calls)))
            results = tuple(ToolResultBlock(c.id, (TextBlock(draw(words) * draw(st.integers(1, 6))),)) for c in calls)
            messages.append(Message("user", results))
        else:
            messages.append(Message("assistant", (TextBlock(draw(words) or "ok"),)))
            messages.append(Message("user", (TextBlock(draw(words) or "next"),)))
    return Conversation(model="m", messages=tuple(messages), system=draw(words))


def _tool_pairs_intact(conversation: Conversation) -> bool:
    messages = conversation.messages
    for index, message in enumerate(messages):
        results = [b.tool_use_id for b in message.content if type(b) is ToolResultBlock]
        if results:
            previous = messages[index - 1] if index else None
            calls = {b.id for b in previous.content if type(b) is ToolUseBlock} if previous else set()
            if previous is None or previous.role != "assistant" or not set(results) <= calls:
                return False
        calls = [b.id for b in message.content if type(b) is ToolUseBlock]
        if calls and index + 1 < len(messages):
            following = {b.tool_use_id for b in messages[index + 1].content if type(b) is ToolResultBlock}
            if not set(calls) <= following:
                return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(agent_conversations(), st.integers(300, 4000))
def test_invariants(conversation: Conversation, budget: int) -> None:
    result = compact(conversation, budget)
    out = result.conversation
    assert estimate_conversation(out) <= budget  # never over budget
    if not result.compacted:
        assert out is conversation  # fits: untouched
        return
    # anchor intact: the conversation still opens with the user's first words (shortened
    # only when the first turn alone would eat the window, and then from the middle)
    first, original = out.messages[0].content[0], conversation.messages[0].content[0]
    assert type(first) is TextBlock and first.text[:20] == original.text[:20]  # type: ignore[union-attr]
    # roles alternate, starting with the user; tool calls never lose their results
    assert out.messages[0].role == "user"
    assert all(a.role != b.role for a, b in zip(out.messages, out.messages[1:]))
    assert _tool_pairs_intact(out)
    # a valid conversation for every provider format
    for name in ("anthropic", "openai", "ollama", "gemini"):
        json.loads(codec(name).encode_request(out, "m"))
    # the last user turn (the question being asked) is always there, maybe shortened
    assert out.messages[-1].role == conversation.messages[-1].role


def test_short_conversations_are_untouched() -> None:
    conversation = Conversation(model="m", messages=(Message("user", (TextBlock("hi"),)),))
    assert compact(conversation, 6144).conversation is conversation


def test_labelled_conversations_keep_what_matters() -> None:
    q = quality(0.4)
    count = len(q["rows"])
    assert count >= 20
    assert q["complete"]["intent_keywords"] == count
    assert q["complete"]["constraints"] == count
    assert q["complete"]["open_loops"] == count
    kept, total = q["totals"]["facts"]
    assert kept / total >= 0.8
    assert all(after <= budget for _, _, after, budget in q["rows"])


def test_a_long_conversation_keeps_anchor_sitrep_and_tail() -> None:
    conversation = long_conversation()
    assert len(conversation.messages) >= 399 and estimate_conversation(conversation) > 90_000
    result = compact(conversation, 6144)
    assert result.tokens_after <= 6144 and result.context_kept
    assert result.conversation.messages[0] == conversation.messages[0]
    assert any(SITREP_OPEN in b.text for m in result.conversation.messages for b in m.content if type(b) is TextBlock)
    assert result.conversation.messages[-1] == conversation.messages[-1]
