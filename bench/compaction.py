"""Compaction figures on the labelled agent conversations in tests/data/agent_conversations:
the share of planted facts, constraints, open loops and intent keywords still present in
the compacted context (of those the conversation holds word for word: labels written in
other words than the conversation's can't be found by text either way), tokens before/after, and ms per compaction of a 200-turn,
~100k-token conversation (cold: first sight; warm: the next turn of the same session,
which is how an agent's requests arrive).

    python bench/compaction.py [--budget-share 0.4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import msgspec  # noqa: E402

from trooper.compaction import compact  # noqa: E402
from trooper.conversation import Conversation, Message, TextBlock, ToolResultBlock  # noqa: E402
from trooper.formats import anthropic, openai  # noqa: E402
from trooper.signals import extract as extract_module  # noqa: E402
from trooper.signals import tokens as tokens_module  # noqa: E402
from trooper.signals.tokens import estimate_conversation  # noqa: E402

DATA = ROOT / "tests" / "data" / "agent_conversations"
KINDS = ("intent_keywords", "facts", "constraints", "open_loops")
PLANTED = "conv_*.json"  # the conversations written for this bench, items planted in the middle third


def load(path: Path) -> tuple[Conversation, dict]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw["format"] == "anthropic":
        body = {"model": "m", "max_tokens": 100, "messages": raw["messages"]}
        if raw.get("system"):
            body["system"] = raw["system"]
        if raw.get("tools"):
            body["tools"] = raw["tools"]
        return anthropic.decode_request(json.dumps(body).encode()), raw["labels"]
    body = {"model": "m", "messages": raw["messages"]}
    if raw.get("tools"):
        body["tools"] = raw["tools"]
    return openai.decode_request(json.dumps(body).encode()), raw["labels"]


def context_text(conversation: Conversation) -> str:
    return anthropic.encode_request(conversation, "m").decode("utf-8").lower().replace("\\n", " ")


def kept_share(conversation: Conversation, labels: dict, kind: str, original: Conversation | None = None) -> tuple[int, int]:
    """(items found in `conversation`, items there were): of the labels of `kind` that
    `original` (when given) holds word for word."""
    text = context_text(conversation)
    items = labels.get(kind) or []
    if original is not None:
        source = context_text(original)
        items = [item for item in items if item.lower() in source]
    return sum(1 for item in items if item.lower() in text), len(items)


def quality(share: float, pattern: str = "*.json") -> dict:
    totals = {k: [0, 0] for k in KINDS}
    complete = {k: 0 for k in KINDS}
    rows = []
    for path in sorted(DATA.glob(pattern)):
        conversation, labels = load(path)
        before = estimate_conversation(conversation)
        result = compact(conversation, int(before * share))
        all_kept = []
        for kind in KINDS:
            kept, total = kept_share(result.conversation, labels, kind, conversation)
            totals[kind][0] += kept
            totals[kind][1] += total
            complete[kind] += kept == total
            if kept == total:
                all_kept.append(kind)
        rows.append((path.name, before, result.tokens_after, result.budget, result.fits, all_kept))
    return {"rows": rows, "totals": totals, "complete": complete}


def long_conversation(turns: int = 200) -> Conversation:
    """A 200-turn, ~100k-token conversation built from the labelled ones, end to end, with
    tool outputs eight times as long (as file reads and logs are in real agent sessions)."""
    messages = []
    for path in _sources():
        conversation, _ = load(path)
        messages.extend(_longer_tool_output(m) for m in conversation.messages)
    while len(messages) < turns * 2:
        messages.extend(messages)
    first, _ = load(_sources()[0])
    messages = messages[: turns * 2]
    if messages[0].role != "user":
        messages = messages[1:]
    return Conversation(model="m", messages=tuple(messages), system=first.system, tools=first.tools)


def _sources() -> list[Path]:
    """The sessions the long conversation is built from, in order: not the dev sessions
    written blind later (bd_…), which sort first and would change which 200 turns it holds."""
    return [path for path in sorted(DATA.glob("*.json")) if not path.name.startswith("bd_")]


def _longer_tool_output(message: Message) -> Message:
    blocks = []
    for block in message.content:
        if type(block) is ToolResultBlock:
            block = msgspec.structs.replace(
                block, content=tuple(TextBlock((b.text + "\n") * 8) if type(b) is TextBlock else b for b in block.content)
            )
        blocks.append(block)
    return Message(message.role, tuple(blocks))


def timing(budget: int = 6144) -> dict:
    conversation = long_conversation()
    for module in (extract_module, tokens_module):  # first sight: forget what earlier runs cached
        getattr(module, "_CACHE", {}).clear()
    started = time.perf_counter()
    compact(conversation, budget)
    cold = (time.perf_counter() - started) * 1000
    warm = []
    for _ in range(20):
        started = time.perf_counter()
        result = compact(conversation, budget)
        warm.append((time.perf_counter() - started) * 1000)
    return {"messages": len(conversation.messages), "tokens": estimate_conversation(conversation), "cold_ms": cold,
            "warm_ms": statistics.median(warm), "after": result.tokens_after, "budget": budget}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget-share", type=float, default=0.4, help="budget as a share of each conversation")
    args = parser.parse_args()
    for pattern, what in ((PLANTED, "written with planted items"), ("*.json", "in all (dev sessions too)")):
        report(quality(args.budget_share, pattern), what, args.budget_share)
    t = timing()
    print(f"200-turn conversation: {t['messages']} messages, ~{t['tokens']} tokens → {t['after']} (budget {t['budget']})")
    print(f"ms per compaction: cold {t['cold_ms']:.1f} (first sight), warm {t['warm_ms']:.2f} (next turn, same session)")
    print("targets: intent, constraints, open loops kept in 100% of conversations; facts ≥ 80%; < 5 ms per compaction")


def report(q: dict, what: str, share: float) -> None:
    rows = q["rows"]
    print(f"{len(rows)} labelled conversations {what}, each compacted to {share:.0%} of its estimated size")
    print(f"{'kept in compacted context':<28} {'items':>8} {'conversations with all kept':>30}")
    for kind in KINDS:
        kept, total = q["totals"][kind]
        print(f"{kind:<28} {kept / max(total, 1):>7.1%} {q['complete'][kind]:>22}/{len(rows)}")
    over = sum(1 for r in rows if r[2] > r[3])
    unfit = sum(1 for r in rows if not r[4])
    print(f"tokens before/after: {sum(r[1] for r in rows)} → {sum(r[2] for r in rows)} (estimated); over budget: {over} "
          f"(where the turns kept verbatim and the tools used alone exceed it: {unfit})")
    print()


if __name__ == "__main__":
    main()
