"""The format checker given to the blind data writers: it checks FORMAT only (a session
decodes as its wire format's request, the label keys; a turn's shape), and says nothing about
how any software scores the data.

    python3 tests/data/check_format.py SESSION.json ...
    python3 tests/data/check_format.py TURNS.jsonl
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from trooper.formats import codec  # noqa: E402

LABEL_KEYS = {"intent", "intent_keywords", "completed_steps", "open_loops", "resolved_loops", "facts",
              "constraints", "resume_from", "total_steps"}
CATEGORIES = {"factual", "definition", "conversion", "formatting", "greeting_meta", "translation",
              "short_summary_given_text", "reasoning", "estimate", "judgment", "advice", "planning",
              "multi_step", "code_requested", "code_in_message", "stack_trace", "context_dependent",
              "action_request", "long_multi_part", "near_miss", "non_english"}


def session(path: str) -> list[str]:
    raw = json.load(open(path, encoding="utf-8"))
    problems = []
    for key in ("id", "format", "style", "domain", "messages", "labels"):
        if key not in raw:
            problems.append(f"missing {key}")
    if problems:
        return problems
    if raw["format"] not in ("anthropic", "openai"):
        problems.append("format must be anthropic or openai")
    if raw["style"] not in ("claude-code", "function-calling", "react-text"):
        problems.append("bad style")
    if not 14 <= len(raw["messages"]) <= 70:
        problems.append(f"{len(raw['messages'])} messages (14..70)")
    labels = raw["labels"]
    if set(labels) != LABEL_KEYS:
        problems.append(f"label keys differ: missing {LABEL_KEYS - set(labels)}, extra {set(labels) - LABEL_KEYS}")
    kws = labels.get("intent_keywords") or []
    if not 2 <= len(kws) <= 4:
        problems.append("intent_keywords: 2 to 4")
    for kw in kws:
        if kw.lower() not in (labels.get("intent") or "").lower():
            problems.append(f"intent keyword {kw!r} is not in the intent line")
    undeclared = sorted(_called(raw["messages"]) - _declared(raw.get("tools") or []))
    if undeclared:
        problems.append(f"tools called but not declared in `tools`: {', '.join(undeclared)}")
    body = {"model": "m", "max_tokens": 1024, "messages": raw["messages"]}
    if raw.get("system"):
        body["system"] = raw["system"]
    if raw.get("tools"):
        body["tools"] = raw["tools"]
    try:
        codec(raw["format"]).decode_request(json.dumps(body).encode())
    except Exception as exc:  # noqa: BLE001
        problems.append(f"does not decode as a {raw['format']} request: {exc}")
    return problems


def _declared(tools: list[dict]) -> set[str]:
    """The tool names a request offers, in either wire format's shape."""
    return {t.get("name") or (t.get("function") or {}).get("name") for t in tools}


def _called(messages: list[dict]) -> set[str]:
    """The tool names the agent calls: OpenAI `tool_calls`, Anthropic `tool_use` blocks."""
    names = {call["function"]["name"] for m in messages for call in m.get("tool_calls") or []}
    for m in messages:
        if isinstance(m.get("content"), list):
            names |= {b["name"] for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"}
    return names


def turns(path: str) -> None:
    ids = set()
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            print(f"line {n}: not JSON: {exc}")
            continue
        problems = []
        if row.get("id") in ids:
            problems.append("duplicate id")
        ids.add(row.get("id"))
        if row.get("label") not in ("simple", "complex"):
            problems.append("label")
        if row.get("category") not in CATEGORIES:
            problems.append(f"category {row.get('category')!r}")
        msgs = row.get("messages") or []
        if not msgs or msgs[-1].get("role") != "user" or any(m.get("role") not in ("system", "user", "assistant") for m in msgs):
            problems.append("messages must end with a user turn; roles system/user/assistant")
        if problems:
            print(f"line {n} ({row.get('id')}): {'; '.join(problems)}")
    print(f"{len(ids)} turns checked")


for p in sys.argv[1:]:
    if p.endswith(".jsonl"):
        turns(p)
    else:
        found = session(p)
        print(f"{p}: {'ok' if not found else '; '.join(found)}")
