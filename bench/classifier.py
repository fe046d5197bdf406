"""Classifier figures on labelled turns: accuracy, complex→simple errors (the costly kind),
µs per decision, for the dev split and the blind held-out split side by side, with the gap.

    python bench/classifier.py            # dev and held-out figures, and the gap
    python bench/classifier.py --errors   # also list every wrong decision on the dev split

Dev: tests/data/classifier_turns.jsonl (the rules may be tuned on it). Held-out:
tests/data/heldout/classifier_turns.jsonl, written and labelled blind from the labelling guide
(tests/data/README.md) and never read while tuning; only its aggregate figures are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trooper.conversation import Conversation, Message, TextBlock, Tool  # noqa: E402
from trooper.signals.classify import classify  # noqa: E402

DATA = ROOT / "tests" / "data" / "classifier_turns.jsonl"
HELDOUT = ROOT / "tests" / "data" / "heldout" / "classifier_turns.jsonl"


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def conversation(row: dict) -> Conversation:
    """The turn as a request carrying it would decode: system messages are the system prompt."""
    system = "\n".join(m["content"] for m in row["messages"] if m["role"] == "system")
    messages = tuple(Message(m["role"], (TextBlock(m["content"]),)) for m in row["messages"] if m["role"] != "system")
    tools = (Tool("lookup", "a tool", {"type": "object"}),) if row.get("tools") else ()
    return Conversation(model="m", messages=messages, system=system, tools=tools)


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
    figures = {"dev": evaluate(load(DATA))}
    if HELDOUT.is_file():
        figures["held-out"] = evaluate(load(HELDOUT))
    names = list(figures)
    print(f"{'measure':<22}" + "".join(f"{name:>10}" for name in names) + ("       gap" if len(names) == 2 else ""))
    for title, key, fmt, points in (("turns", "turns", "{:.0f}", False), ("accuracy", "accuracy", "{:.1%}", True),
                                    ("complex→simple", "complex_to_simple", "{:.0f}", False),
                                    ("  of complex turns", "complex_to_simple_share", "{:.1%}", True),
                                    ("µs per decision", "us_per_decision", "{:.1f}", False)):
        cells = "".join(f"{fmt.format(figures[name][key]):>10}" for name in names)
        gap = f"{(figures[names[1]][key] - figures[names[0]][key]) * 100:+.1f} pt" if points and len(names) == 2 else ""
        print(f"{title:<22}{cells}{gap:>10}")
    if not HELDOUT.is_file():
        print(f"(no held-out split at {HELDOUT.relative_to(ROOT)})")
    print("targets on held-out: accuracy ≥ 95%, complex→simple ≤ 2% of complex turns, ≤ 50 µs per decision")
    if args.errors:
        for row, decision in figures["dev"]["wrong"]:
            text = row["messages"][-1]["content"].replace("\n", " ")[:110]
            print(f"  {row['id']} want {row['label']:<7} got {decision.label:<7} ({decision.reason}) "
                  f"[{row.get('category', '')}] {text}")


if __name__ == "__main__":
    main()
