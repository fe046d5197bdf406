"""Compaction: invariants under random conversations (hypothesis), what it keeps of the
labelled agent conversations (regression guards for bench/compaction.py), and a request
of Claude Code's shape fitted to the default 6,144-token local window."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tests.claude_code_request import LAST_RESULT, USED_TOOLS, USER_PROMPT, request
from trooper.compaction import (
    SITREP_LEAD,
    SITREP_OPEN,
    TOOLS_TRIMMED,
    answer_room,
    compact,
    cut_text,
    is_harness_only,
    is_marker,
)
from trooper.continuation import continuation
from trooper.conversation import (
    Conversation,
    Message,
    Response,
    TextBlock,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from trooper.formats import anthropic, codec
from trooper.signals.tokens import estimate_conversation
from trooper.stages.compact import Compactor

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
from compaction import PLANTED, long_conversation, quality  # noqa: E402

words = st.text(alphabet=st.sampled_from("abcdefghij klmnop qrstuv wxyz 0123 .,:-_/\n é中"), min_size=0, max_size=400)
TOOL_NAMES = ["run", "read", "write", "grep", "fetch", "plan", "deploy", "query"]
REMINDER = "<system-reminder>\nremember the rules of this harness\n</system-reminder>"


@st.composite
def agent_conversations(draw) -> Conversation:  # type: ignore[no-untyped-def]
    """user/assistant turns, some assistant turns calling tools whose results follow; a
    system prompt and tool definitions, harness text here and there."""
    def text() -> str:
        said = draw(words)
        return f"{REMINDER}\n{said}" if draw(st.integers(0, 5)) == 0 else said

    messages = [Message("user", (TextBlock(text() or "start"),))]
    for turn in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            calls = tuple(ToolUseBlock(f"toolu_{turn}_{i}", draw(st.sampled_from(TOOL_NAMES)), {"arg": draw(words)})
                          for i in range(draw(st.integers(1, 2))))
            messages.append(Message("assistant", (TextBlock(draw(words)), *calls)))
            results = tuple(ToolResultBlock(c.id, (TextBlock(draw(words) * draw(st.integers(1, 6))),)) for c in calls)
            messages.append(Message("user", results))
        else:
            messages.append(Message("assistant", (TextBlock(draw(words) or "ok"),)))
            messages.append(Message("user", (TextBlock(text() or "next"),)))
    tools = tuple(
        Tool(name, draw(words) * draw(st.integers(1, 4)), {"type": "object", "properties": {"arg": {"type": "string", "description": draw(words)}}})
        for name in draw(st.lists(st.sampled_from(TOOL_NAMES), unique=True, max_size=len(TOOL_NAMES)))
    )
    return Conversation(model="m", messages=tuple(messages), system=text(), tools=tools)


def texts(conversation: Conversation) -> list[str]:
    """Every text the model reads: system prompt, tool descriptions, messages, tool results."""
    out = [conversation.system, *(t.description for t in conversation.tools)]
    for message in conversation.messages:
        for block in message.content:
            if type(block) is TextBlock:
                out.append(block.text)
            elif type(block) is ToolResultBlock:
                out.extend(b.text for b in block.content if type(b) is TextBlock)
    return out


def assert_nothing_invented(fitted: Conversation, original: Conversation) -> None:
    """Every line of the fitted request is in the original, or is a marker (the SITREP is
    one); and no line appears more often than the original has it."""
    corpus = "\n".join(texts(original))
    seen: Counter[str] = Counter()
    for text in texts(fitted):
        if text.startswith(SITREP_LEAD):
            continue
        for line in text.splitlines():
            if not line.strip() or is_marker(line):
                continue
            assert line in corpus, f"not in the original: {line!r}"
            seen[line] += 1
    for line, count in seen.items():
        if len(line.strip()) >= 12:  # short lines ("ok", "}") recur in any text
            assert count <= corpus.count(line), f"repeated: {line!r}"


def tool_pairs_intact(conversation: Conversation) -> bool:
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


def said_blocks(message: Message) -> list:
    return [b for b in message.content if not (type(b) is TextBlock and is_harness_only(b.text))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(agent_conversations(), st.integers(300, 4000))
def test_invariants(conversation: Conversation, budget: int) -> None:
    result = compact(conversation, budget)
    out = result.conversation
    if not result.compacted:
        assert out is conversation  # fits: untouched
        return
    if result.fits:
        assert estimate_conversation(out) <= budget
    else:
        assert result.context().endswith("too long)")
    assert_nothing_invented(out, conversation)
    # roles alternate, starting with the user; tool calls never lose their results
    assert out.messages[0].role == "user"
    assert all(a.role != b.role for a, b in zip(out.messages, out.messages[1:]))
    assert tool_pairs_intact(out)
    # a valid request for every provider format
    for name in ("anthropic", "openai", "ollama", "gemini"):
        json.loads(codec(name).encode_request(out, "m"))
    # the last turn, the user's latest words and the step's last tool result are there verbatim
    last = conversation.messages[-1]
    assert all(block in out.messages[-1].content for block in said_blocks(last))
    latest_user = max((i for i, m in enumerate(conversation.messages) if m.role == "user" and said_blocks(m)
                       and any(type(b) is TextBlock for b in said_blocks(m))), default=-1)
    if latest_user >= 0:
        words = [b for b in said_blocks(conversation.messages[latest_user]) if type(b) is TextBlock and b.text.strip()]
        assert all(any(b in m.content for m in out.messages) for b in words)
    results = [(i, b) for i, m in enumerate(conversation.messages) for b in m.content if type(b) is ToolResultBlock]
    if results and results[-1][0] >= latest_user:
        assert any(results[-1][1] in m.content for m in out.messages)
    # the tools the conversation used are all there, whole
    used = {b.name for m in conversation.messages for b in m.content if type(b) is ToolUseBlock}
    assert all(t in out.tools for t in conversation.tools if t.name in used)


def test_short_conversations_are_untouched() -> None:
    conversation = Conversation(model="m", messages=(Message("user", (TextBlock("hi"),)),))
    assert compact(conversation, 6144).conversation is conversation


def test_labelled_conversations_keep_what_matters() -> None:
    """At 40% of their size, the 22 conversations written with planted items keep their
    intent, constraints and open loops, and fit; every labelled conversation (dev sessions
    too) fits its budget unless what must stay verbatim and the tools it used are more than
    the budget (short sessions with large tool definitions), and compaction then says so."""
    planted = quality(0.4, PLANTED)
    rows = planted["rows"]
    assert len(rows) == 22
    assert all({"intent_keywords", "constraints", "open_loops"} <= set(row[5]) and row[2] <= row[3] for row in rows)
    kept, total = planted["totals"]["facts"]
    assert kept / total >= 0.8
    assert all(after <= budget or not fits for _, _, after, budget, fits, _ in quality(0.4)["rows"])


def test_a_long_conversation_keeps_anchor_sitrep_and_tail() -> None:
    conversation = long_conversation()
    assert len(conversation.messages) >= 399 and estimate_conversation(conversation) > 90_000
    result = compact(conversation, 6144)
    assert result.tokens_after <= 6144 and result.context_kept
    assert result.conversation.messages[0] == conversation.messages[0]
    assert any(SITREP_OPEN in b.text for m in result.conversation.messages for b in m.content if type(b) is TextBlock)
    assert result.conversation.messages[-1] == conversation.messages[-1]


# --- the parts of a fit ---


def test_answer_room_is_what_the_client_asked_where_it_fits_never_a_scrap() -> None:
    assert answer_room(6144, None) == 1536  # a quarter of the window
    assert answer_room(6144, 200) == 200
    assert answer_room(6144, 3000) == 3000  # at least max_tokens where it fits (half the window)
    assert answer_room(6144, 32000) == 1536  # Claude Code's 32k doesn't: the quarter


def test_a_cut_keeps_whole_lines_and_counts_what_it_left_out() -> None:
    text = "\n".join(f"line {n}: the value of register {n} is {n * 37}" for n in range(1, 201))
    cut = cut_text(text, 300)
    lines = cut.splitlines()
    markers = [line for line in lines if is_marker(line)]
    assert len(markers) == 1
    kept = [line for line in lines if not is_marker(line)]
    assert all(line in text.splitlines() for line in kept)
    assert len(set(kept)) == len(kept)
    assert markers[0].startswith(f"[… {200 - len(kept)} lines, ~")
    assert lines[0] == "line 1: the value of register 1 is 37" and lines[-1] == "line 200: the value of register 200 is 7400"


def test_a_long_line_is_cut_by_whole_sentences() -> None:
    sentences = [f"Sentence number {n} says something about the deploy of service {n}." for n in range(1, 80)]
    text = " ".join(sentences)
    cut = cut_text(text, 200)
    head, marker, tail = cut.split("\n")
    assert is_marker(marker) and " sentences, ~" in marker
    assert head.startswith(sentences[0]) and head.endswith(".") and head in text
    assert tail.endswith(sentences[-1]) and tail in text
    left_out = len(sentences) - head.count("Sentence number") - tail.count("Sentence number")
    assert marker.startswith(f"[… {left_out} sentences, ~")


def _agent_loop(tools: tuple[Tool, ...], turns: int, filler: int) -> Conversation:
    messages = [Message("user", (TextBlock(REMINDER), TextBlock("Fix the flaky login test."),))]
    for n in range(turns):
        messages.append(Message("assistant", (TextBlock(f"Step {n}: running it."), ToolUseBlock(f"t{n}", "run", {"n": n}))))
        messages.append(Message("user", (ToolResultBlock(f"t{n}", (TextBlock(f"run {n} output line\n" * filler),)),)))
    return Conversation("m", tuple(messages), system="You are an agent.", tools=tools)


def _tool(name: str, size: int) -> Tool:
    description = f"The {name} tool. " + " ".join(f"Detail {i} of how {name} behaves." for i in range(size))
    schema = {"type": "object", "properties": {"x": {"type": "string", "description": f"what {name} takes " * 10}}}
    return Tool(name, description, schema)


def test_harness_text_goes_before_anything_said() -> None:
    reminder = "<system-reminder>\n" + "Remember to use the todo list. " * 40 + "\n</system-reminder>"
    conversation = Conversation("m", (
        Message("user", (TextBlock(reminder), TextBlock("Rename the config key."))),
        Message("assistant", (TextBlock("Done: renamed it in config.py."),)),
        Message("user", (TextBlock(f"{reminder}\nThe user opened docs/config.md."), TextBlock(reminder),
                         TextBlock("Thanks. Now update the docs."))),
    ), system="x-anthropic-billing-header: cc_version=2.0.31\nYou are a coding agent.")
    result = compact(conversation, estimate_conversation(conversation) - 300)
    assert result.cut == ("harness text",) and result.context() == "context ✓"
    out = result.conversation
    assert out.system == "You are a coding agent."
    assert out.messages[0].content == (TextBlock("Rename the config key."),)
    assert out.messages[1] == conversation.messages[1]
    # The user's latest turn keeps every block someone said, as it was; a block of nothing
    # but harness text leaves it.
    latest = conversation.messages[2].content
    assert out.messages[2].content == (latest[0], latest[2])


def test_tools_give_way_in_order_used_and_named_ones_whole() -> None:
    tools = (_tool("run", 60), _tool("deploy", 60), _tool("search", 60), _tool("lint", 60), _tool("forced", 60))
    conversation = _agent_loop(tools, 3, 2)
    conversation = Conversation(conversation.model, (*conversation.messages, Message("assistant", (TextBlock("Next I'll deploy."),)),
                                                     Message("user", (TextBlock("Go ahead."),))),
                                system=conversation.system, tools=tools, tool_choice=ToolChoice("tool", "forced"))
    whole = estimate_conversation(conversation)
    one = compact(conversation, whole - 400)  # one tool's details are enough
    assert one.cut == ("harness text", TOOLS_TRIMMED) and len(one.tools_trimmed) == 1
    trimmed = compact(conversation, whole - 700)
    assert trimmed.cut == ("harness text", TOOLS_TRIMMED) and trimmed.context() == "context ~ (tools trimmed)"
    assert set(trimmed.tools_trimmed) == {"search", "lint"}
    kept = {t.name: t for t in trimmed.conversation.tools}
    for name in ("run", "deploy", "forced"):  # used, named in the latest turns, forced
        assert kept[name] == next(t for t in tools if t.name == name)
    assert kept["lint"].description == "The lint tool."
    assert kept["lint"].input_schema == {"type": "object", "properties": {"x": {"type": "string"}}}


def test_tools_are_dropped_only_when_the_historys_essentials_need_the_room() -> None:
    tools = tuple(_tool(f"extra{n}", 40) for n in range(12)) + (_tool("run", 10),)
    conversation = _agent_loop(tools, 30, 20)
    result = compact(conversation, 3000)
    assert result.fits and result.sitrep and result.anchor and result.tail
    assert len(result.tools_trimmed) == 12 and not result.tools_dropped  # the history gave way, not the tools
    assert result.cut.index(TOOLS_TRIMMED) < result.cut.index("history summarised")
    tight = compact(conversation, 520)  # the anchor, the last step and a small SITREP need the room
    assert tight.fits and tight.sitrep and tight.anchor and tight.tail
    assert tight.tools_dropped and "run" in {t.name for t in tight.conversation.tools}


def test_the_users_latest_turn_is_kept_when_the_agent_loop_after_it_is_long() -> None:
    conversation = _agent_loop((_tool("run", 5),), 5, 3)
    ask = Message("user", (ToolResultBlock("t4", (TextBlock("ok"),)), TextBlock("Also add a regression test for the token expiry, please.")))
    rest = _agent_loop((), 40, 20).messages[1:]
    conversation = Conversation("m", (*conversation.messages[:-1], ask, *rest), tools=conversation.tools)
    result = compact(conversation, 2500)
    assert result.fits
    said = [b.text for m in result.conversation.messages for b in m.content if type(b) is TextBlock]
    assert "Also add a regression test for the token expiry, please." in said
    # not in the SITREP's notes too (its intent, the task as it stands, carries the request: that is its job)
    notes = [json.loads(text.split(SITREP_OPEN, 1)[1].rsplit("[/", 1)[0]).get("user_notes", [])
             for text in said if text.startswith(SITREP_LEAD)]
    assert notes and not any("token expiry" in note for note in notes[0])
    assert sum("token expiry" in text for text in said if not text.startswith(SITREP_LEAD)) == 1
    assert_nothing_invented(result.conversation, conversation)


def test_a_partial_answer_being_continued_is_kept_verbatim() -> None:
    conversation = _agent_loop((), 30, 20)
    partial = "Here is the plan for the fix. " + " ".join(f"Step {n} changes module {n}." for n in range(200))
    asked = continuation(conversation, Response("r", "m", (TextBlock(partial),)), prefill=False)
    assert asked is not None
    result = compact(asked, 3000)
    assert result.fits
    assert result.conversation.messages[-2] == Message("assistant", (TextBlock(partial),))
    assert result.conversation.messages[-1] == asked.messages[-1]


def test_turns_kept_verbatim_that_cant_fit_say_so() -> None:
    conversation = Conversation("m", (Message("user", (TextBlock("Summarise this log:\n" + "GET /health 200\n" * 3000),)),))
    result = compact(conversation, 2000)
    assert not result.fits and not result.context_kept
    assert result.conversation.messages[-1] == conversation.messages[-1]
    assert result.context() == "context ~ (too long)"


def test_claude_codes_request_fits_the_default_local_window() -> None:
    """24 tools (~12k tokens of them), ~20k tokens in all, Claude Code's max_tokens of
    32,000, into 6,144 tokens: the request fits with a quarter of the window for the
    answer, every tool the conversation used is whole, the user's prompt and the last
    tool result are there verbatim, and nothing is invented or repeated."""
    body = request()
    original = anthropic.decode_request(json.dumps(body).encode())
    assert len(original.tools) >= 20 and estimate_conversation(original) > 19_000
    budget = 6144 - answer_room(6144, body["max_tokens"])
    result = compact(original, budget)
    fitted = result.conversation
    assert result.fits and estimate_conversation(fitted) <= budget == 4608
    originals = {t.name: t for t in original.tools}
    kept = {t.name: t for t in fitted.tools}
    assert all(kept[name] == originals[name] for name in USED_TOOLS)
    assert "x-anthropic-billing-header" not in fitted.system
    said = [b.text for m in fitted.messages for b in m.content if type(b) is TextBlock]
    assert USER_PROMPT in said
    last = fitted.messages[-1].content[0]
    assert type(last) is ToolResultBlock and last.content == (TextBlock(LAST_RESULT),)
    assert not any("<system-reminder>" in text for text in texts(fitted) if USER_PROMPT not in text)
    assert_nothing_invented(fitted, original)
    assert result.context() == "context ~ (tools trimmed, tools dropped)"
    record = result.record(6144)
    assert record.tokens_before > 19_000 and record.tokens_after <= 4608 and len(record.tools_dropped) >= 10


def test_the_compactor_logs_which_tools_it_trimmed_and_dropped() -> None:
    original = anthropic.decode_request(json.dumps(request()).encode())
    compactor = Compactor(0.25)
    with capture_logs() as logs:
        fitted = compactor.fit(original, 6144, "ollama")
    event = next(e for e in logs if e["event"] == "compacted")
    dropped = {t.name for t in original.tools} - {t.name for t in fitted.tools}
    assert set(event["tools_dropped"].split(",")) == dropped
    assert set(event["tools_trimmed"].split(",")) == {t.name for t in fitted.tools} - set(USED_TOOLS)
    assert (event["window"], event["budget"], event["fits"]) == (6144, 4608, True)
    assert compactor.given["ollama"].conversation is fitted


def test_the_compactor_keys_its_fits_by_content_not_by_object_identity() -> None:
    """A conversation freed after its fit leaves its id() to the next one allocated: the
    next one must get its own compaction, never the freed one's."""
    def conversation(turn: int) -> Conversation:
        long = " ".join(f"word{turn}_{i}" for i in range(3000))
        messages = (Message("user", (TextBlock(long),)), Message("assistant", (TextBlock(long),)),
                    Message("user", (TextBlock(f"question {turn}"),)))
        return Conversation(model="m", messages=messages)

    compactor = Compactor(0.25)
    for turn in range(40):
        asked = conversation(turn)
        fitted = compactor.fit(asked, 2048, "ollama")
        assert fitted is not asked  # compacted: the cache holds only the new conversation
        assert texts(fitted)[-1] == f"question {turn}"
        del asked, fitted
    assert compactor.result(conversation(7), 2048) is compactor.result(conversation(7), 2048)
