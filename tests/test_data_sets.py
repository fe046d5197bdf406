"""Loads and validates the labelled data sets in tests/data/ (issue 5).

- classifier_turns.jsonl: labelled turns for the simple/complex classifier;
- agent_conversations/*.json: long agent sessions (Anthropic and OpenAI wire formats)
  labelled with what a SITREP must keep.

These tests check the data itself (shape, counts, internal consistency), not any
classifier or compactor, so that measurements made on the sets can be trusted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TURNS_FILE = DATA / "classifier_turns.jsonl"
CONV_DIR = DATA / "agent_conversations"

LABELS = {"simple", "complex"}
SIMPLE_ONLY = {"factual", "definition", "formatting", "conversion", "greeting_meta"}
COMPLEX_ONLY = {
    "reasoning", "judgment", "explain_why", "multi_step", "code_in_message", "code_requested",
    "stack_trace", "long_over_20_words", "context_dependent", "context_summary", "tools_defined",
}
MIXED = {"short_summary_given_text", "url", "non_english", "boundary_20_words", "near_miss"}
CATEGORIES = SIMPLE_ONLY | COMPLEX_ONLY | MIXED
# tests/data/README.md's list, used by the turns written since (dev `dv_t…` and `bd_t…`, held-out `ho_t…`, `h2_t…`, `h3_t…`, `h4_t…`, `h5_t…` and `h6_t…`).
GUIDE_CATEGORIES = {
    "factual", "definition", "conversion", "formatting", "greeting_meta", "translation", "short_summary_given_text",
    "reasoning", "estimate", "judgment", "advice", "planning", "multi_step", "code_requested", "code_in_message",
    "stack_trace", "context_dependent", "action_request", "long_multi_part", "near_miss", "non_english",
}
HELD_OUT = DATA / "heldout"
MIN_PER_CATEGORY = {c: 8 for c in CATEGORIES} | {"non_english": 30, "boundary_20_words": 20, "near_miss": 40}


def words(text: str) -> int:
    """The issue's word count: whitespace-separated tokens."""
    return len(text.split())


# ----------------------------------------------------------------------------- classifier


def load_turns(path: Path = TURNS_FILE) -> list[dict]:
    turns = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"blank line {n}"
            turns.append(json.loads(line))
    return turns


ALL_TURNS = load_turns()
# Issue 5's set, written to its 20-word rule; the turns written since follow the labelling
# guide, where a long turn can be simple (reformat this pasted list) and the rule is gone.
TURNS = [t for t in ALL_TURNS if re.fullmatch(r"c\d{3,}", t["id"]) and int(t["id"][1:]) <= 409]
HELD_OUT_TURNS = load_turns(HELD_OUT / "classifier_turns.jsonl") if (HELD_OUT / "classifier_turns.jsonl").exists() else []
# written blind like the held-out split; measured while tuning, never read (bench/classifier.py)
VALIDATION_TURNS = load_turns(DATA / "validation" / "classifier_turns.jsonl") \
    if (DATA / "validation" / "classifier_turns.jsonl").exists() else []


def last_user(turn: dict) -> str:
    return turn["messages"][-1]["content"]


def test_turn_count_and_ids():
    assert len(TURNS) >= 300
    ids = [t["id"] for t in ALL_TURNS + VALIDATION_TURNS + HELD_OUT_TURNS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"(c|dv_t|bd_t|pr_t|bv_t)\d{3,}", t["id"]) for t in ALL_TURNS)
    assert all(re.fullmatch(r"bv_u\d{4}", t["id"]) for t in VALIDATION_TURNS)
    assert all(re.fullmatch(r"(ho|h2|h3|h4|h5|h6)_t\d{4}", t["id"]) for t in HELD_OUT_TURNS)


def test_corpus_size_and_split():
    """Issue 18: at least 1,500 labelled turns, a held-out split of its own, both labels in each."""
    assert len(ALL_TURNS) + len(HELD_OUT_TURNS) >= 1500
    assert len(HELD_OUT_TURNS) >= 500
    for split in (ALL_TURNS, HELD_OUT_TURNS):
        simple = sum(t["label"] == "simple" for t in split) / len(split)
        assert 0.3 <= simple <= 0.6
        assert sum(len(t["messages"]) > 1 for t in split) >= 0.15 * len(split)


@pytest.mark.parametrize("turn", [t for t in ALL_TURNS + VALIDATION_TURNS + HELD_OUT_TURNS if t not in TURNS],
                         ids=lambda t: t["id"])
def test_guide_turn_shape(turn):
    """A turn written to the labelling guide: its keys, label, category, and a request's shape."""
    assert set(turn) <= {"id", "messages", "label", "category", "note", "tools", "lang"}
    assert turn["label"] in LABELS and turn["category"] in GUIDE_CATEGORIES
    assert isinstance(turn.get("note", ""), str)
    msgs = turn["messages"]
    assert msgs and msgs[-1]["role"] == "user"
    for m in msgs:
        assert m["role"] in {"system", "user", "assistant"}
        assert isinstance(m["content"], str) and m["content"].strip()


@pytest.mark.parametrize("turn", TURNS, ids=lambda t: t["id"])
def test_turn_shape(turn):
    assert set(turn) <= {"id", "messages", "label", "category", "note", "tools", "lang"}
    assert turn["label"] in LABELS
    assert turn["category"] in CATEGORIES
    assert isinstance(turn["note"], str) and turn["note"].strip()
    msgs = turn["messages"]
    assert msgs and msgs[-1]["role"] == "user"
    for i, m in enumerate(msgs):
        assert set(m) == {"role", "content"}
        assert isinstance(m["content"], str) and m["content"].strip()
        # alternate, ending with the user turn being classified
        assert m["role"] == ("user" if (len(msgs) - 1 - i) % 2 == 0 else "assistant")
    if "tools" in turn:
        assert turn["tools"] is True


@pytest.mark.parametrize("turn", TURNS, ids=lambda t: t["id"])
def test_turn_label_consistent_with_hard_rules(turn):
    """The rules the issue states as 'always complex' must agree with the labels."""
    n = words(last_user(turn))
    if turn["label"] == "simple":
        # the guide: a summary of a short text the turn carries is simple, whatever its length
        assert n <= 20 or turn["category"] == "short_summary_given_text", "a simple turn cannot have more than 20 words"
        assert not turn.get("tools"), "a request that defines tools is always complex"
        assert turn["category"] not in COMPLEX_ONLY
    else:
        assert turn["category"] not in SIMPLE_ONLY
    if turn.get("tools"):
        assert turn["label"] == "complex"
    if turn["category"] == "long_over_20_words":
        assert n > 20
    if turn["category"] in {"context_dependent", "context_summary"}:
        assert len(turn["messages"]) > 1, "context-dependent turns need earlier turns"


def test_category_counts_and_both_labels():
    by_cat = Counter(t["category"] for t in TURNS)
    for cat, minimum in MIN_PER_CATEGORY.items():
        assert by_cat[cat] >= minimum, (cat, by_cat[cat])
    for cat in MIXED:
        labels = {t["label"] for t in TURNS if t["category"] == cat}
        assert labels == LABELS, (cat, labels)
    for cat in SIMPLE_ONLY:
        assert {t["label"] for t in TURNS if t["category"] == cat} == {"simple"}
    for cat in COMPLEX_ONLY:
        assert {t["label"] for t in TURNS if t["category"] == cat} == {"complex"}


def test_balance_and_multi_turn():
    simple = sum(t["label"] == "simple" for t in TURNS)
    assert 0.30 <= simple / len(TURNS) <= 0.50  # roughly 40% simple, 60% complex
    assert sum(len(t["messages"]) > 1 for t in TURNS) >= 40
    assert sum(1 for t in TURNS if t.get("tools")) >= 8


def test_non_english():
    ne = [t for t in TURNS if t["category"] == "non_english"]
    assert len(ne) >= 30
    assert all(isinstance(t.get("lang"), str) and t["lang"] != "en" for t in ne)
    langs = Counter(t["lang"] for t in ne)
    assert len(langs) >= 6
    for required in ("zh", "ja", "ru", "ar", "hi", "es", "fr", "de", "pt"):
        assert langs[required] >= 1, required
    # both labels across the non-English set, and lang only where it means something
    assert {t["label"] for t in ne} == LABELS
    assert all("lang" not in t for t in TURNS if t["category"] != "non_english")


def test_boundary_word_counts_match_notes():
    boundary = [t for t in TURNS if t["category"] == "boundary_20_words"]
    assert len(boundary) >= 20
    seen = Counter()
    for t in boundary:
        m = re.match(r"(\d+) words\b", t["note"])
        assert m, f"{t['id']}: note must start with the word count"
        stated = int(m.group(1))
        assert stated == words(last_user(t)), t["id"]
        seen[stated] += 1
        if stated > 20:
            assert t["label"] == "complex", t["id"]
    for n in (19, 20, 21, 22):
        assert seen[n] >= 3, (n, seen)


def test_stated_word_counts_elsewhere_are_right():
    """Notes outside the boundary set that state a count ('14 words', '13-word') must be right too."""
    for t in TURNS:
        if t["category"] == "boundary_20_words":
            continue
        for m in re.finditer(r"(over |than |the )?\b(\d+)(?: |-)(English )?words?\b", t["note"]):
            if m.group(1) or m.group(3) or m.group(2) == "20":
                continue  # "over 20 words", "the 20-word limit": the rule, not a count
            assert int(m.group(2)) == words(last_user(t)), (t["id"], m.group(0), words(last_user(t)))


# ----------------------------------------------------------------------------- conversations


def load_convs(directory: Path = CONV_DIR) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


ALL_CONVS = load_convs()
# Issue 5's sessions, written with planted items in their middle third; the sessions written
# since follow the labelling guide (14-70 messages, three agent styles, labels in its words).
CONVS = [c for c in ALL_CONVS if re.fullmatch(r"conv_\d+", c["id"])]
HELD_OUT_CONVS = load_convs(HELD_OUT / "agent_conversations")
# written blind like the held-out split; measured while tuning, never read (bench/signals.py)
VALIDATION_CONVS = load_convs(DATA / "validation" / "agent_conversations")
GUIDE_CONVS = [c for c in ALL_CONVS + VALIDATION_CONVS + HELD_OUT_CONVS if c not in CONVS]


def non_system(conv: dict) -> list[dict]:
    return [m for m in conv["messages"] if m["role"] != "system"]


def message_text(m: dict) -> str:
    parts: list[str] = []
    c = m.get("content")
    if isinstance(c, str):
        parts.append(c)
    elif isinstance(c, list):
        for b in c:
            if b["type"] == "text":
                parts.append(b["text"])
            elif b["type"] == "tool_use":
                parts.append(json.dumps(b["input"], ensure_ascii=False))
            elif b["type"] == "tool_result":
                bc = b["content"]
                parts.append(bc if isinstance(bc, str) else " ".join(x.get("text", "") for x in bc))
    for tc in m.get("tool_calls") or []:
        parts.append(tc["function"]["arguments"])
    return "\n".join(parts)


def system_text(conv: dict) -> str:
    if conv["format"] == "anthropic":
        return conv["system"]
    return conv["messages"][0]["content"]


def in_middle(i: int, n: int) -> bool:
    """Middle third by message index (system message excluded): n/3 <= i < 2n/3."""
    return 3 * i >= n and 3 * i < 2 * n


def test_conversation_set():
    assert len(CONVS) >= 20
    ids = [c["id"] for c in CONVS]
    assert len(ids) == len(set(ids))
    formats = Counter(c["format"] for c in CONVS)
    assert formats["openai"] >= 6 and formats["anthropic"] >= 6
    numbered = [c for c in CONVS if c["labels"]["resume_from"] is not None]
    assert len(numbered) >= 10


@pytest.mark.parametrize("conv", CONVS, ids=lambda c: c["id"])
def test_conversation_shape(conv):
    assert conv["format"] in {"anthropic", "openai"}
    assert len(non_system(conv)) >= 40
    assert conv["tools"]
    if conv["format"] == "anthropic":
        check_anthropic(conv)
    else:
        check_openai(conv)


def check_anthropic(conv: dict) -> None:
    assert isinstance(conv["system"], str) and conv["system"]
    names = {t["name"] for t in conv["tools"]}
    for t in conv["tools"]:
        assert set(t) == {"name", "description", "input_schema"}
        assert t["input_schema"]["type"] == "object"
    msgs = conv["messages"]
    assert msgs[0]["role"] == "user" and msgs[-1]["role"] == "user"
    seen_ids: set[str] = set()
    n_uses = n_errors = 0
    for i, m in enumerate(msgs):
        assert m["role"] == ("user" if i % 2 == 0 else "assistant"), (conv["id"], i)
        c = m["content"]
        assert isinstance(c, (str, list)) and c
        uses = [b for b in c if b["type"] == "tool_use"] if isinstance(c, list) else []
        results = [b for b in c if b["type"] == "tool_result"] if isinstance(c, list) else []
        if m["role"] == "assistant":
            assert not results
            for b in uses:
                assert b["name"] in names and isinstance(b["input"], dict)
                assert re.fullmatch(r"toolu_[A-Za-z0-9]+", b["id"]) and b["id"] not in seen_ids
                seen_ids.add(b["id"])
            n_uses += len(uses)
            # every tool_use has exactly one tool_result in the next (user) message, and vice versa
            nxt = msgs[i + 1]["content"] if i + 1 < len(msgs) else []
            nxt_results = [b for b in nxt if b["type"] == "tool_result"] if isinstance(nxt, list) else []
            assert sorted(b["tool_use_id"] for b in nxt_results) == sorted(b["id"] for b in uses), (conv["id"], i)
        else:
            assert not uses
            prev = msgs[i - 1]["content"] if i > 0 else []
            prev_ids = {b["id"] for b in prev if b["type"] == "tool_use"} if isinstance(prev, list) else set()
            assert {b["tool_use_id"] for b in results} == prev_ids
            if isinstance(c, list) and results:
                # tool_result blocks come first in the user message
                kinds = [b["type"] for b in c]
                assert kinds[: len(results)] == ["tool_result"] * len(results)
            for b in results:
                assert isinstance(b["content"], (str, list))
                n_errors += bool(b.get("is_error"))
    assert n_uses >= 10


def check_openai(conv: dict) -> None:
    assert "system" not in conv
    for t in conv["tools"]:
        assert t["type"] == "function" and {"name", "description", "parameters"} <= set(t["function"])
    names = {t["function"]["name"] for t in conv["tools"]}
    msgs = conv["messages"]
    assert msgs[0]["role"] == "system" and all(m["role"] != "system" for m in msgs[1:])
    assert msgs[1]["role"] == "user" and msgs[-1]["role"] in {"user", "tool"}
    pending: list[str] = []
    seen: set[str] = set()
    n_calls = 0
    prev_role = "system"
    for i, m in enumerate(msgs[1:], 1):
        role = m["role"]
        assert role in {"user", "assistant", "tool"}
        if role == "tool":
            assert pending and m["tool_call_id"] == pending.pop(0), (conv["id"], i)
            assert isinstance(m["content"], str)
        else:
            assert not pending, f"{conv['id']}: tool calls left unanswered before message {i}"
            if role == "assistant":
                assert prev_role in {"user", "tool"}, (conv["id"], i)
                calls = m.get("tool_calls") or []
                assert calls or m.get("content")
                for tc in calls:
                    assert tc["type"] == "function" and tc["function"]["name"] in names
                    assert isinstance(json.loads(tc["function"]["arguments"]), dict)
                    assert tc["id"] not in seen and tc["id"].startswith("call_")
                    seen.add(tc["id"])
                    pending.append(tc["id"])
                n_calls += len(calls)
            else:
                assert isinstance(m["content"], str) and m["content"]
                assert prev_role in {"system", "assistant", "tool"}, (conv["id"], i)
        prev_role = role
    assert not pending
    assert n_calls >= 10


@pytest.mark.parametrize("conv", CONVS, ids=lambda c: c["id"])
def test_conversation_labels(conv):
    L = conv["labels"]
    assert set(L) == {"intent", "intent_keywords", "facts", "constraints", "open_loops",
                      "resolved_loops", "completed_steps", "resume_from", "total_steps"}
    assert isinstance(L["intent"], str) and L["intent"]
    assert 2 <= len(L["intent_keywords"]) <= 4
    assert 2 <= len(L["facts"]) <= 4
    assert 1 <= len(L["constraints"]) <= 3
    assert 1 <= len(L["open_loops"]) <= 3
    assert len(L["resolved_loops"]) >= 1
    assert len(L["completed_steps"]) >= 1
    if L["resume_from"] is None:
        assert L["total_steps"] is None
    else:
        assert isinstance(L["resume_from"], int) and isinstance(L["total_steps"], int)
        assert 1 < L["resume_from"] <= L["total_steps"]

    msgs = non_system(conv)
    texts = [message_text(m).lower() for m in msgs]
    n = len(texts)
    system = system_text(conv).lower()

    def where(s: str) -> list[int]:
        return [i for i, t in enumerate(texts) if s.lower() in t]

    strings = [L["intent"], *L["intent_keywords"], *L["facts"], *L["constraints"],
               *L["open_loops"], *L["resolved_loops"], *L["completed_steps"]]
    for s in strings:
        assert where(s), f"{conv['id']}: label string not in the conversation: {s!r}"

    # planted facts, constraints and still-open loops live only in the middle third
    # (not the anchor, not the tail), and nowhere in the system prompt
    for s in [*L["facts"], *L["constraints"], *L["open_loops"]]:
        idx = where(s)
        assert all(in_middle(i, n) for i in idx), f"{conv['id']}: {s!r} at {idx}, n={n}"
        assert s.lower() not in system
        assert all(i < n - 10 for i in idx)

    # resolved loops are opened before the end; completed steps appear in order
    for s in L["resolved_loops"]:
        assert where(s)[0] < n - 2
    firsts = [where(s)[0] for s in L["completed_steps"]]
    assert firsts == sorted(firsts), f"{conv['id']}: completed steps out of order {firsts}"
    # completed steps are stated by the agent
    for s in L["completed_steps"]:
        assert any(msgs[i]["role"] == "assistant" for i in where(s)), s


# ----------------------------------------------------------------------------- guide sessions


def test_session_corpus_spans_domains_styles_and_splits():
    """Issue 18: sessions across at least 10 domains and the three agent styles, in both
    wire formats, with a held-out split of its own."""
    every = ALL_CONVS + VALIDATION_CONVS + HELD_OUT_CONVS
    ids = [c["id"] for c in every]
    assert len(ids) == len(set(ids))
    assert all(c["id"].startswith("bd_") for c in VALIDATION_CONVS)
    assert all(c["id"].startswith(("ho_", "h2_", "h3_", "h4_", "h5_", "h6_")) for c in HELD_OUT_CONVS) and len(HELD_OUT_CONVS) >= 45
    assert len({c["domain"] for c in GUIDE_CONVS}) >= 10
    for split in (ALL_CONVS, HELD_OUT_CONVS):
        assert {c.get("style") for c in split} >= {"claude-code", "function-calling", "react-text"}
        assert {c["format"] for c in split} == {"anthropic", "openai"}
        assert sum(c["labels"]["resume_from"] is not None for c in split) >= 10


@pytest.mark.parametrize("conv", GUIDE_CONVS, ids=lambda c: c["id"])
def test_guide_session_is_a_valid_request(conv):
    """Each session is what its agent's next request would carry: the format's roles, every
    tool call answered by its result (matching ids), only defined tools called."""
    assert conv["format"] in {"anthropic", "openai"} and conv["style"] in {"claude-code", "function-calling", "react-text"}
    assert 14 <= len(conv["messages"]) <= 70
    if conv["style"] == "react-text":
        assert not conv.get("tools")
    if conv["format"] == "anthropic":
        _anthropic_tool_pairs(conv)
    else:
        _openai_tool_pairs(conv)


def _anthropic_tool_pairs(conv: dict) -> None:
    names = {t["name"] for t in conv.get("tools") or []}
    msgs = _joined(conv["messages"])
    for i, m in enumerate(msgs):
        assert m["role"] in {"user", "assistant"} and (i > 0 or m["role"] == "user"), (conv["id"], i)
        blocks = m["content"] if isinstance(m["content"], list) else []
        uses = [b for b in blocks if b["type"] == "tool_use"]
        assert all(b["name"] in names for b in uses), (conv["id"], i)
        if m["role"] == "assistant" and i + 1 < len(msgs):
            nxt = msgs[i + 1]["content"] if isinstance(msgs[i + 1]["content"], list) else []
            answered = [b["tool_use_id"] for b in nxt if b["type"] == "tool_result"]
            assert sorted(answered) == sorted(b["id"] for b in uses), (conv["id"], i)


def _joined(messages: list[dict]) -> list[dict]:
    """The turns as the Messages API reads them: it combines consecutive turns of one role into
    one (a user's words after a tool's result; an assistant's text, then its tool call)."""
    joined: list[dict] = []
    for m in messages:
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        if joined and joined[-1]["role"] == m["role"]:
            joined[-1]["content"] = [*joined[-1]["content"], *blocks]
        else:
            joined.append({"role": m["role"], "content": list(blocks)})
    return joined


def _openai_tool_pairs(conv: dict) -> None:
    names = {t["function"]["name"] for t in conv.get("tools") or []}
    pending: list[str] = []
    for i, m in enumerate(conv["messages"]):
        assert m["role"] in {"system", "user", "assistant", "tool"}, (conv["id"], i)
        if m["role"] == "tool":
            assert pending and m["tool_call_id"] == pending.pop(0), (conv["id"], i)
            continue
        assert not pending, f"{conv['id']}: tool calls left unanswered before message {i}"
        for call in m.get("tool_calls") or []:
            assert call["function"]["name"] in names and isinstance(json.loads(call["function"]["arguments"]), dict)
            pending.append(call["id"])


@pytest.mark.parametrize("conv", GUIDE_CONVS, ids=lambda c: c["id"])
def test_guide_session_labels(conv):
    labels = conv["labels"]
    assert {"intent", "intent_keywords", "completed_steps", "open_loops", "resume_from", "total_steps"} <= set(labels)
    assert isinstance(labels["intent"], str) and labels["intent"].strip()
    assert 2 <= len(labels["intent_keywords"]) <= 4
    assert all(k.lower() in labels["intent"].lower() for k in labels["intent_keywords"]), "keywords come from the intent"
    if labels["resume_from"] is None:
        assert labels["total_steps"] is None
    else:
        assert 1 <= labels["resume_from"] <= labels["total_steps"] + 1


def test_the_writers_format_checker_names_a_tool_called_but_never_declared(tmp_path: Path) -> None:
    """A held-out writer called five tools an OpenAI request never declared (h6_c_02), and the checker
    given to the writers passed it; the suite found it. The checker now says so itself."""
    import subprocess
    import sys

    labels = {key: [] for key in ("completed_steps", "open_loops", "resolved_loops", "facts", "constraints")}
    labels |= {"intent": "refund order 42", "intent_keywords": ["refund", "order"], "resume_from": None, "total_steps": None}
    call = {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": "{\"order\": 42}"}}
    messages = [{"role": "user", "content": "refund order 42"}, {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "refunded"}] * 6
    session = {"id": "x_01", "format": "openai", "style": "function-calling", "domain": "retail",
               "messages": messages[:-2], "labels": labels}
    path = tmp_path / "x_01.json"
    path.write_text(json.dumps(session))
    checker = Path(__file__).parent / "data" / "check_format.py"
    said = subprocess.run([sys.executable, str(checker), str(path)], capture_output=True, text=True, check=True).stdout
    assert "tools called but not declared in `tools`: refund" in said
    session["tools"] = [{"type": "function", "function": {"name": "refund", "parameters": {"type": "object", "properties": {}}}}]
    path.write_text(json.dumps(session))
    said = subprocess.run([sys.executable, str(checker), str(path)], capture_output=True, text=True, check=True).stdout
    assert said.strip().endswith(": ok"), said
