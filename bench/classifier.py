"""Classifier figures on the labelled turns in tests/data/classifier_turns.jsonl:
accuracy, complex→simple errors (the costly kind), µs per decision.

    python bench/classifier.py            # figures, for the dev and held-out splits
    python bench/classifier.py --errors   # also list every wrong decision on the dev split

The held-out split (about 30% of turns, chosen by a hash of the id) was never looked at
while the rules were written; its figure is the honest one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trooper.conversation import Conversation, Message, TextBlock, Tool  # noqa: E402
from trooper.signals.classify import classify  # noqa: E402

DATA = ROOT / "tests" / "data" / "classifier_turns.jsonl"


def load() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def held_out(row: dict) -> bool:
    return hashlib.sha256(row["id"].encode()).digest()[0] % 10 < 3


def conversation(row: dict) -> Conversation:
    messages = tuple(Message(m["role"], (TextBlock(m["content"]),)) for m in row["messages"])
    tools = (Tool("lookup", "a tool", {"type": "object"}),) if row.get("tools") else ()
    return Conversation(model="m", messages=messages, tools=tools)


def evaluate(rows: list[dict]) -> dict:
    conversations = [conversation(r) for r in rows]
    decisions = [classify(c) for c in conversations]
    complex_rows = [r for r in rows if r["label"] == "complex"]
    wrong = [(r, d) for r, d in zip(rows, decisions) if d.label != r["label"]]
    costly = [(r, d) for r, d in wrong if r["label"] == "complex"]
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for c in conversations:
            classify(c)
    per_decision_us = (time.perf_counter() - started) / (rounds * len(conversations)) * 1e6
    return {
        "turns": len(rows),
        "accuracy": 1 - len(wrong) / len(rows),
        "complex_to_simple": len(costly),
        "complex_to_simple_share": len(costly) / max(len(complex_rows), 1),
        "us_per_decision": per_decision_us,
        "wrong": wrong,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--errors", action="store_true", help="list the dev split's wrong decisions")
    args = parser.parse_args()
    rows = load()
    splits = {"dev": [r for r in rows if not held_out(r)], "held-out": [r for r in rows if held_out(r)], "all": rows}
    print(f"{'split':<9} {'turns':>5} {'accuracy':>9} {'complex→simple':>15} {'of complex':>11} {'µs/decision':>12}")
    for name, subset in splits.items():
        f = evaluate(subset)
        print(
            f"{name:<9} {f['turns']:>5} {f['accuracy']:>9.1%} {f['complex_to_simple']:>15} "
            f"{f['complex_to_simple_share']:>11.1%} {f['us_per_decision']:>12.1f}"
        )
    print("targets: accuracy ≥ 95%, complex→simple ≤ 2% of complex turns, < 50 µs per decision")
    if args.errors:
        for row, decision in evaluate(splits["dev"])["wrong"]:
            text = row["messages"][-1]["content"].replace("\n", " ")[:110]
            print(f"  {row['id']} want {row['label']:<7} got {decision.label:<7} ({decision.reason}) [{row['category']}] {text}")


if __name__ == "__main__":
    main()
